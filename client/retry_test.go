package client

import (
	"container/heap"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

func TestRetryDelayGrowsAndIsCapped(t *testing.T) {
	for _, tt := range []struct {
		attempts int
		base     time.Duration
	}{
		{1, 100 * time.Millisecond},
		{2, 200 * time.Millisecond},
		{3, 400 * time.Millisecond},
		{6, 3200 * time.Millisecond},
		{7, maxRetryDelay},
		{1000, maxRetryDelay},
	} {
		for range 100 {
			d := retryDelay(tt.attempts)
			if lo, hi := tt.base-tt.base/10, tt.base+tt.base/10; d < lo || d > hi {
				t.Fatalf("retryDelay(%d) = %v, want within 10%% of %v", tt.attempts, d, tt.base)
			}
		}
	}
}

func TestRetryable(t *testing.T) {
	for _, tt := range []struct {
		err  error
		want bool
	}{
		{jetstream.ErrAsyncPublishTimeout, true},
		{nats.ErrDisconnected, true},
		{jetstream.ErrNoStreamResponse, true},
		{nats.ErrConnectionClosed, true}, // the owner may not have meant it; Close decides
		{context.DeadlineExceeded, true},
		{&jetstream.APIError{Code: 503, Description: "insufficient resources"}, true},
		{&jetstream.APIError{Code: 400, ErrorCode: 10054, Description: "message size exceeds maximum allowed"}, false},
		{fmt.Errorf("wrapped: %w", &jetstream.APIError{Code: 400}), false},
		{nats.ErrMaxPayload, false},
	} {
		if got := retryable(tt.err); got != tt.want {
			t.Errorf("retryable(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}

func TestRetryQueueIsOrderedByDueTime(t *testing.T) {
	now := time.Now()
	var q retryQueue
	for _, s := range []int{5, 1, 4, 2, 3} {
		heap.Push(&q, &outgoing{id: fmt.Sprint(s), due: now.Add(time.Duration(s) * time.Second)})
	}
	for want := 1; want <= 5; want++ {
		if got := heap.Pop(&q).(*outgoing).id; got != fmt.Sprint(want) {
			t.Fatalf("popped %s, want %d", got, want)
		}
	}
}
