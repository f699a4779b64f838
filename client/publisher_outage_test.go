package client_test

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/authwatch/authwatch/client"
)

// These tests take NATS away in the ways a gateway meets in production and
// check the Publisher's promises: memory bounded by the buffer, every
// accepted event stored once when NATS comes back, every refused event
// counted.

// Acks that never come (a server that takes the messages and never
// answers) hold at most the buffer; what does not fit is dropped and
// counted, and what was held is stored once when acks flow again.
func TestMemoryStaysBoundedWhenAcksNeverCome(t *testing.T) {
	_, nc, js := setup(t)
	// No stream, but a subscriber that swallows every event: JetStream's
	// "no responders" answer does not come either, so each send waits out
	// its ack timeout.
	silent, err := nc.Subscribe("auth.events.>", func(*nats.Msg) {})
	if err != nil {
		t.Fatal(err)
	}
	const buffer = 1000
	p := newPublisher(t, nc,
		client.WithBufferSize(buffer),
		client.WithMaxInFlight(100),
		client.WithAckTimeout(100*time.Millisecond),
	)

	// Events of ~2 KiB each: 100,000 of them would be ~200 MiB if kept.
	ev := loginEvent(0)
	heapBefore := heapInUse()
	const attempts = 100_000
	var accepted, refused int
	maxHeld := int64(0)
	for i := range attempts {
		ev.ID = fmt.Sprintf("silent-%06d", i)
		ev.Metadata = map[string]string{"pad": strings.Repeat("x", 2000)}
		switch err := p.Publish(ev); {
		case err == nil:
			accepted++
		case errors.Is(err, client.ErrBufferFull):
			refused++
		default:
			t.Fatalf("publish: %v", err)
		}
		if i%1000 == 0 {
			st := p.Stats()
			maxHeld = max(maxHeld, st.Buffered+st.InFlight)
			if st.InFlight > 100 {
				t.Fatalf("%d in flight, over the bound of 100", st.InFlight)
			}
		}
	}
	heapAfter := heapInUse()
	st := p.Stats()
	t.Logf("accepted %d, refused %d, held at most %d, heap %d MiB → %d MiB, stats %+v",
		accepted, refused, maxHeld, heapBefore>>20, heapAfter>>20, st)
	if maxHeld > buffer {
		t.Errorf("held %d events, over the buffer of %d", maxHeld, buffer)
	}
	if st.Enqueued != uint64(accepted) || st.Dropped != uint64(refused) || accepted+refused != attempts {
		t.Errorf("stats %+v do not add up to %d accepted and %d refused", st, accepted, refused)
	}
	if accepted != buffer {
		// Nothing is acknowledged, so nothing ever leaves the buffer.
		t.Errorf("accepted %d events while none was acknowledged, want the buffer's %d", accepted, buffer)
	}
	if grew := int64(heapAfter) - int64(heapBefore); grew > 32<<20 {
		t.Errorf("heap grew by %d MiB while acks never came, want well under 32 MiB", grew>>20)
	}

	// Acks flow again: every accepted event is stored, once.
	if err := silent.Unsubscribe(); err != nil {
		t.Fatal(err)
	}
	s := createStream(t, js, 0)
	if err := closeWithin(t, p, 30*time.Second); err != nil {
		t.Fatalf("close: %v", err)
	}
	msgs := readStream(t, s)
	ids := map[string]bool{}
	for _, m := range msgs {
		ids[m.msgID] = true
	}
	if len(msgs) != accepted || len(ids) != accepted {
		t.Errorf("stream holds %d messages, %d distinct, want %d", len(msgs), len(ids), accepted)
	}
}

func heapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// A restart that outlasts the buffer: the events that did not fit are
// refused at once, counted and reported; the others are stored once.
func TestRestartWithAFullBufferReportsDrops(t *testing.T) {
	srv, nc, js := setup(t)
	s := createStream(t, js, 0)
	var reported atomic.Int64
	const buffer = 200
	p := newPublisher(t, nc,
		client.WithBufferSize(buffer),
		client.WithOnDrop(func(id string, err error) {
			if errors.Is(err, client.ErrBufferFull) {
				reported.Add(1)
			}
		}),
	)
	next, refused := 0, 0
	publish := func(n int) {
		t.Helper()
		for range n {
			switch err := p.Publish(loginEvent(next)); {
			case err == nil:
			case errors.Is(err, client.ErrBufferFull):
				refused++
			default:
				t.Fatalf("publish %d: %v", next, err)
			}
			next++
		}
	}

	publish(100)
	waitFor(t, 20*time.Second, "the first events stored", func() bool { return p.Stats().Published == 100 })
	srv.Stop()
	waitFor(t, 5*time.Second, "the client to see the disconnect", func() bool { return !nc.IsConnected() })
	publish(1000) // 200 fit, 800 are refused
	if refused != 1000-buffer {
		t.Errorf("refused %d while the server was down, want %d", refused, 1000-buffer)
	}
	srv.Start()
	waitFor(t, 20*time.Second, "the buffered events stored", func() bool { return p.Stats().Published == 100+buffer })
	publish(100)
	if err := closeWithin(t, p, 20*time.Second); err != nil {
		t.Fatalf("close: %v", err)
	}

	st := p.Stats()
	want := uint64(100 + buffer + 100)
	if st.Enqueued != want || st.Published != want || st.Dropped != uint64(refused) || st.Failed != 0 {
		t.Errorf("stats %+v, want %d enqueued and published, %d dropped", st, want, refused)
	}
	if reported.Load() != int64(refused) {
		t.Errorf("OnDrop reported %d drops, want %d", reported.Load(), refused)
	}
	msgs := readStream(t, s)
	ids := map[string]bool{}
	for _, m := range msgs {
		ids[m.msgID] = true
	}
	if uint64(len(msgs)) != want || uint64(len(ids)) != want {
		t.Errorf("stream holds %d messages, %d distinct, want %d", len(msgs), len(ids), want)
	}
}

// An ack that comes after the ack timeout makes the Publisher send the
// event again, with the same Nats-Msg-Id: JetStream answers "duplicate"
// and keeps one copy.
func TestLateAcksAreResentAndStoredOnce(t *testing.T) {
	_, nc, js := setup(t)
	s := createStream(t, js, 0)
	// An ack timeout shorter than the round trip under this load: many
	// acks come too late.
	p := newPublisher(t, nc, client.WithAckTimeout(time.Millisecond), client.WithMaxInFlight(512))
	const n = 3000
	for i := range n {
		if err := p.Publish(loginEvent(i)); err != nil {
			t.Fatalf("publish %d: %v", i, err)
		}
	}
	if err := closeWithin(t, p, 60*time.Second); err != nil {
		t.Fatalf("close: %v", err)
	}
	st := p.Stats()
	t.Logf("stats %+v", st)
	if st.Retried == 0 {
		t.Skip("no ack came late on this run; nothing to check")
	}
	if st.Published != n || st.Failed != 0 {
		t.Errorf("stats %+v, want %d published", st, n)
	}
	msgs := readStream(t, s)
	ids := map[string]bool{}
	for _, m := range msgs {
		ids[m.msgID] = true
	}
	if len(msgs) != n || len(ids) != n {
		t.Errorf("stream holds %d messages, %d distinct, want %d of each", len(msgs), len(ids), n)
	}
}
