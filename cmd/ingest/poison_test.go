package main

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/authwatch/authwatch/event"
	"github.com/authwatch/authwatch/internal/bus"
	"github.com/authwatch/authwatch/internal/testenv"
)

// Every payload of the poison corpus lands in AUTH_DLQ byte for byte with
// a reason, the stream keeps flowing around them, and ingest does not crash.
func TestPoisonCorpusGoesToDLQ(t *testing.T) {
	s := startStack(t, nil)
	s.run(t)
	corpus := testenv.PoisonCorpus(t)
	at := time.Now().UTC()
	s.publishEvent(t, loginEvent("acme", "before", "u1", event.StatusSuccess, "81.2.69.1", at))
	for _, p := range corpus {
		s.publish(t, p.Subject, p.Payload)
	}
	s.publishEvent(t, loginEvent("acme", "after", "u1", event.StatusSuccess, "81.2.69.1", at))

	testenv.Eventually(t, 30*time.Second, "the good events around the poison stored", func() bool {
		return s.counts(t, "acme").Logins == 2
	})
	ctx := context.Background()
	dlq, err := s.js.Stream(ctx, bus.DLQStream)
	if err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 30*time.Second, "a dead letter for each", func() bool {
		i, err := dlq.Info(ctx)
		return err == nil && i.State.Msgs == uint64(len(corpus))
	})
	for i, p := range corpus {
		m, err := dlq.GetMsg(ctx, uint64(i+1))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(m.Data, p.Payload) || m.Subject != "auth.dlq.ingest" || m.Header.Get(bus.HeaderSubject) != p.Subject {
			t.Errorf("%s: dead letter on %s for %s, payload kept: %v", p.Name, m.Subject, m.Header.Get(bus.HeaderSubject), bytes.Equal(m.Data, p.Payload))
		}
		if m.Header.Get(bus.HeaderReason) == "" {
			t.Errorf("%s: no reason", p.Name)
		}
	}
	if !s.ready() {
		t.Error("ingest is not ready after the poison")
	}
}
