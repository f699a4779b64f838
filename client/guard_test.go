package client_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/authwatch/authwatch/client"
	"github.com/authwatch/authwatch/event"
)

// lockedBody is the 429 body of SPEC §3 for n seconds.
func lockedBody(n int) string {
	return `{"message":"Too many failed login attempts. Please try again later.","retry_after":` + strconv.Itoa(n) + `}`
}

// checkLocked checks a 429 answer of SPEC §3 and returns its retry_after.
func checkLocked(t *testing.T, resp *http.Response) int {
	t.Helper()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("status %d, want 429 (body %s)", resp.StatusCode, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	n, err := strconv.Atoi(resp.Header.Get("Retry-After"))
	if err != nil || n < 1 || n > 900 {
		t.Fatalf("Retry-After %q, want whole seconds 1-900", resp.Header.Get("Retry-After"))
	}
	if string(body) != lockedBody(n) {
		t.Errorf("body %s\nwant %s", body, lockedBody(n))
	}
	return n
}

func TestMiddlewareRefusesALockedIP(t *testing.T) {
	_, nc, js := setup(t)
	kv := createLockoutBucket(t, js)
	lock(t, kv, "acme", "203.0.113.7", time.Now().Add(10*time.Minute), 0)
	lockouts := newLockouts(t, nc, client.LockoutsConfig{})
	waitReady(t, lockouts)

	var refused []netip.Addr
	guard := &client.LoginGuard{
		Lockouts: lockouts,
		Tenant:   func(r *http.Request) string { return r.Header.Get("X-Tenant") },
		OnLocked: func(r *http.Request, ip netip.Addr, _ time.Duration) { refused = append(refused, ip) },
	}
	ran := 0
	h := guard.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ran++
		w.WriteHeader(http.StatusNoContent)
	}))
	do := func(tenant, remote string) *http.Response {
		r := httptest.NewRequest("POST", "/login", strings.NewReader(`{}`))
		r.Header.Set("X-Tenant", tenant)
		r.RemoteAddr = remote
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w.Result()
	}

	resp := do("acme", "203.0.113.7:4711")
	if n := checkLocked(t, resp); n < 599 || n > 600 {
		t.Errorf("retry_after %d, want 600 (599 on a slow run)", n)
	}
	if resp := do("acme", "[::ffff:203.0.113.7]:4711"); resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("the IPv4-mapped form of a locked IP: status %d", resp.StatusCode)
	}
	if ran != 0 {
		t.Errorf("the handler ran %d times for a locked IP", ran)
	}
	if len(refused) != 2 || refused[0].String() != "203.0.113.7" {
		t.Errorf("OnLocked saw %v", refused)
	}
	for _, tt := range []struct{ tenant, remote string }{
		{"acme", "203.0.113.8:4711"},   // another IP
		{"globex", "203.0.113.7:4711"}, // another tenant
		{"", "203.0.113.7:4711"},       // no tenant: let through
		{"acme", "somewhere"},          // no IP: let through
	} {
		if resp := do(tt.tenant, tt.remote); resp.StatusCode != http.StatusNoContent {
			t.Errorf("tenant %q, peer %q: status %d, want the handler's 204", tt.tenant, tt.remote, resp.StatusCode)
		}
	}
	if ran != 4 {
		t.Errorf("the handler ran %d times, want 4", ran)
	}

	// Without a Lockouts the guard lets everything through.
	open := (&client.LoginGuard{TenantID: "acme"}).Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	}))
	w := httptest.NewRecorder()
	open.ServeHTTP(w, httptest.NewRequest("POST", "/login", nil))
	if w.Code != http.StatusNoContent {
		t.Errorf("no Lockouts: status %d", w.Code)
	}
}

func TestRetryAfterSeconds(t *testing.T) {
	for _, tt := range []struct {
		d    time.Duration
		want int
	}{
		{0, 1},
		{-time.Second, 1},
		{time.Nanosecond, 1},
		{time.Second, 1},
		{time.Second + time.Millisecond, 2},
		{61 * time.Second, 61},
		{900 * time.Second, 900},
		{901 * time.Second, 900},
		{time.Hour, 900},
	} {
		if got := client.RetryAfterSeconds(tt.d); got != tt.want {
			t.Errorf("RetryAfterSeconds(%v) = %d, want %d", tt.d, got, tt.want)
		}
	}
	w := httptest.NewRecorder()
	client.WriteLocked(w, 1500*time.Millisecond)
	if w.Code != 429 || w.Header().Get("Retry-After") != "2" || w.Body.String() != lockedBody(2) {
		t.Errorf("WriteLocked: %d %v %s", w.Code, w.Header(), w.Body)
	}
}

var ulidPattern = regexp.MustCompile(`^[0-7][0-9A-HJKMNP-TV-Z]{25}$`)

func TestRecordLogin(t *testing.T) {
	_, nc, js := setup(t)
	s := createStream(t, js, 0)
	pub := newPublisher(t, nc)
	fromProxy, err := client.TrustedProxies("10.0.0.0/8")
	if err != nil {
		t.Fatal(err)
	}
	guard := &client.LoginGuard{Publisher: pub, TenantID: "acme", ClientIP: fromProxy}

	longUA := strings.Repeat("é", 600) // 1200 bytes: cut to 1024 at a character boundary
	attempts := []struct {
		ua string
		a  client.LoginAttempt
	}{
		{"Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0", client.LoginAttempt{
			Status: event.StatusSuccess, UserID: "usr_1", Identifier: "ada@acme.example",
			User: &event.UserProfile{Name: "Ada", Email: "ada@acme.example"}, Metadata: map[string]string{"method": "password"}}},
		{longUA, client.LoginAttempt{Status: event.StatusFailed, Identifier: "nobody@acme.example", FailureReason: "unknown account"}},
		{"", client.LoginAttempt{Status: event.StatusFailed, UserID: "usr_1", FailureReason: "wrong password"}},
		{"", client.LoginAttempt{Status: event.StatusBlocked, UserID: "usr_1", FailureReason: "account disabled"}},
		{"", client.LoginAttempt{Status: event.Status2FARequired, UserID: "usr_1"}},
		{"", client.LoginAttempt{Status: event.Status2FAFailed, UserID: "usr_1", FailureReason: "wrong code"}},
	}
	before := time.Now().UTC()
	for _, at := range attempts {
		r := httptest.NewRequest("POST", "/login", nil)
		r.RemoteAddr = "10.0.0.2:3456"
		r.Header.Set("X-Forwarded-For", "2001:DB8::7")
		r.Header.Set("User-Agent", at.ua)
		if err := guard.RecordLogin(r, at.a); err != nil {
			t.Fatalf("record %s: %v", at.a.Status, err)
		}
	}
	// An attempt the event contract refuses is reported, not published.
	r := httptest.NewRequest("POST", "/login", nil)
	if err := guard.RecordLogin(r, client.LoginAttempt{Status: event.StatusSuccess}); err == nil {
		t.Error("a success without a user id was accepted")
	}
	if err := (&client.LoginGuard{TenantID: "acme"}).RecordLogin(r, attempts[0].a); err != client.ErrNoPublisher {
		t.Errorf("without a Publisher: %v", err)
	}
	if err := closeWithin(t, pub, 10*time.Second); err != nil {
		t.Fatal(err)
	}

	msgs := readStream(t, s)
	if len(msgs) != len(attempts) {
		t.Fatalf("stream holds %d events, want %d", len(msgs), len(attempts))
	}
	ids := map[string]bool{}
	for i, m := range msgs {
		ev, a := m.ev, attempts[i].a
		if !ulidPattern.MatchString(ev.ID) || m.msgID != ev.ID || ids[ev.ID] {
			t.Errorf("%d: id %q (Nats-Msg-Id %q): want a new ULID", i, ev.ID, m.msgID)
		}
		ids[ev.ID] = true
		if ev.Kind != event.KindLogin || ev.TenantID != "acme" || m.subject != "auth.events.acme.login" {
			t.Errorf("%d: kind %s tenant %s subject %s", i, ev.Kind, ev.TenantID, m.subject)
		}
		if ev.IPAddress != "2001:db8::7" {
			t.Errorf("%d: ip %q, want the client's behind the trusted proxy, canonical", i, ev.IPAddress)
		}
		if ev.OccurredAt.Before(before.Add(-time.Second)) || ev.OccurredAt.After(time.Now()) || ev.OccurredAt.Location() != time.UTC {
			t.Errorf("%d: occurred_at %v", i, ev.OccurredAt)
		}
		if ev.Status != a.Status || ev.UserID != a.UserID || ev.Identifier != a.Identifier || ev.FailureReason != a.FailureReason {
			t.Errorf("%d: %+v does not carry %+v", i, ev, a)
		}
		// Every event is one the pipeline accepts as it is.
		raw, _ := s.GetMsg(t.Context(), uint64(i+1))
		if _, err := event.Decode(raw.Subject, raw.Data); err != nil {
			t.Errorf("%d: the pipeline would refuse it: %v", i, err)
		}
	}
	if got := msgs[0].ev; got.UserAgent != attempts[0].ua || got.User == nil || got.User.Name != "Ada" || got.Metadata["method"] != "password" {
		t.Errorf("first event lost fields: %+v", got)
	}
	if got := msgs[1].ev.UserAgent; got != strings.Repeat("é", 512) {
		t.Errorf("long user agent kept %d bytes, want 1024", len(got))
	}
}

func TestNewEventID(t *testing.T) {
	seen := map[string]bool{}
	prev := ""
	for i := range 10000 {
		id := client.NewEventID()
		if !ulidPattern.MatchString(id) {
			t.Fatalf("%q is not a ULID", id)
		}
		if seen[id] {
			t.Fatalf("%q twice", id)
		}
		seen[id] = true
		if i > 0 && id[:10] < prev[:10] {
			t.Fatalf("%q sorts before the earlier %q", id, prev)
		}
		prev = id
		ev := loginEvent(i)
		ev.ID = id
		if err := ev.Validate(); err != nil {
			t.Fatalf("%q is not a valid event id: %v", id, err)
		}
	}
}
