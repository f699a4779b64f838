package httpapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/authwatch/authwatch/event"
	"github.com/authwatch/authwatch/internal/httpapi"
	"github.com/authwatch/authwatch/internal/store"
)

// The token tests run at a fixed clock; every event is placed relative to it.
var tokNow = time.Date(2025, 6, 15, 12, 0, 0, 0, time.UTC)

// tokAt is a time of day daysAgo UTC dates before tokNow's.
func tokAt(daysAgo, hour, min, sec int) time.Time {
	return time.Date(2025, 6, 15-daysAgo, hour, min, sec, 0, time.UTC)
}

type tokenEventList struct {
	History    []httpapi.TokenEventItem `json:"history"`
	Pagination httpapi.Pagination       `json:"pagination"`
}

// with changes an event built by tokenEvent.
func with(ev *event.Event, change func(*event.Event)) *event.Event {
	change(ev)
	return ev
}

// seedTokenData writes tenant acme: alice owns tok_a (used, with failures)
// and tok_b (created, then revoked, never used); bob owns tok_c and tok_d
// and the recent failures. Tenant other has its own tok_a, of its own alice.
//
// tok_a's uses, by UTC date (now is 2025-06-15 12:00):
//
//	a1 06-15 10:00 .1     a2 06-15 11:30 .2 (seeded twice, no name)
//	a3 06-14 10:15 .1     a4 06-12 23:59 .10
//	a5 06-05 10:00 .3     a7 05-17 00:00:00 .3 (first day of a 30-day window)
//	a8 05-16 23:59:59 .8  a6 05-11 12:00 .9 (both before it)
func seedTokenData(t *testing.T, a *api) {
	t.Helper()
	ip := func(last string) string { return "10.0.0." + last }
	created := with(tokenEvent("acme", "c_a", "alice", "tok_a", event.TokenCreated, ip("1"), tokAt(40, 12, 0, 0)), func(e *event.Event) {
		// The latest event decides type and environment, and the latest
		// non-empty name decides the name: this one is overridden.
		e.TokenType, e.Environment, e.TokenName = event.TokenPublishable, event.EnvTest, "old name"
	})
	a2 := with(tokenEvent("acme", "a2", "alice", "tok_a", event.TokenAuthenticated, ip("2"), tokAt(0, 11, 30, 0).Add(250*time.Millisecond)),
		func(e *event.Event) { e.TokenName = "" })
	evs := []*event.Event{
		created,
		with(tokenEvent("acme", "a1", "alice", "tok_a", event.TokenAuthenticated, ip("1"), tokAt(0, 10, 0, 0)),
			func(e *event.Event) { e.Metadata = map[string]string{"region": "eu"} }),
		a2,
		tokenEvent("acme", "a3", "alice", "tok_a", event.TokenAuthenticated, ip("1"), tokAt(1, 10, 15, 0)),
		tokenEvent("acme", "a4", "alice", "tok_a", event.TokenAuthenticated, ip("10"), tokAt(3, 23, 59, 0)),
		tokenEvent("acme", "a5", "alice", "tok_a", event.TokenAuthenticated, ip("3"), tokAt(10, 10, 0, 0)),
		tokenEvent("acme", "a6", "alice", "tok_a", event.TokenAuthenticated, ip("9"), tokAt(35, 12, 0, 0)),
		tokenEvent("acme", "a7", "alice", "tok_a", event.TokenAuthenticated, ip("3"), tokAt(29, 0, 0, 0)),
		tokenEvent("acme", "a8", "alice", "tok_a", event.TokenAuthenticated, ip("8"), tokAt(30, 23, 59, 59)),
		tokenEvent("acme", "af1", "alice", "tok_a", event.TokenFailed, ip("66"), tokAt(0, 9, 0, 0)),
		tokenEvent("acme", "af2", "alice", "tok_a", event.TokenExpired, ip("1"), tokAt(2, 12, 0, 0)),
		tokenEvent("acme", "af3", "alice", "tok_a", event.TokenIPBlocked, ip("66"), tokAt(5, 12, 0, 0)),
		tokenEvent("acme", "af4", "alice", "tok_a", event.TokenRateLimited, ip("1"), tokAt(1, 8, 0, 0)),

		with(tokenEvent("acme", "c_b", "alice", "tok_b", event.TokenCreated, ip("1"), tokAt(5, 12, 0, 0)), func(e *event.Event) {
			e.TokenType, e.Environment, e.TokenName = event.TokenRestricted, event.EnvTest, "beta"
		}),
		with(tokenEvent("acme", "r_b", "alice", "tok_b", event.TokenRevoked, ip("1"), tokAt(1, 12, 0, 0)), func(e *event.Event) {
			e.TokenType, e.Environment, e.TokenName = event.TokenRestricted, event.EnvTest, ""
		}),

		tokenEvent("acme", "c1", "bob", "tok_c", event.TokenAuthenticated, ip("1"), tokAt(2, 9, 0, 0)),
		tokenEvent("acme", "c2", "bob", "tok_c", event.TokenAuthenticated, ip("50"), tokAt(2, 9, 5, 0)),
		tokenEvent("acme", "c3", "bob", "tok_c", event.TokenAuthenticated, ip("50"), tokAt(2, 9, 10, 0)),
		tokenEvent("acme", "d1", "bob", "tok_d", event.TokenAuthenticated, ip("51"), tokAt(2, 10, 0, 0)),
		tokenEvent("acme", "d2", "bob", "tok_d", event.TokenAuthenticated, ip("51"), tokAt(2, 10, 5, 0)),
		tokenEvent("acme", "d3", "bob", "tok_d", event.TokenAuthenticated, ip("51"), tokAt(2, 10, 10, 0)),

		// Recent failures on bob's tok_d (now is 12:00).
		tokenEvent("acme", "s1", "bob", "tok_d", event.TokenFailed, "192.0.2.1", tokAt(0, 11, 10, 0)),
		tokenEvent("acme", "s2", "bob", "tok_d", event.TokenFailed, "192.0.2.1", tokAt(0, 11, 20, 0)),
		tokenEvent("acme", "s3", "bob", "tok_d", event.TokenFailed, "192.0.2.1", tokAt(0, 11, 30, 0)),
		tokenEvent("acme", "s4", "bob", "tok_d", event.TokenIPBlocked, "192.0.2.1", tokAt(0, 11, 40, 0)),
		tokenEvent("acme", "s5", "bob", "tok_d", event.TokenFailed, "192.0.2.2", tokAt(0, 11, 15, 0)),
		tokenEvent("acme", "s6", "bob", "tok_d", event.TokenFailed, "192.0.2.2", tokAt(0, 11, 25, 0)),
		tokenEvent("acme", "s7", "bob", "tok_d", event.TokenRateLimited, "192.0.2.2", tokAt(0, 11, 35, 0)),
		tokenEvent("acme", "s8", "bob", "tok_d", event.TokenFailed, "192.0.2.3", tokAt(0, 11, 5, 0)),
		tokenEvent("acme", "s9", "bob", "tok_d", event.TokenFailed, "192.0.2.3", tokAt(0, 11, 50, 0)),
		tokenEvent("acme", "s10", "bob", "tok_d", event.TokenFailed, "192.0.2.4", tokAt(0, 10, 59, 0)),

		// Same token id, another tenant: another token.
		tokenEvent("other", "o1", "alice", "tok_a", event.TokenAuthenticated, ip("1"), tokAt(0, 10, 0, 0)),
	}
	a.seed(evs...)
	// Redelivered copies: each counts once everywhere.
	a.seed(a2, evs[18]) // a2 and d1
}

func TestTokenUsageDaily(t *testing.T) {
	a := newAPI(t, tokNow)
	seedTokenData(t, a)
	alice := a.token("acme", "alice")

	var got []httpapi.TokenDayCount
	a.getJSON(alice, "/api/v1/tokens/tok_a/usage", nil, &got)
	if len(got) != 30 {
		t.Fatalf("default window has %d days, want 30", len(got))
	}
	want := map[string]uint64{"2025-05-17": 1, "2025-06-05": 1, "2025-06-12": 1, "2025-06-14": 1, "2025-06-15": 2}
	for i, d := range got {
		if wantDate := tokAt(29-i, 0, 0, 0).Format("2006-01-02"); d.Date != wantDate {
			t.Errorf("entry %d is %s, want %s (oldest first, every day)", i, d.Date, wantDate)
		}
		if d.Count != want[d.Date] {
			t.Errorf("%s: %d uses, want %d", d.Date, d.Count, want[d.Date])
		}
	}

	a.getJSON(alice, "/api/v1/tokens/tok_a/usage", url.Values{"days": {"3"}}, &got)
	wantShort := []httpapi.TokenDayCount{{Date: "2025-06-13", Count: 0}, {Date: "2025-06-14", Count: 1}, {Date: "2025-06-15", Count: 2}}
	if !reflect.DeepEqual(got, wantShort) {
		t.Errorf("days=3: %+v, want %+v", got, wantShort)
	}

	// A token with no uses answers zeros, not an empty list.
	a.getJSON(alice, "/api/v1/tokens/tok_b/usage", url.Values{"days": {"1"}}, &got)
	if !reflect.DeepEqual(got, []httpapi.TokenDayCount{{Date: "2025-06-15", Count: 0}}) {
		t.Errorf("unused token days=1: %+v", got)
	}
}

func TestTokenUsageHourly(t *testing.T) {
	a := newAPI(t, tokNow)
	seedTokenData(t, a)
	alice := a.token("acme", "alice")

	var got []httpapi.TokenHourCount
	a.getJSON(alice, "/api/v1/tokens/tok_a/usage/hourly", nil, &got)
	want := map[int]uint64{0: 1, 10: 3, 11: 1, 23: 1} // a7; a1 a3 a5; a2 (once); a4
	if len(got) != 24 {
		t.Fatalf("%d entries, want 24", len(got))
	}
	for h, e := range got {
		if e.Hour != h || e.Count != want[h] {
			t.Errorf("entry %d = %+v, want hour %d count %d", h, e, h, want[h])
		}
	}

	a.getJSON(alice, "/api/v1/tokens/tok_a/usage/hourly", url.Values{"days": {"1"}}, &got)
	for h, e := range got {
		w := map[int]uint64{10: 1, 11: 1}[h]
		if e.Count != w {
			t.Errorf("days=1 hour %d: %d, want %d", h, e.Count, w)
		}
	}
}

func TestTokenUsageIPs(t *testing.T) {
	a := newAPI(t, tokNow)
	seedTokenData(t, a)
	alice := a.token("acme", "alice")

	var got []httpapi.TokenIPCount
	a.getJSON(alice, "/api/v1/tokens/tok_a/usage/ips", nil, &got)
	// Most first, ties by address (as text: "10.0.0.10" < "10.0.0.2").
	want := []httpapi.TokenIPCount{{"10.0.0.1", 2}, {"10.0.0.3", 2}, {"10.0.0.10", 1}, {"10.0.0.2", 1}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ips = %+v, want %+v", got, want)
	}

	a.getJSON(alice, "/api/v1/tokens/tok_a/usage/ips", url.Values{"limit": {"1"}, "days": {"365"}}, &got)
	if !reflect.DeepEqual(got, []httpapi.TokenIPCount{{"10.0.0.1", 2}}) {
		t.Errorf("limit=1 days=365: %+v", got)
	}

	code, body := a.get(alice, "/api/v1/tokens/tok_b/usage/ips", nil)
	if code != http.StatusOK || string(body) != "[]\n" {
		t.Errorf("unused token: %d %s, want 200 []", code, body)
	}
}

func TestTokenSummary(t *testing.T) {
	a := newAPI(t, tokNow)
	seedTokenData(t, a)
	alice := a.token("acme", "alice")

	var got httpapi.TokenSummary
	a.getJSON(alice, "/api/v1/tokens/tok_a/summary", nil, &got)
	if got.TotalUses != 8 || got.UsesLast7Days != 4 {
		t.Errorf("uses = %d all time, %d last 7 days; want 8, 4", got.TotalUses, got.UsesLast7Days)
	}
	if got.FirstUsedAt == nil || *got.FirstUsedAt != "2025-05-11T12:00:00Z" {
		t.Errorf("first_used_at = %v", deref(got.FirstUsedAt))
	}
	if got.LastUsedAt == nil || *got.LastUsedAt != "2025-06-15T11:30:00Z" {
		t.Errorf("last_used_at = %v", deref(got.LastUsedAt))
	}

	// Mostly older uses, over two months, one of them stored twice.
	recent := tokenEvent("acme", "s1", "alice", "tok_s", event.TokenAuthenticated, "10.0.0.1", tokAt(2, 8, 0, 0))
	a.seed(recent, recent,
		tokenEvent("acme", "s2", "alice", "tok_s", event.TokenAuthenticated, "10.0.0.1", tokAt(9, 8, 0, 0)),
		tokenEvent("acme", "s3", "alice", "tok_s", event.TokenAuthenticated, "10.0.0.1", tokAt(40, 8, 0, 0)),
		tokenEvent("acme", "s4", "alice", "tok_s", event.TokenFailed, "10.0.0.1", tokAt(1, 8, 0, 0)))
	a.getJSON(alice, "/api/v1/tokens/tok_s/summary", nil, &got)
	if got.TotalUses != 3 || got.UsesLast7Days != 1 || deref(got.FirstUsedAt) != "2025-05-06T08:00:00Z" || deref(got.LastUsedAt) != "2025-06-13T08:00:00Z" {
		t.Errorf("tok_s: %d uses, %d last 7 days, first %s, last %s; want 3, 1, 2025-05-06T08:00:00Z, 2025-06-13T08:00:00Z",
			got.TotalUses, got.UsesLast7Days, deref(got.FirstUsedAt), deref(got.LastUsedAt))
	}

	// Never used: zeros and nulls (not absent fields).
	code, body := a.get(alice, "/api/v1/tokens/tok_b/summary", nil)
	want := `{"total_uses":0,"uses_last_7_days":0,"first_used_at":null,"last_used_at":null}` + "\n"
	if code != http.StatusOK || string(body) != want {
		t.Errorf("unused token: %d %s, want %s", code, body, want)
	}
}

func deref(s *string) string {
	if s == nil {
		return "null"
	}
	return *s
}

func TestTokenEvents(t *testing.T) {
	a := newAPI(t, tokNow)
	seedTokenData(t, a)
	alice := a.token("acme", "alice")

	ids := func(l tokenEventList) []string {
		out := []string{}
		for _, e := range l.History {
			out = append(out, e.ID)
		}
		return out
	}
	pages := [][]string{
		{"a2", "a1", "af1", "a3", "af4"},
		{"af2", "a4", "af3", "a5", "a7"},
		{"a8", "a6", "c_a"},
	}
	for i, want := range pages {
		var l tokenEventList
		a.getJSON(alice, "/api/v1/tokens/tok_a/events", url.Values{"per_page": {"5"}, "page": {strconv.Itoa(i + 1)}}, &l)
		if got := ids(l); !reflect.DeepEqual(got, want) {
			t.Errorf("page %d = %v, want %v", i+1, got, want)
		}
		wantPg := httpapi.Pagination{CurrentPage: i + 1, LastPage: 3, PerPage: 5, Total: 13}
		if l.Pagination != wantPg {
			t.Errorf("page %d pagination = %+v, want %+v", i+1, l.Pagination, wantPg)
		}
	}

	// Past the end: empty history, true total.
	code, body := a.get(alice, "/api/v1/tokens/tok_a/events", url.Values{"per_page": {"5"}, "page": {"4"}})
	want := `{"history":[],"pagination":{"current_page":4,"last_page":3,"per_page":5,"total":13}}` + "\n"
	if code != http.StatusOK || string(body) != want {
		t.Errorf("page 4: %d %s, want %s", code, body, want)
	}

	// Item shape: the latest use (no name, seeded twice) and a1 (metadata).
	var l tokenEventList
	a.getJSON(alice, "/api/v1/tokens/tok_a/events", url.Values{"per_page": {"2"}}, &l)
	raw, _ := json.Marshal(l.History)
	wantItems := `[{"id":"a2","token_id":"tok_a","token_name":null,"token_type":"sk","environment":"live","event":"authenticated",` +
		`"user_id":"alice","ip_address":"10.0.0.2","user_agent":"curl/8.4.0","metadata":{},"created_at":"2025-06-15T11:30:00Z"},` +
		`{"id":"a1","token_id":"tok_a","token_name":"key tok_a","token_type":"sk","environment":"live","event":"authenticated",` +
		`"user_id":"alice","ip_address":"10.0.0.1","user_agent":"curl/8.4.0","metadata":{"region":"eu"},"created_at":"2025-06-15T10:00:00Z"}]`
	if string(raw) != wantItems {
		t.Errorf("items:\n%s\nwant\n%s", raw, wantItems)
	}

	// Filters: event, and from/to (both dates inclusive).
	a.getJSON(alice, "/api/v1/tokens/tok_a/events", url.Values{"event": {"authenticated"}}, &l)
	if l.Pagination.Total != 8 || len(l.History) != 8 {
		t.Errorf("event=authenticated: total %d, %d items; want 8", l.Pagination.Total, len(l.History))
	}
	a.getJSON(alice, "/api/v1/tokens/tok_a/events", url.Values{"from": {"2025-06-14"}, "to": {"2025-06-14"}}, &l)
	if got := ids(l); !reflect.DeepEqual(got, []string{"a3", "af4"}) || l.Pagination.Total != 2 {
		t.Errorf("from=to=2025-06-14: %v total %d", got, l.Pagination.Total)
	}
	a.getJSON(alice, "/api/v1/tokens/tok_a/events", url.Values{"event": {"revoked"}}, &l)
	if len(l.History) != 0 || l.Pagination.Total != 0 || l.Pagination.LastPage != 1 {
		t.Errorf("no match: %+v", l)
	}
}

func TestTokenStats(t *testing.T) {
	a := newAPI(t, tokNow)
	seedTokenData(t, a)

	type stats = httpapi.TokenStats
	tests := []struct {
		name string
		tok  string
		q    url.Values
		want stats
	}{
		{"alice", a.token("acme", "alice"), nil, stats{
			TotalTokens: 2, ActiveTokens: 1,
			ByEnvironment: httpapi.TokensByEnvironment{Test: 1, Live: 1}, ByType: httpapi.TokensByType{SK: 1, RK: 1},
			TotalRequests: 6, UniqueIPs: 4, FailedAttempts: 3, // a1 a2 a3 a4 a5 a7; .1 .2 .3 .10; af1 af2 af3
		}},
		{"alice, today only", a.token("acme", "alice"), url.Values{"days": {"1"}}, stats{
			TotalTokens: 2, ActiveTokens: 1,
			ByEnvironment: httpapi.TokensByEnvironment{Test: 1, Live: 1}, ByType: httpapi.TokensByType{SK: 1, RK: 1},
			TotalRequests: 2, UniqueIPs: 2, FailedAttempts: 1,
		}},
		{"bob", a.token("acme", "bob"), nil, stats{
			TotalTokens: 2, ActiveTokens: 2,
			ByEnvironment: httpapi.TokensByEnvironment{Live: 2}, ByType: httpapi.TokensByType{SK: 2},
			TotalRequests: 6, UniqueIPs: 3, FailedAttempts: 9,
		}},
		{"admin sees the tenant", a.token("acme", "carol", "admin.audit_log"), nil, stats{
			TotalTokens: 4, ActiveTokens: 3,
			ByEnvironment: httpapi.TokensByEnvironment{Test: 1, Live: 3}, ByType: httpapi.TokensByType{SK: 3, RK: 1},
			TotalRequests: 12, UniqueIPs: 6, FailedAttempts: 12,
		}},
		{"a user without tokens", a.token("acme", "nobody"), nil, stats{}},
		{"the other tenant's alice", a.token("other", "alice"), nil, stats{
			TotalTokens: 1, ActiveTokens: 1,
			ByEnvironment: httpapi.TokensByEnvironment{Live: 1}, ByType: httpapi.TokensByType{SK: 1},
			TotalRequests: 1, UniqueIPs: 1,
		}},
	}
	check := func(when string) {
		for _, tt := range tests {
			t.Run(tt.name+", "+when, func(t *testing.T) {
				var got stats
				a.getJSON(tt.tok, "/api/v1/tokens/stats", tt.q, &got)
				if got != tt.want {
					t.Errorf("stats = %+v\nwant    %+v", got, tt.want)
				}
			})
		}
	}
	check("live")
	// An admin's counts come from the analytics buckets: once the rollup job
	// has covered the closed ones, the numbers must not move.
	if err := store.NewRollup(a.store, store.RollupConfig{}).RunOnce(context.Background(), tokNow); err != nil {
		t.Fatal(err)
	}
	check("rolled up")

	// Every key is present, zeros included.
	_, body := a.get(a.token("acme", "nobody"), "/api/v1/tokens/stats", nil)
	want := `{"total_tokens":0,"active_tokens":0,"by_environment":{"test":0,"live":0},"by_type":{"sk":0,"pk":0,"rk":0},` +
		`"total_requests":0,"unique_ips":0,"failed_attempts":0}` + "\n"
	if string(body) != want {
		t.Errorf("empty stats %s, want %s", body, want)
	}
}

// An event stamped ahead of the clock is after every window: its IP counts
// among a window's unique IPs only if it was used in the window as well.
func TestTokenStatsEventsAhead(t *testing.T) {
	a := newAPI(t, tokNow)
	ahead := tokNow.Add(50 * time.Hour) // after tomorrow's midnight
	a.seed(
		tokenEvent("t4", "u1", "gus", "tok_g", event.TokenAuthenticated, "10.4.0.1", tokAt(0, 9, 0, 0)),
		tokenEvent("t4", "u2", "gus", "tok_g", event.TokenAuthenticated, "10.4.0.1", ahead),
		tokenEvent("t4", "u3", "gus", "tok_g", event.TokenAuthenticated, "10.4.0.2", ahead),
		tokenEvent("t4", "u4", "gus", "tok_g", event.TokenAuthenticated, "10.4.0.3", tokAt(3, 9, 0, 0)),
	)
	for _, tok := range []string{a.token("t4", "gus"), a.token("t4", "root", "admin.audit_log")} {
		var got httpapi.TokenStats
		a.getJSON(tok, "/api/v1/tokens/stats", url.Values{"days": {"2"}}, &got)
		if got.TotalRequests != 1 || got.UniqueIPs != 1 {
			t.Errorf("days=2: %d requests from %d IPs, want 1 from 1", got.TotalRequests, got.UniqueIPs)
		}
		a.getJSON(tok, "/api/v1/tokens/stats", nil, &got)
		if got.TotalRequests != 2 || got.UniqueIPs != 2 {
			t.Errorf("days=30: %d requests from %d IPs, want 2 from 2", got.TotalRequests, got.UniqueIPs)
		}
	}
}

func TestTokenTop(t *testing.T) {
	a := newAPI(t, tokNow)
	seedTokenData(t, a)
	top := func(tok string, q url.Values) []httpapi.TopToken {
		var got []httpapi.TopToken
		a.getJSON(tok, "/api/v1/tokens/top", q, &got)
		return got
	}
	name := func(s string) *string { return &s }

	// tok_b is never used: not listed. The name is the latest non-empty one.
	if got, want := top(a.token("acme", "alice"), nil), []httpapi.TopToken{{"tok_a", name("key tok_a"), 8}}; !reflect.DeepEqual(got, want) {
		t.Errorf("alice: %+v, want %+v", got, want)
	}
	admin := a.token("acme", "carol", "admin.audit_log")
	want := []httpapi.TopToken{{"tok_a", name("key tok_a"), 8}, {"tok_c", name("key tok_c"), 3}, {"tok_d", name("key tok_d"), 3}}
	if got := top(admin, nil); !reflect.DeepEqual(got, want) {
		t.Errorf("admin: %+v, want %+v", got, want)
	}
	if got := top(admin, url.Values{"limit": {"2"}}); !reflect.DeepEqual(got, want[:2]) {
		t.Errorf("admin limit=2: %+v, want %+v (ties by token id)", got, want[:2])
	}
	if got := top(a.token("acme", "nobody"), nil); len(got) != 0 || got == nil {
		t.Errorf("no tokens: %#v, want []", got)
	}
}

// Redelivered copies inflate the rows a token has, never its uses: a token
// with fewer uses but more copies must not push out a busier one.
func TestTokenTopCountsEachEventOnce(t *testing.T) {
	a := newAPI(t, tokNow)
	var evs []*event.Event
	for i, id := range []string{"e1", "e2", "e3"} {
		evs = append(evs, tokenEvent("t3", id, "erin", "tok_e", event.TokenAuthenticated, "10.1.0.1", tokAt(i, 9, 0, 0)))
	}
	for i, id := range []string{"f1", "f2", "f3", "f4"} {
		evs = append(evs, tokenEvent("t3", id, "erin", "tok_f", event.TokenAuthenticated, "10.1.0.1", tokAt(i, 9, 0, 0)))
	}
	a.seed(evs...)
	a.seed(evs[0], evs[1])
	a.seed(evs[0], evs[1])

	var got []httpapi.TopToken
	a.getJSON(a.token("t3", "erin"), "/api/v1/tokens/top", url.Values{"limit": {"1"}}, &got)
	if len(got) != 1 || got[0].TokenID != "tok_f" || got[0].Uses != 4 {
		t.Errorf("top 1 = %+v, want tok_f with 4 uses", got)
	}
	a.getJSON(a.token("t3", "erin"), "/api/v1/tokens/top", nil, &got)
	if len(got) != 2 || got[1].TokenID != "tok_e" || got[1].Uses != 3 {
		t.Errorf("top = %+v, want tok_f 4, tok_e 3", got)
	}
}

func TestTokenIsolation(t *testing.T) {
	a := newAPI(t, tokNow)
	seedTokenData(t, a)
	bob := a.token("acme", "bob")

	// Another user's token and a token nobody has give the same answer.
	paths := []string{"/usage", "/usage/hourly", "/usage/ips", "/summary", "/events"}
	for _, p := range paths {
		code, theirs := a.get(bob, "/api/v1/tokens/tok_a"+p, nil)
		code2, unknown := a.get(bob, "/api/v1/tokens/no_such_token"+p, nil)
		if code != http.StatusNotFound || code2 != http.StatusNotFound || string(theirs) != string(unknown) {
			t.Errorf("%s: alice's token %d %s, unknown %d %s; want the same 404", p, code, theirs, code2, unknown)
		}
	}

	// An admin of the tenant sees every token of it.
	var sum httpapi.TokenSummary
	a.getJSON(a.token("acme", "carol", "admin.audit_log"), "/api/v1/tokens/tok_a/summary", nil, &sum)
	if sum.TotalUses != 8 {
		t.Errorf("admin: %d uses of alice's token, want 8", sum.TotalUses)
	}
	// An admin's read that finds no events of a token still tells a token of
	// the tenant (an empty answer) from one nobody has (404): alice's tok_b
	// was created and revoked, never used.
	carol := a.token("acme", "carol", "admin.audit_log")
	for _, p := range paths {
		var q url.Values
		if p == "/events" {
			q = url.Values{"event": {"authenticated"}}
		}
		if code, body := a.get(carol, "/api/v1/tokens/tok_b"+p, q); code != http.StatusOK {
			t.Errorf("admin, unused token %s: %d %s, want 200", p, code, body)
		}
		if code, _ := a.get(carol, "/api/v1/tokens/no_such_token"+p, q); code != http.StatusNotFound {
			t.Errorf("admin, unknown token %s: %d, want 404", p, code)
		}
	}
	a.getJSON(carol, "/api/v1/tokens/tok_b/summary", nil, &sum)
	if sum.TotalUses != 0 || sum.FirstUsedAt != nil {
		t.Errorf("admin, unused token: %+v, want no uses", sum)
	}

	// The same token id in another tenant is another token, with its own owner.
	a.getJSON(a.token("other", "alice"), "/api/v1/tokens/tok_a/summary", nil, &sum)
	if sum.TotalUses != 1 {
		t.Errorf("other tenant's tok_a: %d uses, want 1", sum.TotalUses)
	}
	// An admin of another tenant asking for this tenant's token ids, on
	// every route that takes one, gets what a token nobody has gets.
	otherAdmin := a.token("other", "bob", "admin.audit_log")
	for _, p := range paths {
		code, theirs := a.get(otherAdmin, "/api/v1/tokens/tok_c"+p, nil)
		code2, unknown := a.get(otherAdmin, "/api/v1/tokens/no_such_token"+p, nil)
		if code != http.StatusNotFound || code2 != http.StatusNotFound || string(theirs) != string(unknown) {
			t.Errorf("admin of another tenant, %s: acme's token %d %s, unknown %d %s; want the same 404", p, code, theirs, code2, unknown)
		}
	}

	// A token id that needs escaping in a path.
	odd := "key with/slash%and space"
	a.seed(tokenEvent("acme", "odd1", "bob", odd, event.TokenAuthenticated, "10.0.0.1", tokAt(0, 9, 0, 0)))
	a.getJSON(bob, "/api/v1/tokens/"+url.PathEscape(odd)+"/summary", nil, &sum)
	if sum.TotalUses != 1 {
		t.Errorf("escaped token id: %d uses, want 1", sum.TotalUses)
	}

	if code, _ := a.get("", "/api/v1/tokens/stats", nil); code != http.StatusUnauthorized {
		t.Errorf("no bearer: %d, want 401", code)
	}
}

func TestTokenSecurityFailures(t *testing.T) {
	a := newAPI(t, tokNow)
	seedTokenData(t, a)
	admin := a.token("acme", "carol", "admin.audit_log")

	var l tokenEventList
	a.getJSON(admin, "/api/v1/security/failures", nil, &l)
	// The last 24 hours: af1 and bob's s1–s10 (af4 was 28 hours ago).
	if l.Pagination.Total != 11 || len(l.History) != 11 {
		t.Fatalf("failures: total %d, %d items; want 11", l.Pagination.Total, len(l.History))
	}
	if l.History[0].ID != "s9" || l.History[10].ID != "af1" {
		t.Errorf("order: first %s, last %s; want s9 … af1", l.History[0].ID, l.History[10].ID)
	}
	for _, e := range l.History {
		if e.Event == "authenticated" || e.TokenType != "sk" || e.CreatedAt == "" {
			t.Errorf("item %+v", e)
		}
	}

	a.getJSON(admin, "/api/v1/security/failures", url.Values{"hours": {"1"}, "per_page": {"4"}, "page": {"3"}}, &l)
	// 11:00–12:00: s1–s9 (s4 ip_blocked, s7 rate_limited included); page 3 of 4.
	if l.Pagination != (httpapi.Pagination{CurrentPage: 3, LastPage: 3, PerPage: 4, Total: 9}) || len(l.History) != 1 || l.History[0].ID != "s8" {
		t.Errorf("hours=1 page 3: %+v", l)
	}

	a.getJSON(admin, "/api/v1/security/failures", url.Values{"hours": {"720"}}, &l)
	if l.Pagination.Total != 14 { // + af2 af3 af4
		t.Errorf("hours=720: total %d, want 14", l.Pagination.Total)
	}

	if code, _ := a.get(a.token("acme", "alice"), "/api/v1/security/failures", nil); code != http.StatusForbidden {
		t.Errorf("non-admin: %d, want 403", code)
	}
}

func TestTokenSuspiciousIPs(t *testing.T) {
	a := newAPI(t, tokNow)
	seedTokenData(t, a)
	// s1 redelivered: still 4 events from 192.0.2.1.
	a.seed(tokenEvent("acme", "s1", "bob", "tok_d", event.TokenFailed, "192.0.2.1", tokAt(0, 11, 10, 0)))
	admin := a.token("acme", "carol", "admin.audit_log")

	tests := []struct {
		q    url.Values
		want []httpapi.TokenIPCount
	}{
		{nil, []httpapi.TokenIPCount{}}, // min_failures 10
		{url.Values{"min_failures": {"1"}}, []httpapi.TokenIPCount{{"192.0.2.1", 4}, {"192.0.2.2", 2}, {"192.0.2.3", 2}}},
		{url.Values{"min_failures": {"2"}}, []httpapi.TokenIPCount{{"192.0.2.1", 4}}}, // strictly more
		{url.Values{"min_failures": {"3"}}, []httpapi.TokenIPCount{{"192.0.2.1", 4}}},
		{url.Values{"min_failures": {"4"}}, []httpapi.TokenIPCount{}},
		{url.Values{"min_failures": {"0"}, "minutes": {"61"}}, []httpapi.TokenIPCount{{"192.0.2.1", 4}, {"192.0.2.2", 2}, {"192.0.2.3", 2}, {"192.0.2.4", 1}}},
		// A day back adds af1 (failed, from .66); af3, also from .66, is 5 days old.
		{url.Values{"min_failures": {"0"}, "minutes": {"1440"}}, []httpapi.TokenIPCount{{"192.0.2.1", 4}, {"192.0.2.2", 2}, {"192.0.2.3", 2}, {"10.0.0.66", 1}, {"192.0.2.4", 1}}},
	}
	for _, tt := range tests {
		var got []httpapi.TokenIPCount
		a.getJSON(admin, "/api/v1/security/suspicious-ips", tt.q, &got)
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: %+v, want %+v", tt.q.Encode(), got, tt.want)
		}
	}

	if code, _ := a.get(a.token("acme", "alice"), "/api/v1/security/suspicious-ips", nil); code != http.StatusForbidden {
		t.Errorf("non-admin: %d, want 403", code)
	}
}

func TestTokenValidation(t *testing.T) {
	a := newAPI(t, tokNow)
	seedTokenData(t, a)
	alice := a.token("acme", "alice")
	admin := a.token("acme", "carol", "admin.audit_log")

	tests := []struct {
		tok, path string
		q         url.Values
		param     string
	}{
		{alice, "/api/v1/tokens/tok_a/usage", url.Values{"days": {"0"}}, "days"},
		{alice, "/api/v1/tokens/tok_a/usage", url.Values{"days": {"abc"}}, "days"},
		{alice, "/api/v1/tokens/tok_a/usage", url.Values{"days": {"366"}}, "days"},
		{alice, "/api/v1/tokens/tok_a/usage/hourly", url.Values{"days": {"-1"}}, "days"},
		{alice, "/api/v1/tokens/tok_a/usage/ips", url.Values{"limit": {"1001"}}, "limit"},
		{alice, "/api/v1/tokens/tok_a/usage/ips", url.Values{"limit": {"0"}}, "limit"},
		{alice, "/api/v1/tokens/tok_a/events", url.Values{"event": {"bogus"}}, "event"},
		{alice, "/api/v1/tokens/tok_a/events", url.Values{"from": {"2025-06-15"}, "to": {"2025-06-14"}}, "from"},
		{alice, "/api/v1/tokens/tok_a/events", url.Values{"to": {"yesterday"}}, "to"},
		{alice, "/api/v1/tokens/tok_a/events", url.Values{"per_page": {"101"}}, "per_page"},
		{alice, "/api/v1/tokens/tok_a/events", url.Values{"page": {"0"}}, "page"},
		{alice, "/api/v1/tokens/stats", url.Values{"days": {"0"}}, "days"},
		{alice, "/api/v1/tokens/top", url.Values{"limit": {"101"}}, "limit"},
		{alice, "/api/v1/tokens/top", url.Values{"limit": {"0"}}, "limit"},
		{admin, "/api/v1/security/failures", url.Values{"hours": {"0"}}, "hours"},
		{admin, "/api/v1/security/failures", url.Values{"hours": {"721"}}, "hours"},
		{admin, "/api/v1/security/failures", url.Values{"from": {"2025-06-15"}, "to": {"2025-06-14"}}, "from"},
		{admin, "/api/v1/security/suspicious-ips", url.Values{"minutes": {"0"}}, "minutes"},
		{admin, "/api/v1/security/suspicious-ips", url.Values{"minutes": {"1441"}}, "minutes"},
		{admin, "/api/v1/security/suspicious-ips", url.Values{"min_failures": {"-1"}}, "min_failures"},
		{admin, "/api/v1/security/suspicious-ips", url.Values{"min_failures": {"1000001"}}, "min_failures"},
	}
	for _, tt := range tests {
		errs := a.validationErrors(tt.tok, tt.path, tt.q)
		if len(errs[tt.param]) == 0 {
			t.Errorf("%s?%s: errors %v do not name %s", tt.path, tt.q.Encode(), errs, tt.param)
		}
	}

	// Every problem is named at once.
	errs := a.validationErrors(alice, "/api/v1/tokens/tok_a/usage/ips", url.Values{"days": {"0"}, "limit": {"x"}})
	if len(errs["days"]) == 0 || len(errs["limit"]) == 0 {
		t.Errorf("both problems: %v", errs)
	}
}
