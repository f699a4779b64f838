package client

import (
	"errors"
	"math/rand/v2"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Re-send delays: short at first, since most failures are one lost ack or a
// reconnect that completes at once; capped so that an event still reaches a
// recovered server within seconds.
const (
	minRetryDelay = 100 * time.Millisecond
	maxRetryDelay = 5 * time.Second
)

// outgoing is one event on its way to JetStream: marshalled once, re-sent
// as is (same subject, same Nats-Msg-Id) until acknowledged.
type outgoing struct {
	id       string
	subject  string
	header   nats.Header
	data     []byte
	attempts int       // sends so far; guarded by Publisher.mu once sent
	due      time.Time // earliest re-send; guarded by Publisher.mu
}

// retryDelay is the wait before the next send of an event sent attempts
// times: exponential, capped, with jitter so that a burst of events failed
// together by a disconnect does not come back as one burst.
func retryDelay(attempts int) time.Duration {
	d := minRetryDelay
	for i := 1; i < attempts && d < maxRetryDelay; i++ {
		d *= 2
	}
	d = min(d, maxRetryDelay)
	jitter := time.Duration(rand.Int64N(int64(d) / 5))
	return d - d/10 + jitter
}

// retryable reports whether sending the same message again may succeed.
// JetStream's own rejections of the message (too large, for instance) will
// not change; timeouts, disconnects, a missing stream (no responders) and a
// server out of resources (5xx) may.
func retryable(err error) bool {
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) {
		return apiErr.Code >= 500
	}
	switch {
	case errors.Is(err, nats.ErrMaxPayload),
		errors.Is(err, nats.ErrBadSubject),
		errors.Is(err, nats.ErrInvalidMsg):
		return false
	}
	return true
}

// retryQueue is a min-heap of events by due time (container/heap).
type retryQueue []*outgoing

func (q retryQueue) Len() int           { return len(q) }
func (q retryQueue) Less(i, j int) bool { return q[i].due.Before(q[j].due) }
func (q retryQueue) Swap(i, j int)      { q[i], q[j] = q[j], q[i] }
func (q *retryQueue) Push(x any)        { *q = append(*q, x.(*outgoing)) }
func (q *retryQueue) Pop() any {
	old := *q
	n := len(old)
	o := old[n-1]
	old[n-1] = nil
	*q = old[:n-1]
	return o
}
