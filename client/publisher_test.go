package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/authwatch/authwatch/client"
	"github.com/authwatch/authwatch/event"
	"github.com/authwatch/authwatch/internal/testenv"
)

const streamName = "AUTH_EVENTS"

// setup starts a NATS server and connects to it the way a gateway should:
// reconnecting forever, and quickly so the tests do not wait long.
func setup(t testing.TB) (*testenv.NATS, *nats.Conn, jetstream.JetStream) {
	t.Helper()
	srv := testenv.StartNATS(t)
	nc, err := nats.Connect(srv.URL(),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(20*time.Millisecond),
		nats.ReconnectJitter(0, 0),
	)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatalf("jetstream: %v", err)
	}
	return srv, nc, js
}

// createStream creates AUTH_EVENTS as the services do (SPEC §1);
// maxMsgSize 0 means the production 1 MiB.
func createStream(t testing.TB, js jetstream.JetStream, maxMsgSize int32) jetstream.Stream {
	t.Helper()
	if maxMsgSize == 0 {
		maxMsgSize = 1 << 20
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:       streamName,
		Subjects:   []string{"auth.events.>"},
		Storage:    jetstream.FileStorage,
		Duplicates: 2 * time.Minute,
		MaxMsgSize: maxMsgSize,
	})
	if err != nil {
		t.Fatalf("create stream: %v", err)
	}
	return s
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func newPublisher(t testing.TB, nc *nats.Conn, opts ...client.Option) *client.Publisher {
	t.Helper()
	p, err := client.NewPublisher(nc, append([]client.Option{client.WithLogger(quietLogger())}, opts...)...)
	if err != nil {
		t.Fatalf("new publisher: %v", err)
	}
	// Close is part of most tests; this only makes sure the worker stops.
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		_ = p.Close(ctx)
	})
	return p
}

func loginEvent(i int) *event.Event {
	return &event.Event{
		ID:         fmt.Sprintf("evt-%06d", i),
		Kind:       event.KindLogin,
		TenantID:   "acme",
		UserID:     fmt.Sprintf("usr_%d", i%50),
		OccurredAt: time.Now().UTC().Truncate(time.Millisecond),
		IPAddress:  "81.2.69.10",
		UserAgent:  "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
		Status:     event.StatusSuccess,
	}
}

func tokenEvent(i int) *event.Event {
	return &event.Event{
		ID:          fmt.Sprintf("tok-evt-%06d", i),
		Kind:        event.KindToken,
		TenantID:    "globex",
		UserID:      "usr_7",
		OccurredAt:  time.Now().UTC().Truncate(time.Millisecond),
		IPAddress:   "2001:db8::1",
		UserAgent:   "curl/8.5.0",
		TokenID:     "tok_abc",
		TokenType:   event.TokenSecret,
		Environment: event.EnvLive,
		Action:      event.TokenAuthenticated,
	}
}

func closeWithin(t testing.TB, p *client.Publisher, d time.Duration) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	return p.Close(ctx)
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

type storedMsg struct {
	subject string
	msgID   string
	ev      event.Event
}

// readStream returns every message of the stream, in order.
func readStream(t testing.TB, s jetstream.Stream) []storedMsg {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatalf("stream info: %v", err)
	}
	var out []storedMsg
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if err != nil {
			t.Fatalf("get msg %d: %v", seq, err)
		}
		var ev event.Event
		if err := json.Unmarshal(m.Data, &ev); err != nil {
			t.Fatalf("msg %d is not an event: %v", seq, err)
		}
		out = append(out, storedMsg{subject: m.Subject, msgID: m.Header.Get(jetstream.MsgIDHeader), ev: ev})
	}
	return out
}

func streamMsgs(t testing.TB, s jetstream.Stream) uint64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatalf("stream info: %v", err)
	}
	return info.State.Msgs
}

func TestPublishArrivesWithSubjectAndMsgID(t *testing.T) {
	_, nc, js := setup(t)
	s := createStream(t, js, 0)
	p := newPublisher(t, nc)

	sent := []*event.Event{loginEvent(1), tokenEvent(2), loginEvent(3)}
	for _, ev := range sent {
		if err := p.Publish(ev); err != nil {
			t.Fatalf("publish %s: %v", ev.ID, err)
		}
	}
	if err := closeWithin(t, p, 10*time.Second); err != nil {
		t.Fatalf("close: %v", err)
	}

	got := readStream(t, s)
	if len(got) != len(sent) {
		t.Fatalf("stream holds %d messages, want %d", len(got), len(sent))
	}
	byID := map[string]storedMsg{}
	for _, m := range got {
		byID[m.msgID] = m
	}
	for _, ev := range sent {
		m, ok := byID[ev.ID]
		if !ok {
			t.Errorf("no message with Nats-Msg-Id %q", ev.ID)
			continue
		}
		if want := event.Subject(ev.TenantID, ev.Kind); m.subject != want {
			t.Errorf("%s: subject %q, want %q", ev.ID, m.subject, want)
		}
		if m.ev.ID != ev.ID || m.ev.Kind != ev.Kind || !m.ev.OccurredAt.Equal(ev.OccurredAt) || m.ev.IPAddress != ev.IPAddress {
			t.Errorf("%s: body %+v does not match %+v", ev.ID, m.ev, *ev)
		}
	}
	st := p.Stats()
	if st.Enqueued != 3 || st.Published != 3 || st.InFlight != 0 || st.Buffered != 0 || st.Dropped != 0 {
		t.Errorf("stats %+v, want 3 enqueued and published, nothing pending", st)
	}
}

func TestPublishCopiesTheEvent(t *testing.T) {
	_, nc, js := setup(t)
	s := createStream(t, js, 0)
	p := newPublisher(t, nc)

	// A gateway reusing one Event value for every request.
	ev := loginEvent(1)
	for i := range 100 {
		ev.ID = fmt.Sprintf("reuse-%03d", i)
		if err := p.Publish(ev); err != nil {
			t.Fatalf("publish: %v", err)
		}
	}
	if err := closeWithin(t, p, 10*time.Second); err != nil {
		t.Fatalf("close: %v", err)
	}
	for _, m := range readStream(t, s) {
		if m.ev.ID != m.msgID {
			t.Fatalf("body id %q under Nats-Msg-Id %q", m.ev.ID, m.msgID)
		}
	}
	if n := streamMsgs(t, s); n != 100 {
		t.Fatalf("stream holds %d messages, want 100", n)
	}
}

func TestPublishInvalidEvent(t *testing.T) {
	_, nc, js := setup(t)
	s := createStream(t, js, 0)
	p := newPublisher(t, nc)

	bad := loginEvent(1)
	bad.ID = "not valid!"
	want := bad.Validate()
	if want == nil {
		t.Fatal("test event unexpectedly valid")
	}
	err := p.Publish(bad)
	if err == nil || err.Error() != want.Error() {
		t.Fatalf("publish: %v, want the validation error %v", err, want)
	}
	if err := closeWithin(t, p, 10*time.Second); err != nil {
		t.Fatalf("close: %v", err)
	}
	if st := p.Stats(); st.Enqueued != 0 || st.Published != 0 || st.Dropped != 0 {
		t.Errorf("stats %+v, want nothing counted", st)
	}
	if n := streamMsgs(t, s); n != 0 {
		t.Errorf("stream holds %d messages, want 0", n)
	}
}

func TestPublishDropsWhenBufferFullWithoutBlocking(t *testing.T) {
	srv, nc, js := setup(t)
	s := createStream(t, js, 0)
	var onDrop atomic.Int64
	const buffer = 10
	p := newPublisher(t, nc,
		client.WithBufferSize(buffer),
		client.WithOnDrop(func(id string, err error) {
			if errors.Is(err, client.ErrBufferFull) {
				onDrop.Add(1)
			}
		}),
	)

	srv.Stop()
	waitFor(t, 5*time.Second, "the client to see the disconnect", func() bool { return !nc.IsConnected() })

	const total = 25
	start := time.Now()
	var accepted, full int
	for i := range total {
		switch err := p.Publish(loginEvent(i)); {
		case err == nil:
			accepted++
		case errors.Is(err, client.ErrBufferFull):
			full++
		default:
			t.Fatalf("publish %d: %v", i, err)
		}
	}
	// Generous for -race on a busy machine; blocking would mean seconds.
	if d := time.Since(start); d > 500*time.Millisecond {
		t.Errorf("%d publishes took %v with the server down", total, d)
	}
	if accepted != buffer || full != total-buffer {
		t.Errorf("accepted %d, refused %d; want %d and %d", accepted, full, buffer, total-buffer)
	}
	st := p.Stats()
	if st.Dropped != total-buffer || st.Buffered != buffer || st.Enqueued != buffer {
		t.Errorf("stats %+v, want %d dropped, %d buffered", st, total-buffer, buffer)
	}
	if n := onDrop.Load(); n != total-buffer {
		t.Errorf("OnDrop called %d times, want %d", n, total-buffer)
	}

	// Close while the server is away gives up and says how many were lost.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err := p.Close(ctx)
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("%d events not confirmed", buffer)) {
		t.Fatalf("close with the server down: %v, want %d events not confirmed", err, buffer)
	}
	if err := p.Publish(loginEvent(99)); !errors.Is(err, client.ErrClosed) {
		t.Errorf("publish after close: %v, want ErrClosed", err)
	}

	srv.Start()
	waitFor(t, 5*time.Second, "reconnect", nc.IsConnected)
	if n := streamMsgs(t, s); n != 0 {
		t.Errorf("stream holds %d messages after an abandoned close, want 0", n)
	}
}

func TestBufferedEventsAreSentAfterReconnect(t *testing.T) {
	srv, nc, js := setup(t)
	s := createStream(t, js, 0)
	p := newPublisher(t, nc, client.WithBufferSize(10))

	srv.Stop()
	waitFor(t, 5*time.Second, "the client to see the disconnect", func() bool { return !nc.IsConnected() })
	for i := range 10 {
		if err := p.Publish(loginEvent(i)); err != nil {
			t.Fatalf("publish %d: %v", i, err)
		}
	}
	srv.Start()
	if err := closeWithin(t, p, 20*time.Second); err != nil {
		t.Fatalf("close: %v", err)
	}
	if n := streamMsgs(t, s); n != 10 {
		t.Fatalf("stream holds %d messages, want 10", n)
	}
}

func TestServerRestartWhilePublishingKeepsEveryEventOnce(t *testing.T) {
	srv, nc, js := setup(t)
	s := createStream(t, js, 0)
	p := newPublisher(t, nc)

	next := 0
	publish := func(n int) {
		t.Helper()
		for range n {
			if err := p.Publish(loginEvent(next)); err != nil {
				t.Fatalf("publish %d: %v", next, err)
			}
			next++
		}
	}

	// Keep publishing from another goroutine across the restart, as a
	// gateway would, while this one stops and starts the server.
	var wg sync.WaitGroup
	stop := make(chan struct{})
	var background atomic.Int64
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			ev := loginEvent(i)
			ev.ID = fmt.Sprintf("bg-%06d", i)
			switch err := p.Publish(ev); {
			case err == nil:
				background.Add(1)
			case errors.Is(err, client.ErrBufferFull):
			default:
				t.Errorf("background publish: %v", err)
				return
			}
			if i%5 == 4 {
				// A steady trickle, not a flood: the buffer must not fill
				// while the server is down, or the main publishes below fail.
				time.Sleep(time.Millisecond)
			}
		}
	})

	publish(500)
	waitFor(t, 10*time.Second, "some acks before the restart", func() bool { return p.Stats().Published >= 100 })
	srv.Stop()
	publish(500) // while the server is down: buffered
	srv.Start()
	publish(500)
	waitFor(t, 20*time.Second, "acks after the restart", func() bool { return p.Stats().Published >= 1200 })
	close(stop)
	wg.Wait()

	if err := closeWithin(t, p, 30*time.Second); err != nil {
		t.Fatalf("close: %v", err)
	}
	st := p.Stats()
	want := uint64(next) + uint64(background.Load())
	if st.Enqueued != want || st.Published != want || st.Failed != 0 {
		t.Fatalf("stats %+v, want %d enqueued and published", st, want)
	}
	msgs := readStream(t, s)
	ids := map[string]int{}
	for _, m := range msgs {
		ids[m.msgID]++
	}
	if uint64(len(msgs)) != want || uint64(len(ids)) != want {
		t.Fatalf("stream holds %d messages with %d distinct Nats-Msg-Id, want %d of each (stats %+v)",
			len(msgs), len(ids), want, st)
	}
	t.Logf("restart: %+v", st)
}

func TestEventsWaitForTheStream(t *testing.T) {
	_, nc, js := setup(t)
	p := newPublisher(t, nc)

	// No stream yet: the server answers "no responders"; the publisher
	// keeps the events and re-sends them.
	for i := range 5 {
		if err := p.Publish(loginEvent(i)); err != nil {
			t.Fatalf("publish: %v", err)
		}
	}
	waitFor(t, 10*time.Second, "a re-send", func() bool { return p.Stats().Retried > 0 })
	s := createStream(t, js, 0)
	if err := closeWithin(t, p, 20*time.Second); err != nil {
		t.Fatalf("close: %v", err)
	}
	if n := streamMsgs(t, s); n != 5 {
		t.Fatalf("stream holds %d messages, want 5", n)
	}
}

func TestRejectedEventIsDroppedNotRetried(t *testing.T) {
	_, nc, js := setup(t)
	s := createStream(t, js, 256) // smaller than the event below
	var rejected atomic.Value
	p := newPublisher(t, nc, client.WithOnDrop(func(id string, err error) { rejected.Store(id) }))

	big := loginEvent(1)
	big.Metadata = map[string]string{"note": strings.Repeat("x", 300)}
	if err := p.Publish(big); err != nil {
		t.Fatalf("publish: %v", err)
	}
	if err := closeWithin(t, p, 10*time.Second); err != nil {
		t.Fatalf("close: %v", err)
	}
	st := p.Stats()
	if st.Failed != 1 || st.Retried != 0 || st.Published != 0 {
		t.Errorf("stats %+v, want 1 failed, no re-send", st)
	}
	if got, _ := rejected.Load().(string); got != big.ID {
		t.Errorf("OnDrop got %q, want %q", got, big.ID)
	}
	if n := streamMsgs(t, s); n != 0 {
		t.Errorf("stream holds %d messages, want 0", n)
	}
}

func TestCloseFlushes(t *testing.T) {
	_, nc, js := setup(t)
	s := createStream(t, js, 0)
	p := newPublisher(t, nc)

	const n = 3000
	for i := range n {
		if err := p.Publish(loginEvent(i)); err != nil {
			t.Fatalf("publish %d: %v", i, err)
		}
	}
	if err := closeWithin(t, p, 30*time.Second); err != nil {
		t.Fatalf("close: %v", err)
	}
	if st := p.Stats(); st.Published != n || st.InFlight != 0 || st.Buffered != 0 {
		t.Errorf("stats after close %+v, want %d published, nothing pending", st, n)
	}
	if got := streamMsgs(t, s); got != n {
		t.Fatalf("stream holds %d messages, want %d", got, n)
	}
	// A second Close is harmless.
	if err := closeWithin(t, p, time.Second); err != nil {
		t.Errorf("second close: %v", err)
	}
}

func TestNewPublisherRejectsBadOptions(t *testing.T) {
	_, nc, _ := setup(t)
	for name, opt := range map[string]client.Option{
		"buffer":    client.WithBufferSize(0),
		"in flight": client.WithMaxInFlight(-1),
		"timeout":   client.WithAckTimeout(0),
		"linger":    client.WithLinger(-time.Millisecond),
	} {
		if _, err := client.NewPublisher(nc, opt); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if _, err := client.NewPublisher(nil); err == nil {
		t.Error("nil conn: no error")
	}
}
