package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// What the workers of every service (ingest, detector, notifier) share:
// filing dead letters, waiting for JetStream's acks, retrying a step while
// keeping its messages from redelivery, and reporting consumer lag.

// DeadLetter is a message a consumer cannot use.
type DeadLetter struct {
	Subject string // where it came from
	Seq     uint64 // its stream sequence
	Data    []byte // the payload, byte for byte
	Code    string // the metric label (a reason code)
	Reason  string // for a person
}

// NewDeadLetter files m under code with err as the reason.
func NewDeadLetter(m jetstream.Msg, seq uint64, code string, err error) DeadLetter {
	return DeadLetter{Subject: m.Subject(), Seq: seq, Data: m.Data(), Code: code, Reason: OneLine(err.Error())}
}

// PublishDead publishes the dead letters of consumer to AUTH_DLQ and waits
// until JetStream stored them all; only then may their originals be acked.
func PublishDead(ctx context.Context, js jetstream.JetStream, consumer string, dead []DeadLetter) error {
	futures := make([]jetstream.PubAckFuture, 0, len(dead))
	for _, d := range dead {
		f, err := js.PublishMsgAsync(DLQMessage(consumer, d.Subject, d.Seq, d.Data, d.Reason))
		if err != nil {
			return err
		}
		futures = append(futures, f)
	}
	if err := WaitAcks(ctx, futures); err != nil {
		return fmt.Errorf("dlq: %w", err)
	}
	return nil
}

// WaitAcks waits for every publish to be acknowledged, 10 s at most.
func WaitAcks(ctx context.Context, futures []jetstream.PubAckFuture) error {
	timeout := time.After(10 * time.Second)
	for _, f := range futures {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			return err
		case <-timeout:
			return errors.New("no ack from JetStream within 10s")
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// Retrier repeats a step until it passes, keeping its messages from being
// redelivered meanwhile (InProgress every 10 s).
type Retrier struct {
	Log  *slog.Logger
	Msgs []jetstream.Msg
}

// Do reports false when ctx ended first: the messages are then left
// unacknowledged, and JetStream redelivers them.
func (r Retrier) Do(ctx context.Context, what string, f func() error) bool {
	wait := 100 * time.Millisecond
	keepAlive := time.Now()
	for {
		err := f()
		if err == nil {
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		r.Log.Warn("retrying", "what", what, "err", err, "in", wait, "messages", len(r.Msgs))
		select {
		case <-ctx.Done():
			return false
		case <-time.After(wait):
		}
		wait = min(wait*2, 5*time.Second)
		if time.Since(keepAlive) > 10*time.Second {
			for _, m := range r.Msgs {
				_ = m.InProgress()
			}
			keepAlive = time.Now()
		}
	}
}

// WatchLag calls set with each consumer's unacknowledged messages (pending
// plus in flight) every period until ctx ends.
func WatchLag(ctx context.Context, every time.Duration, cons []jetstream.Consumer, set []func(float64)) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		ictx, cancel := context.WithTimeout(ctx, 2*time.Second)
		for i, c := range cons {
			if info, err := c.Info(ictx); err == nil {
				set[i](float64(info.NumPending + uint64(info.NumAckPending)))
			}
		}
		cancel()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// OneLine keeps a reason fit for a header: one line, at most 400 bytes.
func OneLine(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c == '\n' || c == '\r' {
			b[i] = ' '
		}
	}
	if len(b) > 400 {
		b = append(b[:400], "..."...)
	}
	return string(b)
}
