package client_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/authwatch/authwatch/client"
	"github.com/authwatch/authwatch/event"
	"github.com/authwatch/authwatch/internal/testenv"
)

// BenchmarkPublish measures the path a gateway pays per login: validate and
// enqueue, with NATS connected and the worker publishing behind it. When
// the worker falls behind, the benchmark waits for it with the timer
// stopped, so every measured call takes the enqueue path, not the drop
// path. It reports the p50, p99 and p999 of single calls (timing each call
// adds two clock reads to ns/op).
//
// B/op and allocs/op count every allocation in the process, the worker's
// and the embedded server's included; TestPublishDoesNotAllocate checks
// the enqueue path alone.
func BenchmarkPublish(b *testing.B) {
	_, nc, js := setup(b)
	createStream(b, js, 0)
	p := newPublisher(b, nc)
	evs := benchEvents()
	lat := make([]time.Duration, 0, 1<<20)

	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if i%1024 == 0 && p.Stats().Buffered > client.DefaultBufferSize/2 {
			b.StopTimer()
			for p.Stats().Buffered > client.DefaultBufferSize/8 {
				time.Sleep(100 * time.Microsecond)
			}
			b.StartTimer()
		}
		start := time.Now()
		_ = p.Publish(evs[i%len(evs)])
		if len(lat) < cap(lat) {
			lat = append(lat, time.Since(start))
		}
	}
	b.StopTimer()
	slices.Sort(lat)
	pct := func(q float64) float64 { return float64(lat[int(q*float64(len(lat)-1))].Nanoseconds()) }
	b.ReportMetric(pct(0.50), "p50-ns")
	b.ReportMetric(pct(0.99), "p99-ns")
	b.ReportMetric(pct(0.999), "p999-ns")
	b.ReportMetric(float64(p.Stats().Dropped)/float64(b.N), "dropped/op")
}

// BenchmarkPublishParallel calls Publish from many goroutines as fast as
// they can, as the request handlers of a gateway under a flood would. The
// worker cannot keep up with that, so most calls take the drop path
// (dropped/op says how many): this measures contention, and that Publish
// stays cheap when it refuses.
func BenchmarkPublishParallel(b *testing.B) {
	_, nc, js := setup(b)
	createStream(b, js, 0)
	p := newPublisher(b, nc)
	evs := benchEvents()

	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		ev := *evs[0]
		for i := 0; pb.Next(); i++ {
			ev.ID = evs[i%len(evs)].ID
			_ = p.Publish(&ev)
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(p.Stats().Dropped)/float64(b.N), "dropped/op")
}

// TestPublishDoesNotAllocate checks that enqueueing costs no allocation.
// The server is stopped and the connection does not try to reconnect
// meanwhile, so nothing else in the process allocates while it counts.
func TestPublishDoesNotAllocate(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a NATS server")
	}
	srv := testenv.StartNATS(t)
	nc, err := nats.Connect(srv.URL(), nats.MaxReconnects(-1), nats.ReconnectWait(time.Hour))
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer nc.Close()
	p := newPublisher(t, nc)
	srv.Stop()
	waitFor(t, 5*time.Second, "the client to see the disconnect", func() bool { return !nc.IsConnected() })

	ev := benchEvents()[0]
	var failed error
	allocs := testing.AllocsPerRun(1000, func() {
		if err := p.Publish(ev); err != nil {
			failed = err
		}
	})
	if failed != nil {
		t.Fatalf("publish: %v", failed)
	}
	if allocs != 0 {
		t.Errorf("Publish allocates %.1f times per call, want 0", allocs)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	_ = p.Close(ctx)
}

func benchEvents() []*event.Event {
	evs := make([]*event.Event, 4096)
	run := time.Now().UnixNano()
	for i := range evs {
		ev := loginEvent(i)
		ev.ID = fmt.Sprintf("bench-%d-%06d", run, i)
		ev.User = &event.UserProfile{Name: "Ada Lovelace", Email: "ada@acme.example"}
		ev.Metadata = map[string]string{"client": "web"}
		evs[i] = ev
	}
	return evs
}
