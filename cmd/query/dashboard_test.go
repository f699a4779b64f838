package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/authwatch/authwatch/event"
	"github.com/authwatch/authwatch/internal/auth"
	"github.com/authwatch/authwatch/internal/bus"
	"github.com/authwatch/authwatch/internal/detect"
	"github.com/authwatch/authwatch/internal/enrich"
	"github.com/authwatch/authwatch/internal/store"
	"github.com/authwatch/authwatch/internal/testenv"
)

// The dashboard in headless Chromium against the real query service (run,
// as in production), ClickHouse and NATS: the page loads, a bad token is
// refused visibly, the chart shows exactly the seeded logins, the panels
// fill, and an alert published on NATS appears without a reload. With
// DASHBOARD_SCREENSHOT=path it saves a PNG of the page at the end.
func TestDashboardInBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("drives headless Chromium against ClickHouse and NATS")
	}
	chromium := chromiumPath(t)
	started := time.Now()

	n := testenv.StartNATS(t)
	st, cfg := testenv.OpenStore(t)
	now := time.Now().UTC()
	want := seedDashboard(t, st, now)
	env := map[string]string{
		"NATS_URL":             n.URL(),
		"CLICKHOUSE_ADDR":      strings.Join(cfg.Addrs, ","),
		"CLICKHOUSE_DATABASE":  cfg.Database,
		"QUERY_ADDR":           testenv.FreeAddr(t),
		"AUTHWATCH_JWT_SECRET": secret,
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, nil, func(k string) string { return env[k] }, io.Discard, io.Discard) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("query run: %v", err)
		}
	})
	base := "http://" + env["QUERY_ADDR"]
	testenv.Eventually(t, 60*time.Second, "query ready (ClickHouse, NATS, lockout bucket)", func() bool {
		return status(base+"/readyz", "") == http.StatusOK
	})
	nc, err := nats.Connect(n.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	putLockout(t, nc, want.lockedIP, now)

	admin, err := auth.SignHS256([]byte(secret), auth.Principal{UserID: "demo-admin", TenantID: "acme",
		Permissions: []string{auth.PermAuditLog}}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}

	bctx := newBrowser(t, chromium)
	step := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(bctx, actions...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	// waitFor polls a JavaScript condition in the page until it holds.
	waitFor := func(what, cond string, timeout time.Duration) {
		t.Helper()
		if _, err := chromedp.Run(bctx, chromedp.Poll[chromedp.Void](cond, chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(timeout))); err != nil {
			text, _ := chromedp.Run(bctx, chromedp.Evaluate[string](`document.body.innerText`))
			t.Fatalf("waiting for %s: %v\npage text:\n%s", what, err, text)
		}
	}
	eval := func(expr string, v any) {
		t.Helper()
		raw, err := chromedp.Run(bctx, chromedp.Evaluate[json.RawMessage](expr))
		if err != nil {
			t.Fatalf("evaluate %s: %v", expr, err)
		}
		if err := json.Unmarshal(raw, v); err != nil {
			t.Fatalf("evaluate %s: %v: %s", expr, err, raw)
		}
	}

	// The page loads and asks for a token.
	step("open the dashboard", chromedp.Navigate(base+"/"), chromedp.WaitVisible("#token"))
	title, err := chromedp.Run(bctx, chromedp.Title())
	if err != nil || title != "authwatch dashboard" {
		t.Fatalf("title = %q, %v", title, err)
	}
	var errs []string
	eval(`window.pageErrors = []; addEventListener('error', (e) => pageErrors.push(String(e.message)));
		addEventListener('unhandledrejection', (e) => pageErrors.push(String(e.reason))); pageErrors`, &errs)

	// A token the server refuses: the page says so and asks again.
	step("sign in with a bad token", chromedp.SetValue("#token", "not.a.token"), chromedp.Click("#signin-form button[type=submit]"))
	waitFor("the 401 message", `!document.getElementById('banner').hidden && document.getElementById('banner').textContent.includes('401') && !document.getElementById('signin').hidden`, 20*time.Second)

	// The admin token: every panel fills.
	step("sign in", chromedp.SetValue("#token", admin), chromedp.Click("#signin-form button[type=submit]"))
	waitFor("the login chart", `document.querySelectorAll('#logins-chart rect[data-count]').length > 0`, 30*time.Second)
	var bySeries map[string]int
	eval(`(() => { const m = {}; for (const r of document.querySelectorAll('#logins-chart rect[data-count]')) m[r.dataset.series] = (m[r.dataset.series] || 0) + Number(r.dataset.count); return m; })()`, &bySeries)
	for _, s := range event.Statuses {
		if bySeries[string(s)] != want.logins[s] {
			t.Errorf("chart %s = %d, want %d (all: %v)", s, bySeries[string(s)], want.logins[s], bySeries)
		}
	}
	var rate string
	eval(`document.getElementById('stat-failure-rate').dataset.value`, &rate)
	f := want.logins[event.StatusFailed] + want.logins[event.Status2FAFailed]
	if wantRate := float64(f) / float64(f+want.logins[event.StatusSuccess]); !closeTo(rate, wantRate) {
		t.Errorf("failure rate = %s, want %v", rate, wantRate)
	}
	waitFor("the failing IPs", fmt.Sprintf(`document.getElementById('login-ips').textContent.includes(%q) && document.getElementById('token-ips').textContent.includes(%q)`, want.bruteIP, want.tokenFailIP), 30*time.Second)
	waitFor("the lockout", fmt.Sprintf(`document.getElementById('lockouts').textContent.includes(%q)`, want.lockedIP), 30*time.Second)
	waitFor("the stored alert", fmt.Sprintf(`!!document.querySelector('#alerts li.stored[data-alert-id=%q]')`, want.storedAlert), 30*time.Second)
	waitFor("the token usage chart", fmt.Sprintf(`document.getElementById('usage-token').value === %q && document.querySelectorAll('#usage-chart rect[data-count]').length > 0`, want.token), 30*time.Second)
	var uses int
	eval(`[...document.querySelectorAll('#usage-chart rect[data-count]')].reduce((n, r) => n + Number(r.dataset.count), 0)`, &uses)
	if uses != want.tokenUses30d {
		t.Errorf("token usage chart = %d uses, want %d", uses, want.tokenUses30d)
	}

	// A new alert arrives on the open stream and shows without a reload.
	waitFor("the alert stream", `document.getElementById('stream-state').dataset.state === 'live'`, 30*time.Second)
	var marked bool
	eval(`window.notReloaded = true`, &marked)
	user, country := "u-007", "DE"
	live := detect.Alert{ID: "live-" + fmt.Sprint(now.UnixNano()), TenantID: "acme", UserID: &user, EventID: "login-live",
		Rule: detect.ImpossibleTravel, Severity: detect.High, IPAddress: "81.2.69.160", Country: &country,
		Reasons: []string{"Berlin 12 minutes after Boston: 6100 km at 30500 km/h"}, OccurredAt: now, DetectedAt: time.Now()}
	doc, err := live.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Publish(detect.AlertSubject("acme", live.Rule), doc); err != nil {
		t.Fatal(err)
	}
	waitFor("the live alert", fmt.Sprintf(`!!document.querySelector('#alerts li.live[data-alert-id=%q]') && window.notReloaded === true
		&& document.getElementById('alert-announcer').textContent.includes('impossible travel')`, live.ID), 15*time.Second)
	var shown []string
	eval(`[...document.querySelectorAll('.panel-error:not([hidden])')].map((e) => e.textContent)`, &shown)
	eval(`window.pageErrors`, &errs)
	if len(shown) > 0 || len(errs) > 0 {
		t.Errorf("with every dependency up, the page shows errors %q and threw %q", shown, errs)
	}

	if path := os.Getenv("DASHBOARD_SCREENSHOT"); path != "" {
		png, err := chromedp.Run(bctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot: %s", path)
	}

	// NATS goes away: the lockout panel says the service is unavailable.
	n.Stop()
	step("refresh without NATS", chromedp.Click("#refresh"))
	waitFor("the 503 message", `(document.getElementById('lockouts').closest('section').querySelector('.panel-error').textContent || '').includes('503')`, 20*time.Second)

	// A user's token without admin.audit_log: tenant-wide panels say 403,
	// the user's own token usage still shows.
	user1, err := auth.SignHS256([]byte(secret), auth.Principal{UserID: "u-001", TenantID: "acme"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	step("sign out", chromedp.Click("#signout"), chromedp.WaitVisible("#token"))
	step("sign in as a user", chromedp.SetValue("#token", user1), chromedp.Click("#signin-form button[type=submit]"))
	waitFor("the 403 message", `(document.getElementById('logins-chart').closest('section').querySelector('.panel-error').textContent || '').includes('403')`, 20*time.Second)
	waitFor("the user's token usage", fmt.Sprintf(`document.getElementById('usage-token').value === %q && document.querySelectorAll('#usage-chart rect[data-count]').length > 0`, want.token), 20*time.Second)
	t.Logf("browser test took %s", time.Since(started).Round(time.Millisecond))
}

// The dashboard is served from the start, before ClickHouse answers, so it
// can show why the API does not; /api/... still goes to the API.
func TestDashboardIsServedBeforeTheAPI(t *testing.T) {
	n := testenv.StartNATS(t)
	env := map[string]string{
		"NATS_URL":             n.URL(),
		"CLICKHOUSE_ADDR":      testenv.FreeAddr(t), // nothing listens there
		"QUERY_ADDR":           testenv.FreeAddr(t),
		"AUTHWATCH_JWT_SECRET": secret,
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, nil, func(k string) string { return env[k] }, io.Discard, io.Discard) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("query run: %v", err)
		}
	})
	base := "http://" + env["QUERY_ADDR"]
	testenv.Eventually(t, 20*time.Second, "the service to listen", func() bool { return status(base+"/healthz", "") == http.StatusOK })
	for _, path := range []string{"/", "/dashboard/app.js", "/dashboard/style.css"} {
		if code := status(base+path, ""); code != http.StatusOK {
			t.Errorf("GET %s = %d, want 200", path, code)
		}
	}
	if page := string(getBody(base+"/", "")); !strings.Contains(page, "<title>authwatch dashboard</title>") {
		t.Errorf("GET / is not the dashboard: %.200s", page)
	}
	if code := status(base+"/api/v1/alerts", "x"); code != http.StatusServiceUnavailable {
		t.Errorf("GET /api/v1/alerts before ClickHouse = %d, want 503", code)
	}
}

// chromiumPath finds a Chromium to drive. Without one the test skips, but
// not in CI (CI=true), where it must run.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "headless-shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	msg := "no Chromium on PATH (Debian: apt-get install -y chromium)"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg + "; CI=true, so the browser test must run")
	}
	t.Skip(msg)
	return ""
}

// newBrowser starts headless Chromium for the test and closes it after.
func newBrowser(t *testing.T, path string) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox, // tests run as root in containers
		chromedp.WindowSize(1280, 1000),
	)
	actx, acancel := chromedp.NewExecAllocator(context.Background(), opts...)
	bctx, bcancel := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	tctx, tcancel := context.WithTimeout(bctx, 3*time.Minute)
	t.Cleanup(func() { tcancel(); bcancel(); acancel() })
	if err := chromedp.Do(tctx); err != nil { // starts the browser
		t.Fatalf("start %s: %v", path, err)
	}
	return tctx
}

func closeTo(s string, want float64) bool {
	var got float64
	_, err := fmt.Sscan(s, &got)
	return err == nil && got-want < 1e-9 && want-got < 1e-9
}

// dashboardWant is what the page must show for the seeded data.
type dashboardWant struct {
	logins       map[event.Status]int // per status, last 24 hours
	bruteIP      string               // most failed logins
	tokenFailIP  string               // most token failures
	lockedIP     string
	storedAlert  string
	token        string // the most used token
	tokenUses30d int
}

// seedDashboard writes a day of logins for tenant acme (a daily rhythm, some
// failures, a brute-force burst), a month of token uses, token failures and
// two stored alerts, and returns what the page must show. Every login lies
// in the last 23 hours, so the page's 24 hourly buckets hold them all even
// if the hour turns while the test runs.
func seedDashboard(t *testing.T, st *store.Store, now time.Time) dashboardWant {
	t.Helper()
	rng := rand.New(rand.NewPCG(7, 8))
	want := dashboardWant{logins: map[event.Status]int{}, bruteIP: "203.0.113.66", tokenFailIP: "198.51.100.23",
		lockedIP: "203.0.113.66", storedAlert: "stored-ip-lockout", token: "tok_live_billing"}
	agents := []string{
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
		"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15",
		"Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
	}
	ips := []string{"81.2.69.160", "81.2.69.142", "216.160.83.56", "89.160.20.112", "67.43.156.1", "2.125.160.216"}
	var evs []*event.Event
	login := func(at time.Time, status event.Status, user, ip string) {
		ev := &event.Event{ID: fmt.Sprintf("login-%05d", len(evs)), Kind: event.KindLogin, TenantID: "acme",
			UserID: user, OccurredAt: at, IPAddress: ip, UserAgent: agents[len(evs)%len(agents)], Status: status,
			Identifier: user + "@acme.example"}
		if status == event.StatusFailed || status == event.Status2FAFailed {
			ev.FailureReason = "invalid_credentials"
		}
		evs = append(evs, ev)
		want.logins[status]++
	}
	hour := now.Truncate(time.Hour)
	for k := 0; k <= 22; k++ {
		start := hour.Add(-time.Duration(k) * time.Hour)
		span := time.Hour
		if k == 0 {
			span = now.Sub(start) - time.Minute // nothing in the future
		}
		if span <= 0 {
			continue
		}
		at := func() time.Time { return start.Add(time.Duration(rng.Int64N(int64(span)))) }
		// Busy in the (UTC) working day, quiet at night.
		h := start.Hour()
		busy := 6
		if h >= 7 && h <= 19 {
			busy = 20 + 4*min(h-7, 19-h)
		}
		for i := 0; i < busy+rng.IntN(8); i++ {
			user := fmt.Sprintf("u-%03d", rng.IntN(40))
			login(at(), event.StatusSuccess, user, ips[rng.IntN(len(ips))])
			if rng.IntN(4) == 0 {
				login(at(), event.Status2FARequired, user, ips[rng.IntN(len(ips))])
			}
		}
		for i := 0; i < 1+rng.IntN(5); i++ {
			login(at(), event.StatusFailed, fmt.Sprintf("u-%03d", rng.IntN(40)), ips[rng.IntN(len(ips))])
		}
		if rng.IntN(3) == 0 {
			login(at(), event.Status2FAFailed, fmt.Sprintf("u-%03d", rng.IntN(40)), ips[rng.IntN(len(ips))])
		}
		if k == 3 || k == 4 { // a brute-force burst, then its IP is blocked
			for i := 0; i < 30; i++ {
				login(at(), event.StatusFailed, fmt.Sprintf("u-%03d", i%6), want.bruteIP)
			}
			for i := 0; i < 8; i++ {
				login(at(), event.StatusBlocked, fmt.Sprintf("u-%03d", i%6), want.bruteIP)
			}
		}
	}

	// Token events: a month of uses of two tokens, and failures.
	today := now.Truncate(24 * time.Hour)
	token := func(at time.Time, id, name string, typ event.TokenType, envr event.Environment, action event.TokenAction, ip string) {
		evs = append(evs, &event.Event{ID: fmt.Sprintf("token-%05d", len(evs)), Kind: event.KindToken, TenantID: "acme",
			UserID: "u-001", OccurredAt: at, IPAddress: ip, TokenID: id, TokenName: name, TokenType: typ,
			Environment: envr, Action: action})
	}
	for d := 0; d < 35; d++ {
		day := today.AddDate(0, 0, -d)
		span := 24 * time.Hour
		if d == 0 {
			span = now.Sub(day) - time.Minute
		}
		if span <= 0 {
			continue
		}
		for i := 0; i < 10+rng.IntN(30)+(d%7)*3; i++ {
			token(day.Add(time.Duration(rng.Int64N(int64(span)))), want.token, "billing-service", event.TokenSecret, event.EnvLive,
				event.TokenAuthenticated, ips[rng.IntN(3)])
			if d < 30 {
				want.tokenUses30d++
			}
		}
		for i := 0; i < rng.IntN(6); i++ {
			token(day.Add(time.Duration(rng.Int64N(int64(span)))), "tok_test_ci", "ci-runner", event.TokenRestricted, event.EnvTest,
				event.TokenAuthenticated, ips[3])
		}
	}
	for i := 0; i < 14; i++ {
		token(now.Add(-time.Duration(i+2)*time.Minute), want.token, "billing-service", event.TokenSecret, event.EnvLive, event.TokenFailed, want.tokenFailIP)
	}
	for i := 0; i < 4; i++ {
		token(now.Add(-time.Duration(i+30)*time.Minute), "tok_test_ci", "ci-runner", event.TokenRestricted, event.EnvTest, event.TokenIPBlocked, "198.51.100.99")
	}

	b := store.NewBatch(len(evs))
	enr := enrich.New(nil)
	for _, ev := range evs {
		if err := ev.Validate(); err != nil {
			t.Fatalf("seed %s: %v", ev.ID, err)
		}
		b.Add(ev, enr.Enrich(ev.UserAgent, ev.IPAddress), now)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := st.Insert(ctx, b); err != nil {
		t.Fatal(err)
	}
	u1, u2 := "u-003", "u-011"
	if err := st.InsertAlerts(ctx, []detect.Alert{
		{ID: want.storedAlert, TenantID: "acme", EventID: "login-burst", Rule: detect.IPLockout, Severity: detect.High,
			Reasons: []string{"5 failed logins from 203.0.113.66 in 15 minutes"}, IPAddress: want.bruteIP,
			OccurredAt: hour.Add(-3 * time.Hour), DetectedAt: hour.Add(-3 * time.Hour)},
		{ID: "stored-new-device", TenantID: "acme", UserID: &u1, EventID: "login-00012", Rule: detect.NewDevice, Severity: detect.Low,
			Reasons: []string{"first success from mobile Safari on iOS in 90 days"}, IPAddress: ips[2],
			OccurredAt: hour.Add(-5 * time.Hour), DetectedAt: hour.Add(-5 * time.Hour)},
		{ID: "stored-failures-then-success", TenantID: "acme", UserID: &u2, EventID: "login-00090", Rule: detect.FailuresThenSuccess,
			Severity: detect.Medium, Reasons: []string{"success after 4 failures in 15 minutes"}, IPAddress: ips[1],
			OccurredAt: hour.Add(-8 * time.Hour), DetectedAt: hour.Add(-8 * time.Hour)},
	}); err != nil {
		t.Fatal(err)
	}
	return want
}

// putLockout writes an active lockout the way the detector does.
func putLockout(t *testing.T, nc *nats.Conn, ip string, now time.Time) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	kv, err := js.KeyValue(ctx, bus.LockoutBucket)
	if err != nil {
		t.Fatal(err)
	}
	v, _ := json.Marshal(bus.Lockout{TenantID: "acme", IPAddress: ip, FailedAttempts: 38, LockedUntil: now.Add(12 * time.Minute).Truncate(time.Second)})
	if _, err := kv.Put(ctx, bus.LockoutKey("acme", ip), v); err != nil {
		t.Fatal(err)
	}
}
