package httpapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/authwatch/authwatch/event"
	"github.com/authwatch/authwatch/internal/bus"
	"github.com/authwatch/authwatch/internal/httpapi"
	"github.com/authwatch/authwatch/internal/testenv"
)

// lock writes a lockout to KV as the detector does (SPEC §4).
func (a *api) lock(tenant, ip string, failures int, until time.Time) {
	a.t.Helper()
	v, err := json.Marshal(bus.Lockout{TenantID: tenant, IPAddress: ip, FailedAttempts: failures, LockedUntil: until.UTC()})
	if err != nil {
		a.t.Fatal(err)
	}
	if _, err := a.kv.Put(context.Background(), bus.LockoutKey(tenant, ip), v); err != nil {
		a.t.Fatal(err)
	}
}

// lockoutStatus asks whether ip is locked and decodes either answer.
func (a *api) lockoutStatus(tok, ip string) (*http.Response, httpapi.LockoutStatus, httpapi.LockedOut) {
	a.t.Helper()
	resp, body := a.do(http.MethodGet, tok, "/api/v1/lockouts/"+ip, nil)
	var open httpapi.LockoutStatus
	var locked httpapi.LockedOut
	switch resp.StatusCode {
	case http.StatusOK:
		if err := json.Unmarshal(body, &open); err != nil {
			a.t.Fatalf("%s: %v: %s", ip, err, body)
		}
	case http.StatusTooManyRequests:
		if err := json.Unmarshal(body, &locked); err != nil {
			a.t.Fatalf("%s: %v: %s", ip, err, body)
		}
	default:
		a.t.Fatalf("GET /api/v1/lockouts/%s = %d: %s", ip, resp.StatusCode, body)
	}
	return resp, open, locked
}

func TestLockoutStatus(t *testing.T) {
	a := newAPI(t, now, withNATS())
	gateway := a.token("acme", "gateway-1") // any authenticated caller

	a.lock("acme", "203.0.113.7", 5, now.Add(5*time.Minute+200*time.Millisecond))
	a.lock("acme", "2001:db8::1", 7, now.Add(2*time.Hour)) // longer than 15 minutes: clamped
	a.lock("acme", "198.51.100.4", 5, now.Add(300*time.Millisecond))
	a.lock("acme", "192.0.2.80", 5, now.Add(-time.Second)) // over, not yet expired from KV
	a.lock("other", "192.0.2.44", 5, now.Add(10*time.Minute))

	for _, tc := range []struct {
		ip         string
		retryAfter int
	}{
		{"203.0.113.7", 301}, // 300.2 s, rounded up
		{"2001:db8::1", 900},
		{"2001:0db8:0:0::1", 900},  // the same address, written differently
		{"::ffff:198.51.100.4", 1}, // IPv4-mapped: the IPv4 lockout
		{"198.51.100.4", 1},        // 0.3 s left: at least 1
		{"2001%3Adb8%3A%3A1", 900}, // percent-encoded in the path
	} {
		resp, _, locked := a.lockoutStatus(gateway, tc.ip)
		if resp.StatusCode != http.StatusTooManyRequests {
			t.Errorf("%s: %d, want 429", tc.ip, resp.StatusCode)
			continue
		}
		if locked.RetryAfter != tc.retryAfter || locked.Message != "Too many failed login attempts. Please try again later." {
			t.Errorf("%s: %+v, want retry_after %d", tc.ip, locked, tc.retryAfter)
		}
		if h := resp.Header.Get("Retry-After"); h != strconv.Itoa(tc.retryAfter) {
			t.Errorf("%s: Retry-After %q, want %d", tc.ip, h, tc.retryAfter)
		}
	}

	// Failures of the last 15 minutes from 192.0.2.44 in acme, each event once.
	ip := "192.0.2.44"
	old := login("acme", "f-old", "alice", event.StatusFailed, ip, ago(16*time.Minute))
	f1 := login("acme", "f-1", "alice", event.StatusFailed, ip, ago(time.Minute))
	a.seed(
		f1,
		login("acme", "f-2", "bob", event.Status2FAFailed, ip, ago(5*time.Minute)),
		login("acme", "f-3", "", event.StatusFailed, ip, ago(14*time.Minute)),
		login("acme", "s-1", "alice", event.StatusSuccess, ip, ago(2*time.Minute)),
		login("acme", "b-1", "alice", event.StatusBlocked, ip, ago(3*time.Minute)),
		login("acme", "r-1", "carol", event.Status2FARequired, ip, ago(4*time.Minute)),
		old,
		login("acme", "f-elsewhere", "alice", event.StatusFailed, "192.0.2.45", ago(time.Minute)),
		login("other", "f-other", "alice", event.StatusFailed, ip, ago(time.Minute)),
	)
	a.seed(f1) // redelivered
	for _, probe := range []string{ip, "::ffff:192.0.2.44"} {
		resp, open, _ := a.lockoutStatus(gateway, probe)
		if resp.StatusCode != http.StatusOK || open != (httpapi.LockoutStatus{FailedAttempts: 3}) {
			t.Errorf("%s: %d %+v, want 200 and 3 failures", probe, resp.StatusCode, open)
		}
	}
	// Lockouts are per tenant: 192.0.2.44 is locked for "other" only.
	if resp, _, locked := a.lockoutStatus(a.token("other", "gw"), ip); resp.StatusCode != http.StatusTooManyRequests || locked.RetryAfter != 600 {
		t.Errorf("other tenant: %d %+v", resp.StatusCode, locked)
	}
	// A lockout whose time is over answers as no lockout.
	if resp, open, _ := a.lockoutStatus(gateway, "192.0.2.80"); resp.StatusCode != http.StatusOK || open.Locked || open.RetryAfter != 0 {
		t.Errorf("expired lockout: %d %+v", resp.StatusCode, open)
	}

	for _, bad := range []string{"not-an-ip", "999.1.1.1", "fe80::1%25eth0", "203.0.113.0%2F24"} {
		if errs := a.validationErrors(gateway, "/api/v1/lockouts/"+bad, nil); len(errs["ip"]) == 0 {
			t.Errorf("%s: 422 does not name ip: %v", bad, errs)
		}
	}
	if code, _ := a.get("", "/api/v1/lockouts/"+ip, nil); code != http.StatusUnauthorized {
		t.Errorf("no token: %d", code)
	}
	// A token whose tenant could be a NATS wildcard is a bad token here.
	for _, tenant := range []string{"*", "acme.>", ">"} {
		if code, _ := a.get(a.token(tenant, "x"), "/api/v1/lockouts/"+ip, nil); code != http.StatusUnauthorized {
			t.Errorf("tenant %q: %d, want 401", tenant, code)
		}
	}
}

func TestLockoutList(t *testing.T) {
	a := newAPI(t, now, withNATS())
	admin := a.token("acme", "root", "admin.audit_log")
	var got []httpapi.LockoutItem
	a.getJSON(admin, "/api/v1/lockouts", nil, &got)
	if got == nil || len(got) != 0 {
		t.Fatalf("no lockouts: %#v, want []", got)
	}

	a.lock("acme", "203.0.113.7", 5, now.Add(5*time.Minute))
	a.lock("acme", "2001:db8::1", 6, now.Add(10*time.Minute))
	a.lock("acme", "198.51.100.4", 5, now.Add(5*time.Minute))
	a.lock("acme", "192.0.2.80", 5, now.Add(-time.Second)) // over
	a.lock("other", "192.0.2.44", 5, now.Add(10*time.Minute))
	a.lock("acme-2", "192.0.2.45", 5, now.Add(10*time.Minute)) // a tenant whose name starts like acme's
	a.getJSON(admin, "/api/v1/lockouts", nil, &got)
	want := []httpapi.LockoutItem{
		{IPAddress: "2001:db8::1", FailedAttempts: 6, LockedUntil: "2026-11-23T12:10:00Z"},
		{IPAddress: "198.51.100.4", FailedAttempts: 5, LockedUntil: "2026-11-23T12:05:00Z"},
		{IPAddress: "203.0.113.7", FailedAttempts: 5, LockedUntil: "2026-11-23T12:05:00Z"},
	}
	if len(got) != len(want) {
		t.Fatalf("lockouts = %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("lockout %d = %+v, want %+v", i, got[i], want[i])
		}
	}

	if code, _ := a.get(a.token("acme", "alice"), "/api/v1/lockouts", nil); code != http.StatusForbidden {
		t.Errorf("non-admin: %d, want 403", code)
	}
	var others []httpapi.LockoutItem
	a.getJSON(a.token("other", "root", "admin.audit_log"), "/api/v1/lockouts", nil, &others)
	if len(others) != 1 || others[0].IPAddress != "192.0.2.44" {
		t.Errorf("other tenant: %+v", others)
	}
}

func TestLockoutDelete(t *testing.T) {
	a := newAPI(t, now, withNATS())
	admin := a.token("acme", "root", "admin.audit_log")
	ip := "203.0.113.7"
	a.lock("acme", ip, 5, now.Add(10*time.Minute))
	a.lock("other", ip, 5, now.Add(10*time.Minute))
	a.seed(login("acme", "f-1", "alice", event.StatusFailed, ip, ago(time.Minute)))

	// A watcher (the detector) sees the unlock.
	ctx := context.Background()
	w, err := a.kv.Watch(ctx, bus.LockoutKey("acme", ip), jetstream.UpdatesOnly())
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()

	if resp, _ := a.do(http.MethodDelete, a.token("acme", "alice"), "/api/v1/lockouts/"+ip, nil); resp.StatusCode != http.StatusForbidden {
		t.Errorf("non-admin DELETE: %d, want 403", resp.StatusCode)
	}
	if resp, body := a.do(http.MethodDelete, admin, "/api/v1/lockouts/"+ip, nil); resp.StatusCode != http.StatusNoContent || len(body) != 0 {
		t.Fatalf("DELETE = %d %q, want 204", resp.StatusCode, body)
	}
	select {
	case e := <-w.Updates():
		if e == nil || e.Operation() != jetstream.KeyValuePurge {
			t.Errorf("watcher saw %v, want a purge", e)
		}
	case <-time.After(10 * time.Second):
		t.Error("the watcher saw no unlock")
	}
	if resp, open, _ := a.lockoutStatus(admin, ip); resp.StatusCode != http.StatusOK || open.FailedAttempts != 1 {
		t.Errorf("after DELETE: %d %+v, want 200 with 1 failure", resp.StatusCode, open)
	}
	// Another tenant's lockout of the same IP stays.
	if resp, _, _ := a.lockoutStatus(a.token("other", "gw"), ip); resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("other tenant after acme's DELETE: %d, want 429", resp.StatusCode)
	}
	// Idempotent: an IP that is not locked answers 204, and is recorded too.
	if resp, _ := a.do(http.MethodDelete, admin, "/api/v1/lockouts/::ffff:198.51.100.4", nil); resp.StatusCode != http.StatusNoContent {
		t.Errorf("DELETE of an unlocked IP: %d, want 204", resp.StatusCode)
	}
	if errs := a.validationErrorsOf(http.MethodDelete, admin, "/api/v1/lockouts/nope", nil); len(errs["ip"]) == 0 {
		t.Errorf("DELETE of a bad ip: %v", errs)
	}

	log, err := a.store.AuditLog(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if len(log) != 2 {
		t.Fatalf("audit log = %+v, want 2 rows", log)
	}
	byTarget := map[string]int{}
	for i, e := range log {
		byTarget[e.Target] = i
		if e.Actor != "root" || e.Action != "lockout_delete" || e.TenantID != "acme" || !e.At.Equal(now) {
			t.Errorf("audit row %+v", e)
		}
	}
	locked, unlocked := log[byTarget[ip]], log[byTarget["198.51.100.4"]]
	if !strings.Contains(locked.Detail, `"locked_until":"2026-11-23T12:10:00Z"`) || unlocked.Detail != "" {
		t.Errorf("details: %q and %q", locked.Detail, unlocked.Detail)
	}
	if other, err := a.store.AuditLog(ctx, "other"); err != nil || len(other) != 0 {
		t.Errorf("other tenant's audit log: %+v %v", other, err)
	}
}

// Without NATS the lockout routes and the alert stream answer 503 with a
// JSON message, and the ClickHouse routes serve as usual; when NATS comes
// back, so do they.
func TestNATSUnavailable(t *testing.T) {
	admin := func(a *api) string { return a.token("acme", "root", "admin.audit_log") }
	check503 := func(t *testing.T, a *api) {
		t.Helper()
		for _, r := range []struct{ method, path string }{
			{http.MethodGet, "/api/v1/lockouts/203.0.113.7"},
			{http.MethodGet, "/api/v1/lockouts"},
			{http.MethodDelete, "/api/v1/lockouts/203.0.113.7"},
			{http.MethodGet, "/api/v1/alerts/stream"},
		} {
			resp, body := a.do(r.method, admin(a), r.path, nil)
			var e struct{ Message string }
			if resp.StatusCode != http.StatusServiceUnavailable || json.Unmarshal(body, &e) != nil || !strings.Contains(e.Message, "NATS") ||
				resp.Header.Get("Retry-After") == "" {
				t.Errorf("%s %s = %d %s (Retry-After %q), want 503 naming NATS", r.method, r.path, resp.StatusCode, body, resp.Header.Get("Retry-After"))
			}
		}
		if code, body := a.get(admin(a), "/api/v1/alerts", nil); code != http.StatusOK {
			t.Errorf("alerts list without NATS: %d %s", code, body)
		}
	}

	t.Run("never configured", func(t *testing.T) {
		check503(t, newAPI(t, now))
	})
	t.Run("down, then back", func(t *testing.T) {
		a := newAPI(t, now, withNATS())
		a.lock("acme", "203.0.113.7", 5, now.Add(time.Minute))
		a.nats.Stop()
		testenv.Eventually(t, 10*time.Second, "the API to notice NATS is gone", func() bool {
			code, _ := a.get(admin(a), "/api/v1/lockouts", nil)
			return code == http.StatusServiceUnavailable
		})
		check503(t, a)
		a.nats.Start()
		testenv.Eventually(t, 10*time.Second, "the lockout routes to answer again", func() bool {
			code, _ := a.get(admin(a), "/api/v1/lockouts/203.0.113.7", nil)
			return code == http.StatusTooManyRequests
		})
	})
}
