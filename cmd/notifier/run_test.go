package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/authwatch/authwatch/internal/bus"
	"github.com/authwatch/authwatch/internal/detect"
	"github.com/authwatch/authwatch/internal/notifier"
	"github.com/authwatch/authwatch/internal/notify"
	"github.com/authwatch/authwatch/internal/store"
	"github.com/authwatch/authwatch/internal/testenv"
)

// stack is NATS and a ClickHouse database, with the notifier's environment
// pointing at them; webhooks are written to KV as the API writes them.
type stack struct {
	nats  *testenv.NATS
	store *store.Store
	env   map[string]string
	nc    *nats.Conn
	js    jetstream.JetStream
	hooks *notifier.Webhooks
}

func startStack(t *testing.T, extraEnv map[string]string) *stack {
	t.Helper()
	n := testenv.StartNATS(t)
	st, cfg := testenv.OpenStore(t)
	env := map[string]string{
		"NATS_URL":            n.URL(),
		"CLICKHOUSE_ADDR":     strings.Join(cfg.Addrs, ","),
		"CLICKHOUSE_DATABASE": cfg.Database,
		// Receivers are httptest servers on 127.0.0.1.
		"WEBHOOK_ALLOW_PRIVATE":       "true",
		"NOTIFIER_RETRY_SCHEDULE":     "200ms,400ms",
		"NOTIFIER_RETRY_FOR":          "1m",
		"NOTIFIER_LOG_FLUSH_INTERVAL": "50ms",
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
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := bus.EnsureStreams(ctx, js, bus.DefaultTopology()); err != nil {
		t.Fatal(err)
	}
	if err := bus.EnsureWebhooks(ctx, js, bus.DefaultTopology()); err != nil {
		t.Fatal(err)
	}
	hooks, err := notifier.OpenWebhooks(ctx, js, bus.WebhookBucket)
	if err != nil {
		t.Fatal(err)
	}
	return &stack{nats: n, store: st, env: env, nc: nc, js: js, hooks: hooks}
}

// run starts a notifier through run(), as main does; stop ends it and waits.
func (s *stack) run(t *testing.T) (stop func()) {
	t.Helper()
	addr := testenv.FreeAddr(t)
	getenv := func(k string) string {
		if k == "NOTIFIER_ADDR" {
			return addr
		}
		return s.env[k]
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- run(ctx, nil, getenv, testWriter{t}) }()
	testenv.Eventually(t, 30*time.Second, "notifier /readyz", func() bool { return testenv.Ready(addr) })
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-errc:
				if err != nil {
					t.Errorf("run: %v", err)
				}
			case <-time.After(30 * time.Second):
				t.Error("notifier did not stop within 30s of its context ending")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// addWebhook registers a webhook of tenant for url, as the API does.
func (s *stack) addWebhook(t *testing.T, tenant, url string, format notify.Format, minSev detect.Severity, rules ...string) notify.Webhook {
	t.Helper()
	if len(rules) == 0 {
		rules = []string{"*"}
	}
	h := notify.Webhook{ID: notify.NewWebhookID(), TenantID: tenant, URL: url, Rules: rules, MinSeverity: minSev,
		Format: format, Secret: "secret-of-" + tenant + "-0123456789", CreatedAt: time.Now().UTC()}
	if err := s.hooks.Create(context.Background(), h); err != nil {
		t.Fatal(err)
	}
	return h
}

var alertSeq int

// alert builds an alert of rule for tenant, as the detector would.
func alert(tenant string, rule detect.Rule, user string) detect.Alert {
	alertSeq++
	ev := fmt.Sprintf("ev-%d-%d", time.Now().UnixNano(), alertSeq)
	now := time.Now().UTC()
	country := "AU"
	a := detect.Alert{ID: detect.AlertID(tenant, ev, rule), TenantID: tenant, EventID: ev, Rule: rule, Severity: detect.SeverityOf(rule),
		Reasons: []string{"first successful login from Safari on macOS (desktop) in 90 days"}, IPAddress: "203.0.113.5",
		Country: &country, OccurredAt: now.Add(-time.Second), DetectedAt: now}
	if user != "" {
		a.UserID = &user
	}
	return a
}

// publish publishes alerts as the detector does: JSON, Nats-Msg-Id = id.
func (s *stack) publish(t *testing.T, alerts ...detect.Alert) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, a := range alerts {
		data, err := a.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.js.Publish(ctx, detect.AlertSubject(a.TenantID, a.Rule), data, jetstream.WithMsgID(a.ID)); err != nil {
			t.Fatal(err)
		}
	}
}

// deliveries reads a webhook's delivery log, newest first.
func (s *stack) deliveries(t *testing.T, webhookID string) []store.DeliveryAttempt {
	t.Helper()
	rows, _, err := s.store.Deliveries(context.Background(), "acme", webhookID, 0, 1000, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

// idle says whether the notifier has nothing left: every alert fanned
// out and every job done (retries waiting count as not done).
func (s *stack) idle(t *testing.T) bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, c := range []struct{ stream, name string }{{bus.AlertsStream, bus.ConsumerNotifier}, {bus.DeliveriesStream, bus.ConsumerNotifier}} {
		cons, err := s.js.Consumer(ctx, c.stream, c.name)
		if err != nil {
			return false
		}
		info, err := cons.Info(ctx)
		if err != nil || info.NumPending > 0 || info.NumAckPending > 0 {
			return false
		}
	}
	return true
}

// receiver is a webhook receiver on a local port that records every
// request; answer decides each one's status (it may block).
type receiver struct {
	srv    *httptest.Server
	mu     sync.Mutex
	got    []received
	answer func(n int, r *http.Request) int
}

type received struct {
	delivery, signature, contentType string
	body                             []byte
	at                               time.Time
}

func newReceiver(t *testing.T, answer func(n int, r *http.Request) int) *receiver {
	t.Helper()
	rc := &receiver{answer: answer}
	if rc.answer == nil {
		rc.answer = func(int, *http.Request) int { return http.StatusNoContent }
	}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		n := len(rc.got)
		rc.got = append(rc.got, received{delivery: r.Header.Get(notify.HeaderDelivery), signature: r.Header.Get(notify.HeaderSignature),
			contentType: r.Header.Get("Content-Type"), body: body, at: time.Now()})
		rc.mu.Unlock()
		w.WriteHeader(rc.answer(n, r))
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) requests() []received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]received(nil), rc.got...)
}

func (rc *receiver) count() int { return len(rc.requests()) }

func TestDeliversSignedAlerts(t *testing.T) {
	s := startStack(t, nil)
	rc := newReceiver(t, nil)
	hook := s.addWebhook(t, "acme", rc.srv.URL+"/authwatch", notify.FormatJSON, detect.Low)
	s.run(t)

	a := alert("acme", detect.NewDevice, "alice")
	s.publish(t, a)
	testenv.Eventually(t, 30*time.Second, "the alert POSTed", func() bool { return rc.count() == 1 })
	got := rc.requests()[0]
	want, _ := a.Marshal()
	if string(got.body) != string(want) {
		t.Errorf("body %s, want the alert JSON %s", got.body, want)
	}
	if got.contentType != "application/json" || got.delivery != notify.DeliveryID(hook.ID, a.ID) {
		t.Errorf("Content-Type %q, Authwatch-Delivery %q (want %q)", got.contentType, got.delivery, notify.DeliveryID(hook.ID, a.ID))
	}
	if err := notify.Verify(hook.Secret, got.signature, got.body, time.Now(), 5*time.Minute); err != nil {
		t.Errorf("signature %q: %v", got.signature, err)
	}
	if err := notify.Verify("another-secret-0123456", got.signature, got.body, time.Now(), 5*time.Minute); err == nil {
		t.Error("the signature verifies with another secret")
	}
	if ts := strings.TrimPrefix(strings.Split(got.signature, ",")[0], "t="); ts != fmt.Sprint(got.at.Unix()) && ts != fmt.Sprint(got.at.Unix()-1) {
		t.Errorf("t=%s is not the time of the attempt (%d)", ts, got.at.Unix())
	}
	testenv.Eventually(t, 30*time.Second, "the attempt logged", func() bool { return len(s.deliveries(t, hook.ID)) == 1 })
	row := s.deliveries(t, hook.ID)[0]
	if row.Attempt != 1 || row.StatusCode != 204 || row.Error != "" || row.Outcome != "delivered" || row.AlertID != a.ID ||
		row.DeliveryID != got.delivery || !row.NextAttemptAt.IsZero() {
		t.Errorf("log row %+v", row)
	}

	// A webhook applies to alerts published after it, not before: the
	// first alert is not sent to a webhook created after it.
	rc2 := newReceiver(t, nil)
	hook2 := s.addWebhook(t, "acme", rc2.srv.URL, notify.FormatJSON, detect.Low)
	b := alert("acme", detect.IPLockout, "")
	s.publish(t, b)
	testenv.Eventually(t, 30*time.Second, "the second alert POSTed to both", func() bool { return rc.count() == 2 && rc2.count() == 1 })
	if d := rc2.requests()[0].delivery; d != notify.DeliveryID(hook2.ID, b.ID) {
		t.Errorf("the new webhook got delivery %s, want the second alert's", d)
	}

	// The test route's path: a signed sample through the same delivery.
	job, err := s.hooks.SendTest(context.Background(), hook2, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 30*time.Second, "the sample POSTed", func() bool { return rc2.count() == 2 })
	sample := rc2.requests()[1]
	var sa detect.Alert
	if err := json.Unmarshal(sample.body, &sa); err != nil || sa.ID != job.AlertID || sample.delivery != job.DeliveryID {
		t.Errorf("sample %s (%v), delivery %s", sample.body, err, sample.delivery)
	}
	if err := notify.Verify(hook2.Secret, sample.signature, sample.body, time.Now(), 5*time.Minute); err != nil {
		t.Errorf("sample signature: %v", err)
	}
	testenv.Eventually(t, 30*time.Second, "all done", func() bool { return s.idle(t) })
	if rc.count() != 2 {
		t.Errorf("the first webhook got %d requests, want 2 (no sample)", rc.count())
	}
}

func TestRuleSeverityAndTenantFilters(t *testing.T) {
	s := startStack(t, nil)
	all := newReceiver(t, nil)
	deviceOnly := newReceiver(t, nil)
	highOnly := newReceiver(t, nil)
	countryMedium := newReceiver(t, nil)
	globex := newReceiver(t, nil)
	s.addWebhook(t, "acme", all.srv.URL, notify.FormatJSON, detect.Low)
	s.addWebhook(t, "acme", deviceOnly.srv.URL, notify.FormatJSON, detect.Low, "new_device")
	s.addWebhook(t, "acme", highOnly.srv.URL, notify.FormatJSON, detect.High)
	s.addWebhook(t, "acme", countryMedium.srv.URL, notify.FormatJSON, detect.Medium, "new_country", "new_device")
	s.addWebhook(t, "globex", globex.srv.URL, notify.FormatJSON, detect.Low)
	s.run(t)

	s.publish(t,
		alert("acme", detect.NewDevice, "alice"),        // low
		alert("acme", detect.NewCountry, "alice"),       // medium
		alert("acme", detect.IPLockout, ""),             // high
		alert("acme", detect.TokenNewNetwork, "bob"),    // medium
		alert("acme", detect.ImpossibleTravel, "carol"), // high
	)
	want := map[*receiver][]detect.Rule{
		all:           {detect.NewDevice, detect.NewCountry, detect.IPLockout, detect.TokenNewNetwork, detect.ImpossibleTravel},
		deviceOnly:    {detect.NewDevice},
		highOnly:      {detect.IPLockout, detect.ImpossibleTravel},
		countryMedium: {detect.NewCountry},
		globex:        nil,
	}
	testenv.Eventually(t, 30*time.Second, "every delivery done", func() bool { return all.count() == 5 && s.idle(t) })
	for rc, rules := range want {
		var got []detect.Rule
		for _, r := range rc.requests() {
			var a detect.Alert
			_ = json.Unmarshal(r.body, &a)
			got = append(got, a.Rule)
		}
		if !sameRules(got, rules) {
			t.Errorf("%s got %v, want %v", rc.srv.URL, got, rules)
		}
	}
}

func sameRules(a, b []detect.Rule) bool {
	if len(a) != len(b) {
		return false
	}
	seen := map[detect.Rule]int{}
	for _, r := range a {
		seen[r]++
	}
	for _, r := range b {
		seen[r]--
	}
	for _, n := range seen {
		if n != 0 {
			return false
		}
	}
	return true
}

func TestSlackFormat(t *testing.T) {
	s := startStack(t, nil)
	rc := newReceiver(t, func(int, *http.Request) int { return http.StatusOK })
	hook := s.addWebhook(t, "acme", rc.srv.URL+"/services/T0/B0/x", notify.FormatSlack, detect.Low)
	s.run(t)
	a := alert("acme", detect.ImpossibleTravel, "carol")
	a.Reasons = []string{"17021 km from London, GB to Sydney, AU in 10m0s (102126 km/h; the limit is 900 km/h)"}
	s.publish(t, a)
	testenv.Eventually(t, 30*time.Second, "the Slack message POSTed", func() bool { return rc.count() == 1 })
	got := rc.requests()[0]
	var msg map[string]string
	if err := json.Unmarshal(got.body, &msg); err != nil || len(msg) != 1 {
		t.Fatalf("body %s is not {\"text\": ...}", got.body)
	}
	for _, want := range []string{"impossible_travel", "high", "carol", "203.0.113.5", "AU", "17021 km from London"} {
		if !strings.Contains(msg["text"], want) {
			t.Errorf("the text lacks %q:\n%s", want, msg["text"])
		}
	}
	if got.contentType != "application/json" || notify.Verify(hook.Secret, got.signature, got.body, time.Now(), time.Minute) != nil {
		t.Errorf("Content-Type %q, signature %q", got.contentType, got.signature)
	}
}

// One alert to a receiver that fails twice then answers: three attempts,
// the same delivery id each time, and one success in the log.
func TestRetriesUntilDelivered(t *testing.T) {
	s := startStack(t, nil)
	rc := newReceiver(t, func(n int, _ *http.Request) int {
		if n < 2 {
			return []int{http.StatusInternalServerError, http.StatusServiceUnavailable}[n]
		}
		return http.StatusOK
	})
	hook := s.addWebhook(t, "acme", rc.srv.URL, notify.FormatJSON, detect.Low)
	s.run(t)
	a := alert("acme", detect.PasswordSpray, "")
	s.publish(t, a)
	testenv.Eventually(t, 30*time.Second, "three attempts and nothing left to do", func() bool { return rc.count() == 3 && s.idle(t) })
	reqs := rc.requests()
	for i, r := range reqs {
		if r.delivery != notify.DeliveryID(hook.ID, a.ID) {
			t.Errorf("attempt %d carried delivery %s", i+1, r.delivery)
		}
		if err := notify.Verify(hook.Secret, r.signature, r.body, r.at, 2*time.Second); err != nil {
			t.Errorf("attempt %d: signature %v", i+1, err)
		}
	}
	// The schedule: 200 ms, then 400 ms after a failure (a job due within
	// 20 ms is taken at once).
	if gap := reqs[1].at.Sub(reqs[0].at); gap < 180*time.Millisecond {
		t.Errorf("second attempt %s after the first, want ≥ 200ms", gap)
	}
	if gap := reqs[2].at.Sub(reqs[1].at); gap < 380*time.Millisecond {
		t.Errorf("third attempt %s after the second, want ≥ 400ms", gap)
	}
	rows := s.deliveries(t, hook.ID)
	if len(rows) != 3 {
		t.Fatalf("%d rows in the log, want 3: %+v", len(rows), rows)
	}
	var delivered int
	for i, r := range rows { // newest first
		wantAttempt := 3 - i
		if r.Attempt != wantAttempt || r.AlertID != a.ID {
			t.Errorf("row %d: %+v", i, r)
		}
		if r.Outcome == "delivered" {
			delivered++
		}
	}
	if delivered != 1 || rows[0].Outcome != "delivered" || rows[0].StatusCode != 200 {
		t.Errorf("want one delivered row, the last: %+v", rows)
	}
	if rows[2].StatusCode != 500 || rows[2].Error == "" || rows[2].Outcome != "retrying" || rows[2].NextAttemptAt.IsZero() ||
		rows[1].StatusCode != 503 {
		t.Errorf("failed attempts: %+v, %+v", rows[2], rows[1])
	}
}

// A receiver that never answers holds up no other webhook: with it
// hanging, the healthy one gets every alert at once, and the hanging one
// never has more attempts in flight than its lane allows.
func TestHangingReceiverHoldsUpNoOne(t *testing.T) {
	s := startStack(t, map[string]string{"NOTIFIER_WEBHOOK_CONCURRENCY": "2", "NOTIFIER_ATTEMPT_TIMEOUT": "10s"})
	release := make(chan struct{})
	var mu sync.Mutex
	inFlight, maxInFlight := 0, 0
	hang := newReceiver(t, func(int, *http.Request) int {
		mu.Lock()
		inFlight++
		maxInFlight = max(maxInFlight, inFlight)
		mu.Unlock()
		<-release
		mu.Lock()
		inFlight--
		mu.Unlock()
		return http.StatusOK
	})
	healthy := newReceiver(t, nil)
	s.addWebhook(t, "acme", hang.srv.URL, notify.FormatJSON, detect.Low)
	s.addWebhook(t, "acme", healthy.srv.URL, notify.FormatSlack, detect.Low)
	s.run(t)
	t.Cleanup(func() { close(release) }) // first of the cleanups: the stop then has nothing hanging

	start := time.Now()
	var alerts []detect.Alert
	for range 30 {
		alerts = append(alerts, alert("acme", detect.NewDevice, "alice"))
	}
	s.publish(t, alerts...)
	testenv.Eventually(t, 20*time.Second, "every alert at the healthy receiver", func() bool { return healthy.count() == 30 })
	took := time.Since(start)
	mu.Lock()
	defer mu.Unlock()
	if maxInFlight > 2 || hang.count() > 2 {
		t.Errorf("the hanging receiver had %d requests in flight (%d in all), want at most 2", maxInFlight, hang.count())
	}
	// Within the hanging receiver's first timeout: nothing waited for it.
	if took > 5*time.Second {
		t.Errorf("the healthy receiver got its 30 alerts after %s: held up by the hanging one", took)
	}
	t.Logf("30 alerts at the healthy receiver in %s while the other hangs", took)
}

// Unless WEBHOOK_ALLOW_PRIVATE is true, the notifier refuses to connect to
// a private address even when the webhook got into KV (registered while
// allowed, or its name resolving elsewhere then): a failed attempt in the
// log, nothing received; once the schedule runs out, failed for good.
func TestPrivateAddressRefusedAtDelivery(t *testing.T) {
	// Retries every 100 ms for 1.5 s: several attempts even when a loaded
	// machine makes one attempt slow (a 250 ms span once allowed only one).
	s := startStack(t, map[string]string{"WEBHOOK_ALLOW_PRIVATE": "false", "NOTIFIER_RETRY_SCHEDULE": "100ms", "NOTIFIER_RETRY_FOR": "1500ms"})
	rc := newReceiver(t, nil)
	port := rc.srv.Listener.Addr().(*net.TCPAddr).Port
	byName := s.addWebhook(t, "acme", fmt.Sprintf("http://localhost:%d/hook", port), notify.FormatJSON, detect.Low)
	byIP := s.addWebhook(t, "acme", rc.srv.URL, notify.FormatJSON, detect.Low)
	s.run(t)
	s.publish(t, alert("acme", detect.IPLockout, ""))
	testenv.Eventually(t, 30*time.Second, "both deliveries over", func() bool { return s.idle(t) })
	if n := rc.count(); n != 0 {
		t.Errorf("the private receiver got %d requests", n)
	}
	for _, h := range []notify.Webhook{byName, byIP} {
		rows := s.deliveries(t, h.ID)
		if len(rows) < 2 {
			t.Fatalf("%s: %d attempts logged, want the schedule's (several): %+v", h.URL, len(rows), rows)
		}
		for _, r := range rows {
			if r.StatusCode != 0 || !strings.Contains(r.Error, "refused") || !strings.Contains(r.Error, "loopback") {
				t.Errorf("%s: attempt %+v, want a refusal", h.URL, r)
			}
		}
		if rows[0].Outcome != "failed" {
			t.Errorf("%s: the last attempt is %s, want failed", h.URL, rows[0].Outcome)
		}
		for _, r := range rows[1:] {
			if r.Outcome != "retrying" {
				t.Errorf("%s: an earlier attempt is %s, want retrying", h.URL, r.Outcome)
			}
		}
	}
}

// A webhook deleted while its delivery is being retried gets no more attempts.
func TestDeletedWebhookStopsRetries(t *testing.T) {
	s := startStack(t, map[string]string{"NOTIFIER_RETRY_SCHEDULE": "300ms"})
	rc := newReceiver(t, func(int, *http.Request) int { return http.StatusBadGateway })
	hook := s.addWebhook(t, "acme", rc.srv.URL, notify.FormatJSON, detect.Low)
	s.run(t)
	s.publish(t, alert("acme", detect.NewDevice, "dave"))
	testenv.Eventually(t, 30*time.Second, "two attempts", func() bool { return rc.count() >= 2 })
	if err := s.hooks.Delete(context.Background(), "acme", hook.ID); err != nil {
		t.Fatal(err)
	}
	n := rc.count()
	testenv.Eventually(t, 30*time.Second, "its retry dropped", func() bool { return s.idle(t) })
	if got := rc.count(); got > n+1 { // one attempt may have been under way
		t.Errorf("%d attempts after the delete", got-n)
	}
}

// A graceful stop lets the attempt in flight finish, logs and acks it: a
// notifier started afterwards does not send it again.
func TestGracefulStopFinishesInFlight(t *testing.T) {
	s := startStack(t, nil)
	started := make(chan struct{}, 1)
	rc := newReceiver(t, func(int, *http.Request) int {
		started <- struct{}{}
		time.Sleep(500 * time.Millisecond) // a slow receiver, still within the drain
		return http.StatusOK
	})
	hook := s.addWebhook(t, "acme", rc.srv.URL, notify.FormatJSON, detect.Low)
	stop := s.run(t)
	s.publish(t, alert("acme", detect.NewDevice, "erin"))
	select {
	case <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("no attempt started")
	}
	stop()
	rows := s.deliveries(t, hook.ID)
	if len(rows) != 1 || rows[0].Outcome != "delivered" {
		t.Fatalf("after a graceful stop: %+v, want the attempt in flight logged as delivered", rows)
	}
	if !s.idle(t) {
		t.Error("jobs left unacknowledged after a graceful stop")
	}
	s.run(t)
	testenv.Eventually(t, 30*time.Second, "the restarted notifier idle", func() bool { return s.idle(t) })
	if n := rc.count(); n != 1 {
		t.Errorf("%d requests, want 1", n)
	}
}

func TestConfigFromEnv(t *testing.T) {
	env := func(kv map[string]string) func(string) string { return func(k string) string { return kv[k] } }
	cfg, addr, _, err := loadConfig(env(nil))
	if err != nil || addr != "127.0.0.1:9103" || cfg.AttemptTimeout != 10*time.Second || cfg.AllowPrivate ||
		len(cfg.Schedule.Delays) != 6 || cfg.Schedule.For != 24*time.Hour {
		t.Errorf("defaults: %+v %s %v", cfg, addr, err)
	}
	cfg, _, _, err = loadConfig(env(map[string]string{"NOTIFIER_RETRY_SCHEDULE": "1s,2s", "NOTIFIER_RETRY_FOR": "1m", "WEBHOOK_ALLOW_PRIVATE": "true"}))
	if err != nil || len(cfg.Schedule.Delays) != 2 || cfg.Schedule.For != time.Minute || !cfg.AllowPrivate {
		t.Errorf("set: %+v %v", cfg, err)
	}
	for _, bad := range []map[string]string{{"NOTIFIER_RETRY_SCHEDULE": "soon"}, {"WEBHOOK_ALLOW_PRIVATE": "maybe"}, {"NOTIFIER_WEBHOOK_CONCURRENCY": "0"}} {
		if _, _, _, err := loadConfig(env(bad)); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}

// testWriter sends the service's log to the test log, shown when a test fails.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}
