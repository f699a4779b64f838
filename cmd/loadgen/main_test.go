package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/authwatch/authwatch/internal/testenv"
)

// startStream starts NATS with AUTH_EVENTS as the services create it
// (SPEC §1); loadgen, like a gateway, does not create streams.
func startStream(t *testing.T) (*testenv.NATS, jetstream.Stream) {
	t.Helper()
	srv := testenv.StartNATS(t)
	nc, err := nats.Connect(srv.URL())
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatalf("jetstream: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:       "AUTH_EVENTS",
		Subjects:   []string{"auth.events.>"},
		Storage:    jetstream.FileStorage,
		Duplicates: 2 * time.Minute,
		MaxMsgSize: 1 << 20,
	})
	if err != nil {
		t.Fatalf("create stream: %v", err)
	}
	return srv, s
}

func streamMsgs(t *testing.T, s jetstream.Stream) uint64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatalf("stream info: %v", err)
	}
	return info.State.Msgs
}

func runLoadgen(t *testing.T, env map[string]string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var out, errOut bytes.Buffer
	err = run(ctx, args, func(k string) string { return env[k] }, &out, &errOut)
	return out.String(), errOut.String(), err
}

func summaryValue(t *testing.T, summary, name string) string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + `\s+(\S+)$`).FindStringSubmatch(summary)
	if m == nil {
		t.Fatalf("summary has no %q line:\n%s", name, summary)
	}
	return m[1]
}

func TestRunPublishesEveryEvent(t *testing.T) {
	srv, s := startStream(t)
	// The URL comes from the environment, as in production.
	stdout, stderr, err := runLoadgen(t, map[string]string{"NATS_URL": srv.URL()},
		"-n", "2000", "-rate", "0", "-seed", "1", "-attacks", "bruteforce,spray,travel,newdevice,leakedtoken", "-quiet")
	if err != nil {
		t.Fatalf("run: %v\nstderr:\n%s", err, stderr)
	}
	if n := streamMsgs(t, s); n != 2000 {
		t.Errorf("stream holds %d messages, want 2000", n)
	}
	for name, want := range map[string]string{"sent": "2000", "published": "2000", "dropped": "0", "failed": "0"} {
		if got := summaryValue(t, stdout, name); got != want {
			t.Errorf("summary %s = %s, want %s\n%s", name, got, want, stdout)
		}
	}
	if strings.Contains(stderr, "\r") {
		t.Errorf("-quiet run wrote a progress line:\n%q", stderr)
	}
}

func TestRunKeepsToTheRate(t *testing.T) {
	srv, s := startStream(t)
	start := time.Now()
	stdout, stderr, err := runLoadgen(t, nil, "-nats", srv.URL(), "-n", "300", "-rate", "1000", "-quiet")
	if err != nil {
		t.Fatalf("run: %v\nstderr:\n%s", err, stderr)
	}
	// 300 events at 1000/s take at least 0.299 s; faster means no pacing.
	if d := time.Since(start); d < 290*time.Millisecond {
		t.Errorf("300 events at 1000/s took %v", d)
	}
	if n := streamMsgs(t, s); n != 300 {
		t.Errorf("stream holds %d messages, want 300", n)
	}
	if got := summaryValue(t, stdout, "published"); got != "300" {
		t.Errorf("published %s, want 300", got)
	}
}

func TestRunStopsOnDurationAndPrintsProgress(t *testing.T) {
	srv, s := startStream(t)
	stdout, stderr, err := runLoadgen(t, nil, "-nats", srv.URL(), "-duration", "300ms", "-rate", "200")
	if err != nil {
		t.Fatalf("run: %v\nstderr:\n%s", err, stderr)
	}
	sent := summaryValue(t, stdout, "sent")
	if sent == "0" {
		t.Fatalf("nothing sent in 300ms at 200/s:\n%s", stdout)
	}
	if got := summaryValue(t, stdout, "published"); got != sent {
		t.Errorf("published %s of %s sent", got, sent)
	}
	if n := streamMsgs(t, s); n == 0 {
		t.Error("stream is empty")
	}
	// stderr is not a terminal here: no carriage-return rewriting.
	if strings.Contains(stderr, "\r") {
		t.Errorf("progress rewrote a line on a non-terminal:\n%q", stderr)
	}
}

func TestRunStopsWhenCancelled(t *testing.T) {
	srv, s := startStream(t)
	ctx, cancel := context.WithCancel(context.Background())
	var out, errOut bytes.Buffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-nats", srv.URL(), "-rate", "500", "-quiet"}, func(string) string { return "" }, &out, &errOut)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for streamMsgs(t, s) < 50 {
		if time.Now().After(deadline) {
			t.Fatal("no traffic within 10s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run after cancel: %v\n%s", err, errOut.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("run did not stop after cancel")
	}
	// What was accepted before the stop was flushed, not lost.
	if got, want := summaryValue(t, out.String(), "published"), summaryValue(t, out.String(), "sent"); got != want {
		t.Errorf("published %s of %s sent", got, want)
	}
}

func TestRunRejectsBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-attacks", "ddos"},
		{"-rate", "-1"},
		{"-token-share", "2"},
		{"-tenants", "0"},
		{"extra"},
	} {
		if _, _, err := runLoadgen(t, nil, args...); err == nil {
			t.Errorf("%v: no error", args)
		}
	}
	if _, _, err := runLoadgen(t, nil, "-h"); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("-h: %v, want flag.ErrHelp", err)
	}
}

func TestRunFailsWithoutNATS(t *testing.T) {
	_, _, err := runLoadgen(t, nil, "-nats", "nats://127.0.0.1:1", "-n", "1")
	if err == nil || !strings.Contains(err.Error(), "connect") {
		t.Errorf("run without a server: %v, want a connect error", err)
	}
}
