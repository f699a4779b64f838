package main

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/authwatch/authwatch/event"
	"github.com/authwatch/authwatch/internal/bus"
	"github.com/authwatch/authwatch/internal/testenv"
)

// The detector files every payload of the poison corpus in AUTH_DLQ on
// auth.dlq.detector, byte for byte with a reason, and goes on detecting.
func TestPoisonCorpusGoesToDLQ(t *testing.T) {
	s := startStack(t, nil)
	s.run(t)
	ctx := context.Background()
	corpus := testenv.PoisonCorpus(t)
	now := time.Now().UTC().Truncate(time.Second)
	for _, p := range corpus {
		if _, err := s.js.Publish(ctx, p.Subject, p.Payload); err != nil {
			t.Fatalf("%s: %v", p.Name, err)
		}
	}
	// Still detecting after all that: a lockout.
	var fifth string
	for i := range 5 {
		fifth = s.login(t, "hal", event.StatusFailed, tokyo, chromeWindows, now.Add(-time.Minute+time.Duration(i)*time.Second))
	}
	s.drained(t)
	if got := s.fired(t); len(got) != 1 || got[0] != "ip_lockout "+fifth {
		t.Errorf("alerts after the poison: %v", got)
	}
	dlq, err := s.js.Stream(ctx, bus.DLQStream)
	if err != nil {
		t.Fatal(err)
	}
	c, err := dlq.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{FilterSubjects: []string{"auth.dlq.detector"}})
	if err != nil {
		t.Fatal(err)
	}
	batch, err := c.Fetch(len(corpus)+1, jetstream.FetchMaxWait(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	var got [][]byte
	for m := range batch.Messages() {
		if m.Headers().Get(bus.HeaderReason) == "" {
			t.Errorf("dead letter without a reason: %.60q", m.Data())
		}
		got = append(got, m.Data())
	}
	if len(got) != len(corpus) {
		t.Fatalf("%d dead letters from the detector, want %d", len(got), len(corpus))
	}
	for i, p := range corpus {
		if !bytes.Equal(got[i], p.Payload) {
			t.Errorf("%s: dead letter payload differs", p.Name)
		}
	}
}
