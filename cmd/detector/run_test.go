package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/authwatch/authwatch/event"
	"github.com/authwatch/authwatch/internal/bus"
	"github.com/authwatch/authwatch/internal/detect"
	"github.com/authwatch/authwatch/internal/geotest"
	"github.com/authwatch/authwatch/internal/ingest"
	"github.com/authwatch/authwatch/internal/ops"
	"github.com/authwatch/authwatch/internal/store"
	"github.com/authwatch/authwatch/internal/testenv"
)

// User agents of four devices; versions differ on purpose in places.
const (
	chromeWindows  = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
	chromeWindows2 = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/132.0.6834.83 Safari/537.36"
	safariMac      = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15"
	firefoxLinux   = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"
	safariIPhone   = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)

// IPs in the test GeoIP database (geotest.Demo).
const (
	london   = "81.2.69.10"
	sydney   = "203.0.113.5"
	tokyo    = "198.51.100.9"
	saoPaulo = "192.0.2.77"
	milton   = "216.160.83.20"
)

// stack is NATS, a ClickHouse database and a GeoIP file, with the
// detector's environment pointing at them.
type stack struct {
	nats  *testenv.NATS
	store *store.Store
	env   map[string]string
	nc    *nats.Conn
	js    jetstream.JetStream
}

func startStack(t *testing.T, extraEnv map[string]string) *stack {
	t.Helper()
	n := testenv.StartNATS(t)
	st, cfg := testenv.OpenStore(t)
	geo := filepath.Join(t.TempDir(), "city.mmdb")
	if err := geotest.Write(geo, geotest.Demo); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{
		"NATS_URL":            n.URL(),
		"CLICKHOUSE_ADDR":     strings.Join(cfg.Addrs, ","),
		"CLICKHOUSE_DATABASE": cfg.Database,
		"GEOIP_CITY_DB":       geo,
	}
	for k, v := range extraEnv {
		env[k] = v
	}
	nc, err := nats.Connect(n.URL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, _ := jetstream.New(nc)
	if err := bus.EnsureStreams(context.Background(), js, bus.DefaultTopology()); err != nil {
		t.Fatal(err)
	}
	s := &stack{nats: n, store: st, env: env, nc: nc, js: js}
	return s
}

// run starts a detector through run(), as main does, on its own
// DETECTOR_ADDR; stop ends it and waits.
func (s *stack) run(t *testing.T) (stop func()) {
	t.Helper()
	addr := testenv.FreeAddr(t)
	getenv := func(k string) string {
		if k == "DETECTOR_ADDR" {
			return addr
		}
		return s.env[k]
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	// Its log is shown when the test fails, and only then.
	logs := testenv.LogBuffer(t, "detector on "+addr)
	go func() { errc <- run(ctx, nil, getenv, io.Discard, logs) }()
	testenv.Eventually(t, 30*time.Second, "detector /readyz", func() bool { return testenv.Ready(addr) })
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-errc:
			if err != nil {
				t.Errorf("run: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("detector did not stop within 30s of its context ending")
		}
	}
	t.Cleanup(stop)
	return stop
}

// runIngest runs the ingest pipeline too, so flagged logins show in reads.
func (s *stack) runIngest(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cons, err := bus.EnsureConsumer(ctx, s.js, bus.ConsumerIngest, bus.EventsStream)
	if err != nil {
		t.Fatal(err)
	}
	cfg := ingest.DefaultConfig()
	cfg.FlushInterval = 100 * time.Millisecond
	w := ingest.NewWorker(cfg, s.js, cons, s.store, nil, slog.New(slog.DiscardHandler), ingest.NewMetrics(ops.NewRegistry()))
	done := make(chan struct{})
	go func() { defer close(done); _ = w.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
}

var idSeq int

func (s *stack) publish(t *testing.T, ev *event.Event) string {
	t.Helper()
	if ev.ID == "" {
		idSeq++
		ev.ID = fmt.Sprintf("ev-%05d", idSeq)
	}
	b, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := s.js.Publish(ctx, event.Subject(ev.TenantID, ev.Kind), b, jetstream.WithMsgID(ev.ID)); err != nil {
		t.Fatalf("publish: %v", err)
	}
	return ev.ID
}

// publishAll publishes events without waiting on each, then waits for all.
func (s *stack) publishAll(t *testing.T, events []*event.Event) {
	t.Helper()
	var futures []jetstream.PubAckFuture
	for _, ev := range events {
		b, err := json.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		f, err := s.js.PublishAsync(event.Subject(ev.TenantID, ev.Kind), b, jetstream.WithMsgID(ev.ID), jetstream.WithStallWait(30*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		futures = append(futures, f)
	}
	for _, f := range futures {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			t.Fatal(err)
		case <-time.After(30 * time.Second):
			t.Fatal("no publish ack in 30s")
		}
	}
}

func (s *stack) login(t *testing.T, user string, status event.Status, ip, ua string, at time.Time) string {
	t.Helper()
	return s.publish(t, &event.Event{Kind: event.KindLogin, TenantID: "acme", UserID: user, OccurredAt: at,
		IPAddress: ip, UserAgent: ua, Status: status})
}

func (s *stack) tokenUse(t *testing.T, token, ip string, at time.Time) string {
	t.Helper()
	return s.publish(t, &event.Event{Kind: event.KindToken, TenantID: "acme", UserID: "owner", OccurredAt: at,
		IPAddress: ip, TokenID: token, TokenType: event.TokenSecret, Environment: event.EnvLive, Action: event.TokenAuthenticated})
}

// pending is how many events the detector has not acknowledged.
func (s *stack) pending(t *testing.T) uint64 {
	t.Helper()
	c, err := s.js.Consumer(context.Background(), bus.EventsStream, bus.ConsumerDetector)
	if err != nil {
		t.Fatal(err)
	}
	info, err := c.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return info.NumPending + uint64(info.NumAckPending)
}

// undelivered is how many events the detector has not been handed yet.
func (s *stack) undelivered(t *testing.T) uint64 {
	t.Helper()
	c, err := s.js.Consumer(context.Background(), bus.EventsStream, bus.ConsumerDetector)
	if err != nil {
		t.Fatal(err)
	}
	info, err := c.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return info.NumPending
}

// drained waits until the detector acknowledged everything published.
func (s *stack) drained(t *testing.T) {
	t.Helper()
	testenv.Eventually(t, 90*time.Second, "detector consumer drained", func() bool {
		c, err := s.js.Consumer(context.Background(), bus.EventsStream, bus.ConsumerDetector)
		if err != nil {
			return false
		}
		info, err := c.Info(context.Background())
		return err == nil && info.NumPending == 0 && info.NumAckPending == 0
	})
}

// fired lists "rule event_id" of every alert stored in AUTH_ALERTS, sorted.
// Once the detector has acknowledged an event, its alerts are there.
func (s *stack) fired(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, a := range s.streamAlerts(t) {
		out = append(out, string(a.Rule)+" "+a.EventID)
	}
	sort.Strings(out)
	return out
}

// streamAlerts reads every alert in AUTH_ALERTS, checking subject and id.
func (s *stack) streamAlerts(t *testing.T) []detect.Alert {
	t.Helper()
	ctx := context.Background()
	str, err := s.js.Stream(ctx, bus.AlertsStream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := str.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out []detect.Alert
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := str.GetMsg(ctx, seq)
		if err != nil {
			t.Fatal(err)
		}
		var a detect.Alert
		if err := json.Unmarshal(m.Data, &a); err != nil {
			t.Fatalf("alert is not JSON: %v: %s", err, m.Data)
		}
		if m.Subject != detect.AlertSubject(a.TenantID, a.Rule) || m.Header.Get(jetstream.MsgIDHeader) != a.ID {
			t.Errorf("alert %s on %s with Nats-Msg-Id %q", a.ID, m.Subject, m.Header.Get(jetstream.MsgIDHeader))
		}
		out = append(out, a)
	}
	return out
}

// count counts the alerts of a rule in a fired list.
func count(fired []string, rule detect.Rule) int {
	n := 0
	for _, f := range fired {
		if strings.HasPrefix(f, string(rule)+" ") {
			n++
		}
	}
	return n
}

// userState reads a user's detector state from KV.
func (s *stack) userState(t *testing.T, user string) detect.UserState {
	t.Helper()
	kv, err := s.js.KeyValue(context.Background(), bus.StateBucket)
	if err != nil {
		t.Fatal(err)
	}
	e, err := kv.Get(context.Background(), "u.acme."+base64.RawURLEncoding.EncodeToString([]byte(user)))
	if err != nil {
		t.Fatalf("state of %s: %v", user, err)
	}
	var st detect.UserState
	if err := json.Unmarshal(e.Value(), &st); err != nil {
		t.Fatal(err)
	}
	return st
}

func (s *stack) lockout(t *testing.T, ip string) (bus.Lockout, bool) {
	t.Helper()
	kv, err := s.js.KeyValue(context.Background(), bus.LockoutBucket)
	if err != nil {
		t.Fatal(err)
	}
	e, err := kv.Get(context.Background(), bus.LockoutKey("acme", ip))
	if err != nil {
		return bus.Lockout{}, false
	}
	var l bus.Lockout
	if err := json.Unmarshal(e.Value(), &l); err != nil {
		t.Fatalf("lockout value %s: %v", e.Value(), err)
	}
	return l, true
}

func sorted(xs ...string) []string { sort.Strings(xs); return xs }

// Every rule of SPEC §4 fires end to end: events published → alerts on
// the stream, stored in ClickHouse, the login flagged in reads, the
// lockout in KV. Nothing else fires.
func TestEveryRuleEndToEnd(t *testing.T) {
	s := startStack(t, nil)
	s.run(t)
	s.runIngest(t)
	now := time.Now().UTC().Truncate(time.Second)
	day := 24 * time.Hour
	var want []string

	// alice: known device, then a new one, then a flight no plane makes.
	s.login(t, "alice", event.StatusSuccess, london, chromeWindows, now.Add(-3*time.Hour))
	s.login(t, "alice", event.StatusSuccess, london, chromeWindows2, now.Add(-150*time.Minute)) // a browser update: same device
	newDev := s.login(t, "alice", event.StatusSuccess, london, safariMac, now.Add(-2*time.Hour))
	want = append(want, "new_device "+newDev)
	trip := s.login(t, "alice", event.StatusSuccess, sydney, safariMac, now.Add(-110*time.Minute))
	want = append(want, "new_country "+trip, "impossible_travel "+trip)

	// bob: three wrong passwords, then in.
	s.login(t, "bob", event.StatusSuccess, milton, firefoxLinux, now.Add(-2*day))
	for i := range 3 {
		s.login(t, "bob", event.StatusFailed, milton, firefoxLinux, now.Add(-10*time.Minute+time.Duration(i)*time.Minute))
	}
	in := s.login(t, "bob", event.StatusSuccess, milton, firefoxLinux, now.Add(-5*time.Minute))
	want = append(want, "failures_then_success "+in)

	// carol: twenty days at noon, then 03:00.
	noon := time.Date(now.Year(), now.Month(), now.Day(), 12, 0, 0, 0, time.UTC).Add(-21 * day)
	for i := range 20 {
		s.login(t, "carol", event.StatusSuccess, milton, firefoxLinux, noon.Add(time.Duration(i)*day))
	}
	night := s.login(t, "carol", event.StatusSuccess, milton, firefoxLinux, noon.Add(20*day+15*time.Hour))
	want = append(want, "unusual_hour "+night)

	// Tokyo: five failures against dave within minutes.
	var fifth string
	for i := range 5 {
		fifth = s.login(t, "dave", event.StatusFailed, tokyo, safariIPhone, now.Add(-4*time.Minute+time.Duration(i)*10*time.Second))
	}
	want = append(want, "ip_lockout "+fifth)

	// São Paulo: one failure each against ten accounts (locked at the 5th).
	var spray, sprayLock string
	for i := range 10 {
		user, identifier := fmt.Sprintf("victim%d", i), ""
		if i%4 == 3 {
			user, identifier = "", fmt.Sprintf("guess%d@example.com", i)
		}
		id := s.publish(t, &event.Event{Kind: event.KindLogin, TenantID: "acme", UserID: user, Identifier: identifier,
			OccurredAt: now.Add(-30*time.Minute + time.Duration(i)*time.Minute), IPAddress: saoPaulo, UserAgent: chromeWindows, Status: event.StatusFailed})
		if i == 4 {
			sprayLock = id
		}
		spray = id
	}
	want = append(want, "password_spray "+spray, "ip_lockout "+sprayLock)

	// A token used from Sydney for days, then from London.
	s.tokenUse(t, "tok_ci", sydney, now.Add(-3*day))
	s.tokenUse(t, "tok_ci", sydney, now.Add(-2*day))
	leak := s.tokenUse(t, "tok_ci", london, now.Add(-time.Minute))
	want = append(want, "token_new_network "+leak)

	sort.Strings(want)
	s.drained(t)
	if got := s.fired(t); !slices.Equal(got, want) {
		t.Errorf("alerts\n got %v\nwant %v", got, want)
	}

	// Stored, and the logins flagged in the API's reads.
	ctx := context.Background()
	var stored uint64
	if err := s.store.Conn().QueryRow(ctx, "SELECT uniqExact(id) FROM alerts WHERE tenant_id = 'acme'").Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if stored != uint64(len(want)) {
		t.Errorf("%d alerts in ClickHouse, want %d", stored, len(want))
	}
	testenv.Eventually(t, 30*time.Second, "alice's flagged logins", func() bool {
		logins, total, err := s.store.Logins(ctx, store.LoginFilter{TenantID: "acme", UserID: "alice", SuspiciousOnly: true}, 0, 10)
		if err != nil || total != 2 || len(logins) != 2 {
			return false
		}
		return logins[0].ID == trip && slices.Equal(sorted(logins[0].Rules...), []string{"impossible_travel", "new_country"}) &&
			logins[1].ID == newDev && slices.Equal(logins[1].Rules, []string{"new_device"})
	})

	// The lockout is in KV, expiring 15 minutes after the 5th failure.
	l, ok := s.lockout(t, tokyo)
	if !ok || l.FailedAttempts != 5 || l.TenantID != "acme" || l.IPAddress != tokyo ||
		!l.LockedUntil.Equal(now.Add(-4*time.Minute+40*time.Second+15*time.Minute)) {
		t.Errorf("lockout %+v (present %v)", l, ok)
	}

	// The reasons carry the evidence.
	for _, a := range s.streamAlerts(t) {
		if a.Rule == detect.NewDevice {
			text := strings.Join(a.Reasons, " | ")
			if !strings.Contains(text, "Safari on macOS (desktop)") || !strings.Contains(text, "known devices: Chrome on Windows (desktop), last seen") {
				t.Errorf("new_device reasons: %s", text)
			}
			if a.UserID == nil || *a.UserID != "alice" || a.Country == nil || *a.Country != "GB" || a.Severity != detect.Low {
				t.Errorf("new_device alert %+v", a)
			}
		}
	}
}

// A detector stopped (or killed) and started again neither re-flags a
// known device nor forgets the failures counted toward a lockout, and a
// redelivered batch raises no second alert.
func TestStateSurvivesRestart(t *testing.T) {
	s := startStack(t, nil)
	stop := s.run(t)
	now := time.Now().UTC().Truncate(time.Second)
	s.login(t, "erin", event.StatusSuccess, london, chromeWindows, now.Add(-time.Hour))
	for i := range 4 {
		s.login(t, "x", event.StatusFailed, tokyo, chromeWindows, now.Add(-5*time.Minute+time.Duration(i)*time.Second))
	}
	s.drained(t)
	stop()

	s.run(t)
	s.login(t, "erin", event.StatusSuccess, london, chromeWindows, now.Add(-30*time.Minute))
	fifth := s.login(t, "x", event.StatusFailed, tokyo, chromeWindows, now.Add(-4*time.Minute))
	dev := s.login(t, "erin", event.StatusSuccess, london, safariMac, now.Add(-20*time.Minute))
	s.drained(t)
	if got, want := s.fired(t), sorted("ip_lockout "+fifth, "new_device "+dev); !slices.Equal(got, want) {
		t.Errorf("after restart: alerts %v, want %v", got, want)
	}
}

// Two detectors on one durable consumer, one event per batch so they
// interleave on the same user and IP: no state update is lost. Across
// instances, events of one user that arrive together may be applied in
// either order (README, Detector), so the test checks what holds in any
// order: every success counted, each new device flagged once, the 5th
// failure locking the IP.
func TestTwoInstancesLoseNoUpdate(t *testing.T) {
	s := startStack(t, map[string]string{"DETECTOR_BATCH_SIZE": "1", "DETECTOR_FLUSH_INTERVAL": "1ms"})
	s.run(t)
	s.run(t)
	now := time.Now().UTC().Truncate(time.Second)
	agents := []string{chromeWindows, safariMac, firefoxLinux, safariIPhone}
	for round := range 6 {
		for i, ua := range agents {
			s.login(t, "frank", event.StatusSuccess, london, ua, now.Add(-time.Hour+time.Duration(round*4+i)*time.Second))
		}
		s.login(t, fmt.Sprintf("u%d", round), event.StatusFailed, tokyo, chromeWindows, now.Add(-2*time.Minute+time.Duration(round)*time.Second))
	}
	s.drained(t)
	fired := s.fired(t)
	if count(fired, detect.NewDevice) != 3 || count(fired, detect.IPLockout) != 1 || len(fired) != 4 {
		t.Errorf("alerts %v: want 3 new_device (4 devices, the first login quiet) and 1 ip_lockout", fired)
	}
	st := s.userState(t, "frank")
	if st.Successes != 24 || st.Hours.Total() != 24 || len(st.Devices) != 4 {
		t.Errorf("frank's state counts %d successes, %d in the hour histogram, %d devices; want 24, 24, 4", st.Successes, st.Hours.Total(), len(st.Devices))
	}
}

// An admin's unlock (the API purges the KV key) reaches the detector: the
// IP's failures count afresh at once, instead of being ignored until the
// lockout would have ended.
func TestUnlockCountsFailuresAfresh(t *testing.T) {
	s := startStack(t, nil)
	s.run(t)
	now := time.Now().UTC().Truncate(time.Second)
	var first string
	for i := range 5 {
		first = s.login(t, "gina", event.StatusFailed, tokyo, chromeWindows, now.Add(-5*time.Minute+time.Duration(i)*time.Second))
	}
	s.drained(t)
	if _, ok := s.lockout(t, tokyo); !ok {
		t.Fatal("no lockout after 5 failures")
	}
	kv, err := s.js.KeyValue(context.Background(), bus.LockoutBucket)
	if err != nil {
		t.Fatal(err)
	}
	if err := kv.Purge(context.Background(), bus.LockoutKey("acme", tokyo)); err != nil {
		t.Fatal(err)
	}
	// The detector applies the unlock between batches; wait until it wrote
	// the IP's state (its lock gone).
	testenv.Eventually(t, 10*time.Second, "the detector forgot the lock", func() bool {
		e, err := mustKV(t, s.js, bus.StateBucket).Get(context.Background(), "ip."+bus.LockoutKey("acme", tokyo))
		if err != nil {
			return false
		}
		var st detect.IPState
		return json.Unmarshal(e.Value(), &st) == nil && st.LockedUntil == 0
	})
	var again string
	for i := range 5 {
		again = s.login(t, "gina", event.StatusFailed, tokyo, chromeWindows, now.Add(-time.Minute+time.Duration(i)*time.Second))
	}
	s.drained(t)
	if got, want := s.fired(t), sorted("ip_lockout "+first, "ip_lockout "+again); !slices.Equal(got, want) {
		t.Errorf("alerts %v, want %v", got, want)
	}
	if _, ok := s.lockout(t, tokyo); !ok {
		t.Error("no lockout after 5 more failures following the unlock")
	}
}

func mustKV(t *testing.T, js jetstream.JetStream, bucket string) jetstream.KeyValue {
	t.Helper()
	kv, err := js.KeyValue(context.Background(), bucket)
	if err != nil {
		t.Fatal(err)
	}
	return kv
}
