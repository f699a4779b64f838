package httpapi_test

import (
	"context"
	"encoding/csv"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/authwatch/authwatch/event"
	"github.com/authwatch/authwatch/internal/httpapi"
	"github.com/authwatch/authwatch/internal/store"
)

// The analytics clock: 14:30 UTC, so 14:00 is the open hour, 13:00 closed
// half an hour ago, and 20 November the open day.
var anNow = time.Date(2026, 11, 20, 14, 30, 0, 0, time.UTC)

func anAt(month time.Month, d, h, m, s int) time.Time {
	return time.Date(2026, month, d, h, m, s, 0, time.UTC)
}

type loginAnalytics = httpapi.Analytics[httpapi.LoginAnalyticsBucket]
type tokenAnalytics = httpapi.Analytics[httpapi.TokenAnalyticsBucket]

const adminPerm = "admin.audit_log"

func anToken(tenant, id, user, tok string, action event.TokenAction, env event.Environment, at time.Time) *event.Event {
	ev := tokenEvent(tenant, id, user, tok, action, "192.0.2.1", at)
	ev.Environment = env
	return ev
}

// seedAnalytics writes tenant acme's logins and token events around anNow,
// redelivered copies included, and a neighbour tenant that must not count.
func seedAnalytics(t *testing.T, a *api) {
	t.Helper()
	logins := []*event.Event{
		login("acme", "l-open-1", "alice", event.StatusSuccess, "81.2.69.10", anAt(11, 20, 14, 10, 0)),
		login("acme", "l-open-2", "bob", event.StatusFailed, "89.160.20.1", anAt(11, 20, 14, 11, 0)),
		login("acme", "l-13-1", "alice", event.StatusSuccess, "81.2.69.10", anAt(11, 20, 13, 20, 0)),
		login("acme", "l-13-2", "alice", event.Status2FARequired, "81.2.69.10", anAt(11, 20, 13, 21, 0)),
		login("acme", "l-13-3", "", event.StatusFailed, "198.51.100.9", anAt(11, 20, 13, 59, 59)), // unknown account
		login("acme", "l-09", "carol", event.StatusBlocked, "203.0.113.7", anAt(11, 20, 9, 5, 0)),
		login("acme", "l-19-late", "alice", event.Status2FAFailed, "81.2.69.10", anAt(11, 19, 23, 59, 59)),
		login("acme", "l-19-early", "bob", event.StatusSuccess, "89.160.20.1", anAt(11, 19, 0, 0, 0)),
		login("acme", "l-10", "alice", event.StatusSuccess, "81.2.69.10", anAt(11, 10, 12, 0, 0)),
		login("acme", "l-01", "dave", event.StatusSuccess, "81.2.69.11", anAt(11, 1, 8, 0, 0)),
		login("acme", "l-oct21", "dave", event.StatusSuccess, "81.2.69.11", anAt(10, 21, 8, 0, 0)), // before the default 30 days
		login("globex", "g-1", "alice", event.StatusSuccess, "81.2.69.10", anAt(11, 20, 13, 0, 0)),
	}
	tokens := []*event.Event{
		anToken("acme", "t-auth-live", "alice", "tok_a", event.TokenAuthenticated, event.EnvLive, anAt(11, 20, 14, 5, 0)),
		anToken("acme", "t-auth-test", "bob", "tok_b", event.TokenAuthenticated, event.EnvTest, anAt(11, 20, 14, 6, 0)),
		anToken("acme", "t-failed", "alice", "tok_a", event.TokenFailed, event.EnvLive, anAt(11, 20, 13, 30, 0)),
		anToken("acme", "t-created", "carol", "tok_c", event.TokenCreated, event.EnvLive, anAt(11, 20, 13, 31, 0)),
		anToken("acme", "t-revoked", "carol", "tok_c", event.TokenRevoked, event.EnvLive, anAt(11, 20, 13, 40, 0)),
		anToken("acme", "t-rate", "alice", "tok_a", event.TokenRateLimited, event.EnvLive, anAt(11, 19, 10, 0, 0)),
		anToken("acme", "t-expired", "alice", "tok_a", event.TokenExpired, event.EnvLive, anAt(11, 19, 10, 30, 0)),
		anToken("acme", "t-ipb", "bob", "tok_b", event.TokenIPBlocked, event.EnvTest, anAt(11, 18, 1, 0, 0)),
		anToken("acme", "t-domb", "bob", "tok_b", event.TokenDomainBlocked, event.EnvTest, anAt(11, 18, 1, 0, 1)),
		anToken("acme", "t-rot", "alice", "tok_a", event.TokenRotated, event.EnvLive, anAt(11, 5, 6, 0, 0)),
		anToken("acme", "t-auth-old", "bob", "tok_b", event.TokenAuthenticated, event.EnvTest, anAt(11, 5, 6, 30, 0)),
		anToken("globex", "g-t", "alice", "tok_a", event.TokenAuthenticated, event.EnvLive, anAt(11, 20, 14, 5, 0)),
	}
	a.seed(append(logins, tokens...)...)
	// Redelivered copies: each id counts once.
	a.seed(logins[1], logins[8], tokens[0], tokens[10])
}

func findLoginBucket(t *testing.T, got loginAnalytics, start string) httpapi.LoginAnalyticsBucket {
	t.Helper()
	for _, b := range got.Buckets {
		if b.Bucket == start {
			return b
		}
	}
	t.Fatalf("no bucket %s", start)
	return httpapi.LoginAnalyticsBucket{}
}

func findTokenBucket(t *testing.T, got tokenAnalytics, start string) httpapi.TokenAnalyticsBucket {
	t.Helper()
	for _, b := range got.Buckets {
		if b.Bucket == start {
			return b
		}
	}
	t.Fatalf("no bucket %s", start)
	return httpapi.TokenAnalyticsBucket{}
}

// checkSeries asserts one bucket per step from first, oldest first.
func checkSeries(t *testing.T, starts []string, first time.Time, step time.Duration, n int) {
	t.Helper()
	if len(starts) != n {
		t.Fatalf("%d buckets, want %d", len(starts), n)
	}
	for i, s := range starts {
		if want := first.Add(time.Duration(i) * step).Format(time.RFC3339); s != want {
			t.Fatalf("bucket %d = %s, want %s", i, s, want)
		}
	}
}

func loginStarts(got loginAnalytics) []string {
	out := make([]string, len(got.Buckets))
	for i, b := range got.Buckets {
		out[i] = b.Bucket
	}
	return out
}

func tokenStarts(got tokenAnalytics) []string {
	out := make([]string, len(got.Buckets))
	for i, b := range got.Buckets {
		out[i] = b.Bucket
	}
	return out
}

// wantLoginsByDay are acme's non-zero days.
var wantLoginsByDay = map[string]httpapi.LoginAnalyticsBucket{
	"2026-11-20T00:00:00Z": {Success: 2, Failed: 2, Blocked: 1, TwoFARequired: 1, UniqueUsers: 3, UniqueIPs: 4},
	"2026-11-19T00:00:00Z": {Success: 1, TwoFAFailed: 1, UniqueUsers: 2, UniqueIPs: 2},
	"2026-11-10T00:00:00Z": {Success: 1, UniqueUsers: 1, UniqueIPs: 1},
	"2026-11-01T00:00:00Z": {Success: 1, UniqueUsers: 1, UniqueIPs: 1},
}

var wantLoginsByHour = map[string]httpapi.LoginAnalyticsBucket{
	"2026-11-20T14:00:00Z": {Success: 1, Failed: 1, UniqueUsers: 2, UniqueIPs: 2},
	"2026-11-20T13:00:00Z": {Success: 1, Failed: 1, TwoFARequired: 1, UniqueUsers: 1, UniqueIPs: 2},
	"2026-11-20T09:00:00Z": {Blocked: 1, UniqueUsers: 1, UniqueIPs: 1},
	"2026-11-19T23:00:00Z": {TwoFAFailed: 1, UniqueUsers: 1, UniqueIPs: 1},
	"2026-11-19T00:00:00Z": {Success: 1, UniqueUsers: 1, UniqueIPs: 1},
}

func checkLoginBuckets(t *testing.T, got loginAnalytics, want map[string]httpapi.LoginAnalyticsBucket) {
	t.Helper()
	for _, b := range got.Buckets {
		w := want[b.Bucket] // zero when not listed
		w.Bucket = b.Bucket
		if b != w {
			t.Errorf("bucket %s = %+v, want %+v", b.Bucket, b, w)
		}
	}
}

var wantTokensByDay = map[string]httpapi.TokenAnalyticsBucket{
	"2026-11-20T00:00:00Z": {Authenticated: 2, Failed: 1, Created: 1, Revoked: 1, UniqueTokens: 3,
		ByEnvironment: httpapi.EnvironmentUses{Test: 1, Live: 1}},
	"2026-11-19T00:00:00Z": {RateLimited: 1, Expired: 1, UniqueTokens: 1},
	"2026-11-18T00:00:00Z": {IPBlocked: 1, DomainBlocked: 1, UniqueTokens: 1},
	"2026-11-05T00:00:00Z": {Rotated: 1, Authenticated: 1, UniqueTokens: 2, ByEnvironment: httpapi.EnvironmentUses{Test: 1}},
}

var wantTokensByHour = map[string]httpapi.TokenAnalyticsBucket{
	"2026-11-20T14:00:00Z": {Authenticated: 2, UniqueTokens: 2, ByEnvironment: httpapi.EnvironmentUses{Test: 1, Live: 1}},
	"2026-11-20T13:00:00Z": {Failed: 1, Created: 1, Revoked: 1, UniqueTokens: 2},
	"2026-11-19T10:00:00Z": {RateLimited: 1, Expired: 1, UniqueTokens: 1},
	"2026-11-18T01:00:00Z": {IPBlocked: 1, DomainBlocked: 1, UniqueTokens: 1},
}

func checkTokenBuckets(t *testing.T, got tokenAnalytics, want map[string]httpapi.TokenAnalyticsBucket) {
	t.Helper()
	for _, b := range got.Buckets {
		w := want[b.Bucket]
		w.Bucket = b.Bucket
		if b != w {
			t.Errorf("bucket %s = %+v, want %+v", b.Bucket, b, w)
		}
	}
}

func TestAnalyticsLoginsByDayDefaults(t *testing.T) {
	a := newAPI(t, anNow)
	seedAnalytics(t, a)
	admin := a.token("acme", "root", adminPerm)

	var got loginAnalytics
	a.getJSON(admin, "/api/v1/analytics/logins", nil, &got) // interval defaults to day
	if got.Interval != "day" {
		t.Errorf("interval = %q, want day", got.Interval)
	}
	// The last 30 days ending today: 22 October – 20 November.
	checkSeries(t, loginStarts(got), anAt(10, 22, 0, 0, 0), 24*time.Hour, 30)
	checkLoginBuckets(t, got, wantLoginsByDay)

	// The same with interval=day spelled out, and a range reaching back to 21 October.
	var explicit loginAnalytics
	a.getJSON(admin, "/api/v1/analytics/logins", url.Values{"interval": {"day"}, "from": {"2026-10-21"}, "to": {"2026-10-23"}}, &explicit)
	checkSeries(t, loginStarts(explicit), anAt(10, 21, 0, 0, 0), 24*time.Hour, 3)
	checkLoginBuckets(t, explicit, map[string]httpapi.LoginAnalyticsBucket{
		"2026-10-21T00:00:00Z": {Success: 1, UniqueUsers: 1, UniqueIPs: 1},
	})
}

func TestAnalyticsLoginsByHour(t *testing.T) {
	a := newAPI(t, anNow)
	seedAnalytics(t, a)
	admin := a.token("acme", "root", adminPerm)

	var got loginAnalytics
	a.getJSON(admin, "/api/v1/analytics/logins", url.Values{"interval": {"hour"}}, &got)
	if got.Interval != "hour" {
		t.Errorf("interval = %q, want hour", got.Interval)
	}
	// The last 7 days ending today, every hour of them (the rest of today too).
	checkSeries(t, loginStarts(got), anAt(11, 14, 0, 0, 0), time.Hour, 7*24)
	checkLoginBuckets(t, got, wantLoginsByHour)

	// One day by hour: 24 buckets.
	var one loginAnalytics
	a.getJSON(admin, "/api/v1/analytics/logins", url.Values{"interval": {"hour"}, "from": {"2026-11-19"}, "to": {"2026-11-19"}}, &one)
	checkSeries(t, loginStarts(one), anAt(11, 19, 0, 0, 0), time.Hour, 24)
	if b := findLoginBucket(t, one, "2026-11-19T23:00:00Z"); b.TwoFAFailed != 1 {
		t.Errorf("23:00 = %+v", b)
	}
}

func TestAnalyticsTokens(t *testing.T) {
	a := newAPI(t, anNow)
	seedAnalytics(t, a)
	admin := a.token("acme", "root", adminPerm)

	var byDay tokenAnalytics
	a.getJSON(admin, "/api/v1/analytics/tokens", url.Values{"interval": {"day"}}, &byDay)
	checkSeries(t, tokenStarts(byDay), anAt(10, 22, 0, 0, 0), 24*time.Hour, 30)
	checkTokenBuckets(t, byDay, wantTokensByDay)

	var byHour tokenAnalytics
	a.getJSON(admin, "/api/v1/analytics/tokens", url.Values{"interval": {"hour"}}, &byHour)
	if byHour.Interval != "hour" {
		t.Errorf("interval = %q", byHour.Interval)
	}
	checkSeries(t, tokenStarts(byHour), anAt(11, 14, 0, 0, 0), time.Hour, 7*24)
	checkTokenBuckets(t, byHour, wantTokensByHour)

	// The other tenant sees only its own.
	var other tokenAnalytics
	a.getJSON(a.token("globex", "root", adminPerm), "/api/v1/analytics/tokens", url.Values{"from": {"2026-11-20"}, "to": {"2026-11-20"}}, &other)
	if b := findTokenBucket(t, other, "2026-11-20T00:00:00Z"); b.Authenticated != 1 || b.UniqueTokens != 1 || b.ByEnvironment.Live != 1 {
		t.Errorf("globex = %+v", b)
	}
}

func TestAnalyticsValidation(t *testing.T) {
	a := newAPI(t, anNow)
	admin := a.token("acme", "root", adminPerm)
	for _, path := range []string{"/api/v1/analytics/logins", "/api/v1/analytics/tokens"} {
		tests := []struct {
			q     url.Values
			param string // "" = accepted
		}{
			{url.Values{"interval": {"week"}}, "interval"},
			{url.Values{"interval": {"HOUR"}}, "interval"},
			{url.Values{"interval": {"hour"}, "from": {"2026-10-01"}, "to": {"2026-10-31"}}, ""},     // 31 days
			{url.Values{"interval": {"hour"}, "from": {"2026-10-01"}, "to": {"2026-11-01"}}, "from"}, // 32 days
			{url.Values{"interval": {"hour"}, "from": {"2026-10-01"}}, "from"},                       // to = today: 51 days
			{url.Values{"interval": {"day"}, "from": {"2025-10-17"}, "to": {"2026-11-20"}}, ""},      // 400 days
			{url.Values{"interval": {"day"}, "from": {"2025-10-16"}, "to": {"2026-11-20"}}, "from"},  // 401 days
			{url.Values{"from": {"2026-11-10"}, "to": {"2026-11-09"}}, "from"},
			{url.Values{"from": {"2026-11-21"}}, "from"}, // after today, the default to
			{url.Values{"from": {"2026-11-20"}, "to": {"2026-11-20"}}, ""},
			{url.Values{"to": {"2026-11-3"}}, "to"},
			{url.Values{"from": {"yesterday"}}, "from"},
		}
		for _, tt := range tests {
			if tt.param == "" {
				if code, body := a.get(admin, path, tt.q); code != http.StatusOK {
					t.Errorf("%s?%s = %d: %s", path, tt.q.Encode(), code, body)
				}
				continue
			}
			errs := a.validationErrors(admin, path, tt.q)
			if len(errs[tt.param]) == 0 {
				t.Errorf("%s?%s: errors %v do not name %s", path, tt.q.Encode(), errs, tt.param)
			}
		}
	}
}

func TestAnalyticsNeedsAdmin(t *testing.T) {
	a := newAPI(t, anNow)
	for _, path := range []string{"/api/v1/analytics/logins", "/api/v1/analytics/tokens"} {
		if code, _ := a.get(a.token("acme", "alice"), path, nil); code != http.StatusForbidden {
			t.Errorf("%s as a plain user = %d, want 403", path, code)
		}
		if code, _ := a.get("", path, nil); code != http.StatusUnauthorized {
			t.Errorf("%s without a token = %d, want 401", path, code)
		}
	}
}

func TestAnalyticsCSV(t *testing.T) {
	a := newAPI(t, anNow)
	seedAnalytics(t, a)
	admin := a.token("acme", "root", adminPerm)
	q := url.Values{"from": {"2026-11-19"}, "to": {"2026-11-20"}}

	code, body := a.get(admin, "/api/v1/analytics/logins", q, "Accept", "text/csv")
	if code != http.StatusOK {
		t.Fatalf("logins CSV = %d: %s", code, body)
	}
	rows, err := csv.NewReader(strings.NewReader(string(body))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	want := [][]string{
		{"bucket", "success", "failed", "blocked", "2fa_required", "2fa_failed", "unique_users", "unique_ips"},
		{"2026-11-19T00:00:00Z", "1", "0", "0", "0", "1", "2", "2"},
		{"2026-11-20T00:00:00Z", "2", "2", "1", "1", "0", "3", "4"},
	}
	if !reflect.DeepEqual(rows, want) {
		t.Errorf("logins CSV = %q, want %q", rows, want)
	}

	code, body = a.get(admin, "/api/v1/analytics/tokens", q, "Accept", "text/csv")
	if code != http.StatusOK {
		t.Fatalf("tokens CSV = %d: %s", code, body)
	}
	rows, err = csv.NewReader(strings.NewReader(string(body))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	want = [][]string{
		{"bucket", "authenticated", "failed", "expired", "ip_blocked", "domain_blocked", "rate_limited", "created",
			"rotated", "revoked", "unique_tokens", "by_environment.test", "by_environment.live"},
		{"2026-11-19T00:00:00Z", "0", "0", "1", "0", "0", "1", "0", "0", "0", "1", "0", "0"},
		{"2026-11-20T00:00:00Z", "2", "1", "0", "0", "0", "0", "1", "0", "1", "3", "1", "1"},
	}
	if !reflect.DeepEqual(rows, want) {
		t.Errorf("tokens CSV = %q, want %q", rows, want)
	}
}

// TestAnalyticsRollup: the rollup job changes how the answer is computed,
// never the answer; a late event in a rolled-up bucket is counted after
// the next run.
func TestAnalyticsRollup(t *testing.T) {
	a := newAPI(t, anNow)
	seedAnalytics(t, a)
	admin := a.token("acme", "root", adminPerm)
	ctx := context.Background()

	queries := []url.Values{
		{"interval": {"day"}},
		{"interval": {"hour"}},
		{"interval": {"day"}, "from": {"2026-01-01"}, "to": {"2026-12-31"}},
		{"interval": {"hour"}, "from": {"2026-10-21"}, "to": {"2026-11-20"}},
	}
	snapshot := func() []string {
		var out []string
		for _, path := range []string{"/api/v1/analytics/logins", "/api/v1/analytics/tokens"} {
			for _, q := range queries {
				code, body := a.get(admin, path, q)
				if code != http.StatusOK {
					t.Fatalf("%s?%s = %d: %s", path, q.Encode(), code, body)
				}
				out = append(out, string(body))
			}
		}
		return out
	}
	live := snapshot()

	job := store.NewRollup(a.store, store.RollupConfig{})
	if err := job.RunOnce(ctx, anNow); err != nil {
		t.Fatal(err)
	}
	var rolled uint64
	if err := a.store.Conn().QueryRow(ctx, "SELECT count() FROM login_rollup_daily WHERE tenant_id = 'acme'").Scan(&rolled); err != nil {
		t.Fatal(err)
	}
	if rolled == 0 {
		t.Fatal("the rollup job wrote no daily login rows")
	}
	if after := snapshot(); !reflect.DeepEqual(after, live) {
		t.Errorf("answers changed with the rollup:\nlive:   %v\nrolled: %v", live, after)
	}
	// A second run (recomputing the lateness window) changes nothing either.
	if err := job.RunOnce(ctx, anNow.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if after := snapshot(); !reflect.DeepEqual(after, live) {
		t.Errorf("answers changed after a second run")
	}

	// Late events: ten days late into a day and an hour rolled up long ago,
	// and into 13:00 today (closed, rolled up, within the lateness allowance).
	a.seed(
		login("acme", "late-10", "erin", event.StatusFailed, "192.0.2.99", anAt(11, 10, 12, 30, 0)),
		login("acme", "late-13", "erin", event.StatusSuccess, "192.0.2.99", anAt(11, 20, 13, 45, 0)),
		anToken("acme", "late-t", "erin", "tok_z", event.TokenAuthenticated, event.EnvLive, anAt(11, 5, 6, 59, 0)),
	)
	if err := job.RunOnce(ctx, anNow.Add(2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	var byDay loginAnalytics
	a.getJSON(admin, "/api/v1/analytics/logins", url.Values{"interval": {"day"}}, &byDay)
	if b := findLoginBucket(t, byDay, "2026-11-10T00:00:00Z"); b.Success != 1 || b.Failed != 1 || b.UniqueUsers != 2 || b.UniqueIPs != 2 {
		t.Errorf("10 November after a late event = %+v", b)
	}
	if b := findLoginBucket(t, byDay, "2026-11-20T00:00:00Z"); b.Success != 3 || b.UniqueUsers != 4 {
		t.Errorf("20 November after a late event = %+v", b)
	}
	var byHour loginAnalytics
	a.getJSON(admin, "/api/v1/analytics/logins", url.Values{"interval": {"hour"}, "from": {"2026-11-10"}, "to": {"2026-11-10"}}, &byHour)
	if b := findLoginBucket(t, byHour, "2026-11-10T12:00:00Z"); b.Success != 1 || b.Failed != 1 {
		t.Errorf("10 November 12:00 after a late event = %+v", b)
	}
	var toks tokenAnalytics
	a.getJSON(admin, "/api/v1/analytics/tokens", url.Values{"interval": {"hour"}, "from": {"2026-11-05"}, "to": {"2026-11-05"}}, &toks)
	if b := findTokenBucket(t, toks, "2026-11-05T06:00:00Z"); b.Authenticated != 2 || b.UniqueTokens != 3 || b.ByEnvironment.Live != 1 {
		t.Errorf("5 November 06:00 after a late token event = %+v", b)
	}
}
