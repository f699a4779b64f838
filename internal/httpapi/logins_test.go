package httpapi_test

import (
	"context"
	"encoding/csv"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/authwatch/authwatch/event"
	"github.com/authwatch/authwatch/internal/httpapi"
	"github.com/authwatch/authwatch/internal/store"
)

type loginList struct {
	History    []httpapi.LoginItem `json:"history"`
	Pagination httpapi.Pagination  `json:"pagination"`
}

var now = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

func ago(d time.Duration) time.Time { return now.Add(-d) }

const day = 24 * time.Hour

// seedLogins writes a small tenant: alice with history over 60 days, bob,
// an unknown-account failure, and another tenant using the same user id.
func seedLogins(t *testing.T, a *api) {
	t.Helper()
	var evs []*event.Event
	for i := range 12 { // alice: a success every 5 days, newest 1 hour ago
		ev := login("acme", fmt.Sprintf("a-ok-%02d", i), "alice", event.StatusSuccess, "81.2.69.10", ago(time.Hour+time.Duration(i)*5*day))
		ev.User = &event.UserProfile{Name: "Alice", Email: "alice@example.com"}
		evs = append(evs, ev)
	}
	phone := login("acme", "a-phone", "alice", event.StatusSuccess, "203.0.113.7", ago(2*day))
	phone.UserAgent = uaSafariIPhone
	evs = append(evs, phone,
		login("acme", "a-fail-1", "alice", event.StatusFailed, "81.2.69.10", ago(3*day)),
		login("acme", "a-fail-2", "alice", event.Status2FAFailed, "81.2.69.10", ago(4*day)),
		login("acme", "a-fail-old", "alice", event.StatusFailed, "81.2.69.10", ago(40*day)),
		login("acme", "a-2fa", "alice", event.Status2FARequired, "81.2.69.10", ago(5*day)),
		login("acme", "b-ok", "bob", event.StatusSuccess, "89.160.20.1", ago(6*time.Hour)),
		login("other", "o-ok", "alice", event.StatusSuccess, "1.1.1.1", ago(time.Hour)),
	)
	unknown := login("acme", "x-unknown", "", event.StatusFailed, "198.51.100.9", ago(30*time.Minute))
	unknown.Identifier = "mallory@example.com"
	evs = append(evs, unknown)
	a.seed(evs...)
	// A redelivered copy of two events: counted once everywhere.
	a.seed(evs[0], evs[13])
	// An alert flags one of alice's logins.
	// An alert carries its event's occurred_at (SPEC §4).
	if err := a.store.Conn().Exec(context.Background(), fmt.Sprintf(`INSERT INTO alerts (tenant_id, occurred_at, id, event_id, user_id, rule, severity)
		SELECT 'acme', toDateTime(%d), 'al-1', 'a-phone', 'alice', 'new_device', 'low'`, phone.OccurredAt.Unix())); err != nil {
		t.Fatal(err)
	}
}

func TestLoginHistoryOwnRows(t *testing.T) {
	a := newAPI(t, now)
	seedLogins(t, a)
	alice := a.token("acme", "alice")

	var got loginList
	a.getJSON(alice, "/api/v1/login-history", nil, &got)
	if got.Pagination.Total != 17 {
		t.Fatalf("total = %d, want 17 (alice's events, each once)", got.Pagination.Total)
	}
	if len(got.History) != 17 || got.Pagination.LastPage != 1 || got.Pagination.PerPage != 25 || got.Pagination.CurrentPage != 1 {
		t.Fatalf("page = %d items, pagination %+v", len(got.History), got.Pagination)
	}
	for i, it := range got.History {
		if it.UserID == nil || *it.UserID != "alice" || it.TenantID != "acme" {
			t.Fatalf("item %d belongs to %v/%s", i, it.UserID, it.TenantID)
		}
		if i > 0 && it.CreatedAt > got.History[i-1].CreatedAt {
			t.Fatalf("not newest first at %d: %s after %s", i, it.CreatedAt, got.History[i-1].CreatedAt)
		}
	}
	first := got.History[0]
	if first.ID != "a-ok-00" || first.CreatedAt != ago(time.Hour).Format(time.RFC3339) || first.DeviceType != "desktop" ||
		*first.Browser != "Chrome" || *first.Platform != "Windows" || first.FailureReason != nil || first.IsSuspicious {
		t.Errorf("first item = %+v", first)
	}
	for _, it := range got.History {
		switch it.ID {
		case "a-phone":
			if !it.IsSuspicious || len(it.SuspiciousReasons) != 1 || it.SuspiciousReasons[0] != "new_device" || it.DeviceType != "mobile" {
				t.Errorf("flagged login = %+v", it)
			}
		case "a-fail-1":
			if it.FailureReason == nil || *it.FailureReason != "invalid_password" {
				t.Errorf("failure reason = %v", it.FailureReason)
			}
		}
	}
}

func TestLoginHistoryFiltersAndPages(t *testing.T) {
	a := newAPI(t, now)
	seedLogins(t, a)
	alice := a.token("acme", "alice")
	count := func(q url.Values) (uint64, []httpapi.LoginItem) {
		var got loginList
		a.getJSON(alice, "/api/v1/login-history", q, &got)
		return got.Pagination.Total, got.History
	}
	if n, items := count(url.Values{"status": {"failed"}}); n != 2 || items[0].ID != "a-fail-1" {
		t.Errorf("status=failed: %d", n)
	}
	today := now.Format("2006-01-02")
	// from 3 days ago to today, both dates whole: a-ok-00, a-phone, a-fail-1.
	if n, _ := count(url.Values{"from": {ago(3 * day).Format("2006-01-02")}, "to": {today}}); n != 3 {
		t.Errorf("last 4 dates: %d, want 3", n)
	}
	if n, _ := count(url.Values{"to": {ago(50 * day).Format("2006-01-02")}}); n != 2 {
		t.Errorf("to 50 days ago: %d, want 2 (the two oldest successes)", n)
	}

	// Pages: 17 rows by 5 → 4 pages; the last holds 2; past the end is empty with the true total.
	var p loginList
	a.getJSON(alice, "/api/v1/login-history", url.Values{"per_page": {"5"}, "page": {"4"}}, &p)
	if len(p.History) != 2 || p.Pagination.LastPage != 4 || p.Pagination.Total != 17 {
		t.Errorf("last page: %d items, %+v", len(p.History), p.Pagination)
	}
	a.getJSON(alice, "/api/v1/login-history", url.Values{"per_page": {"5"}, "page": {"9"}}, &p)
	if len(p.History) != 0 || p.Pagination.Total != 17 || p.Pagination.CurrentPage != 9 {
		t.Errorf("past the end: %d items, %+v", len(p.History), p.Pagination)
	}
	// Pages do not overlap and cover everything once.
	seen := map[string]bool{}
	for page := 1; page <= 4; page++ {
		a.getJSON(alice, "/api/v1/login-history", url.Values{"per_page": {"5"}, "page": {fmt.Sprint(page)}}, &p)
		for _, it := range p.History {
			if seen[it.ID] {
				t.Errorf("%s on two pages", it.ID)
			}
			seen[it.ID] = true
		}
	}
	if len(seen) != 17 {
		t.Errorf("pages covered %d events, want 17", len(seen))
	}
}

func TestLoginStats(t *testing.T) {
	a := newAPI(t, now)
	seedLogins(t, a)
	var st httpapi.LoginStats
	a.getJSON(a.token("acme", "alice"), "/api/v1/login-history/stats", nil, &st)
	// Successes: 12 desktop (days 0,5,...,55 → 6 within 30 days) + the phone.
	want := httpapi.LoginStats{TotalLogins: 13, LoginsLast30Days: 7, FailedAttemptsLast30Days: 2, SuspiciousLogins: 1,
		UniqueIPsLast30Days: 2, Devices: map[string]uint64{"desktop": 6, "mobile": 1}}
	if st.TotalLogins != want.TotalLogins || st.LoginsLast30Days != want.LoginsLast30Days ||
		st.FailedAttemptsLast30Days != want.FailedAttemptsLast30Days || st.SuspiciousLogins != want.SuspiciousLogins ||
		st.UniqueIPsLast30Days != want.UniqueIPsLast30Days || fmt.Sprint(st.Devices) != fmt.Sprint(want.Devices) {
		t.Errorf("stats = %+v\nwant    %+v", st, want)
	}
	if st.LastLogin == nil || *st.LastLogin != ago(time.Hour).Format(time.RFC3339) {
		t.Errorf("last_login = %v", st.LastLogin)
	}
	var none httpapi.LoginStats
	a.getJSON(a.token("acme", "nobody"), "/api/v1/login-history/stats", nil, &none)
	if none.TotalLogins != 0 || none.LastLogin != nil || none.Devices == nil {
		t.Errorf("a user without logins: %+v", none)
	}
}

func TestSuspiciousLogins(t *testing.T) {
	a := newAPI(t, now)
	seedLogins(t, a)
	// A second alert on the same login: one item, both rules.
	if err := a.store.Conn().Exec(context.Background(), `INSERT INTO alerts (tenant_id, occurred_at, id, event_id, user_id, rule, severity)
		SELECT tenant_id, occurred_at, 'al-2', event_id, user_id, 'unusual_hour', 'low' FROM alerts WHERE id = 'al-1'`); err != nil {
		t.Fatal(err)
	}
	var got loginList
	a.getJSON(a.token("acme", "alice"), "/api/v1/login-history/suspicious", nil, &got)
	if got.Pagination.Total != 1 || len(got.History) != 1 || got.History[0].ID != "a-phone" {
		t.Fatalf("suspicious = %+v", got)
	}
	reasons := func(it httpapi.LoginItem) []string { return slices.Sorted(slices.Values(it.SuspiciousReasons)) }
	if it := got.History[0]; !it.IsSuspicious || !slices.Equal(reasons(it), []string{"new_device", "unusual_hour"}) {
		t.Errorf("suspicious item: is_suspicious %v, reasons %v; want both rules", it.IsSuspicious, it.SuspiciousReasons)
	}
	var tenant loginList
	a.getJSON(a.token("acme", "root", "admin.audit_log"), "/api/v1/login-history/tenant", url.Values{"suspicious_only": {"true"}}, &tenant)
	if len(tenant.History) != 1 || !slices.Equal(reasons(tenant.History[0]), []string{"new_device", "unusual_hour"}) {
		t.Errorf("suspicious_only: %+v, want a-phone with both rules", tenant.History)
	}
	// The tenant's whole list flags them too, and a login of an unknown
	// account (no user) flagged by a password spray.
	if err := a.store.Conn().Exec(context.Background(), `INSERT INTO alerts (tenant_id, occurred_at, id, event_id, user_id, rule, severity)
		SELECT tenant_id, occurred_at, 'al-3', 'x-unknown', '', 'password_spray', 'high' FROM login_events_by_time WHERE id = 'x-unknown' LIMIT 1`); err != nil {
		t.Fatal(err)
	}
	a.getJSON(a.token("acme", "root", "admin.audit_log"), "/api/v1/login-history/tenant", nil, &tenant)
	flagged := map[string][]string{}
	for _, it := range tenant.History {
		if it.IsSuspicious {
			flagged[it.ID] = reasons(it)
		}
	}
	if want := map[string][]string{"a-phone": {"new_device", "unusual_hour"}, "x-unknown": {"password_spray"}}; !reflect.DeepEqual(flagged, want) {
		t.Errorf("flagged on the tenant list: %v, want %v", flagged, want)
	}
	// Pages of flagged logins, one per page: two logins (three alerts), the
	// last page and one past it, each with the whole count.
	for page, wantIDs := range map[string][]string{"1": {"x-unknown"}, "2": {"a-phone"}, "3": {}} {
		a.getJSON(a.token("acme", "root", "admin.audit_log"), "/api/v1/login-history/tenant",
			url.Values{"suspicious_only": {"true"}, "per_page": {"1"}, "page": {page}}, &tenant)
		var ids []string
		for _, it := range tenant.History {
			ids = append(ids, it.ID)
		}
		if tenant.Pagination.Total != 2 || tenant.Pagination.LastPage != 2 || !slices.Equal(ids, wantIDs) {
			t.Errorf("suspicious_only page %s: %v, total %d, last page %d; want %v of 2", page, ids, tenant.Pagination.Total, tenant.Pagination.LastPage, wantIDs)
		}
	}
	a.getJSON(a.token("acme", "bob"), "/api/v1/login-history/suspicious", nil, &got)
	if got.Pagination.Total != 0 || got.History == nil {
		t.Errorf("bob's suspicious = %+v (want an empty list, not null)", got)
	}
}

func TestTenantLoginHistory(t *testing.T) {
	a := newAPI(t, now)
	seedLogins(t, a)
	admin := a.token("acme", "root", "admin.audit_log")

	var got loginList
	a.getJSON(admin, "/api/v1/login-history/tenant", nil, &got)
	if got.Pagination.Total != 19 {
		t.Fatalf("tenant total = %d, want 19 (acme's events, once each; none of tenant other)", got.Pagination.Total)
	}
	if got.History[0].ID != "x-unknown" || got.History[0].UserID != nil || got.History[0].User != nil ||
		got.History[0].Identifier == nil || *got.History[0].Identifier != "mallory@example.com" {
		t.Errorf("newest = %+v", got.History[0])
	}
	for _, it := range got.History {
		if it.ID == "a-ok-00" && (it.User == nil || it.User.ID != "alice" || it.User.Email == nil || *it.User.Email != "alice@example.com") {
			t.Errorf("user profile on tenant list = %+v", it.User)
		}
		if it.ID == "b-ok" && (it.User == nil || it.User.Name != nil) {
			t.Errorf("bob has no profile: %+v", it.User)
		}
		// A flagged row carries both its rules and its user's profile.
		if it.ID == "a-phone" && (len(it.SuspiciousReasons) == 0 || it.User == nil || it.User.Name == nil || *it.User.Name != "Alice") {
			t.Errorf("flagged row on tenant list = reasons %v, user %+v", it.SuspiciousReasons, it.User)
		}
	}
	a.getJSON(admin, "/api/v1/login-history/tenant", url.Values{"user_id": {"bob"}}, &got)
	if got.Pagination.Total != 1 || got.History[0].User == nil || got.History[0].User.ID != "bob" {
		t.Errorf("user_id=bob: %+v", got)
	}
	a.getJSON(admin, "/api/v1/login-history/tenant", url.Values{"suspicious_only": {"true"}}, &got)
	if got.Pagination.Total != 1 || got.History[0].ID != "a-phone" {
		t.Errorf("suspicious_only: %+v", got.Pagination)
	} else if u := got.History[0].User; u == nil || u.Email == nil || *u.Email != "alice@example.com" || len(got.History[0].SuspiciousReasons) == 0 {
		t.Errorf("suspicious_only row = reasons %v, user %+v", got.History[0].SuspiciousReasons, u)
	}
	a.getJSON(admin, "/api/v1/login-history/tenant", url.Values{"status": {"failed"}}, &got)
	if got.Pagination.Total != 3 {
		t.Errorf("status=failed: %d, want 3", got.Pagination.Total)
	}

	if code, _ := a.get(a.token("acme", "alice"), "/api/v1/login-history/tenant", nil); code != http.StatusForbidden {
		t.Errorf("non-admin: %d, want 403", code)
	}
}

// Tenant and user come from the token alone.
func TestIsolationByToken(t *testing.T) {
	a := newAPI(t, now)
	seedLogins(t, a)
	var got loginList
	// alice of tenant "other" sees her one login there, not acme's.
	a.getJSON(a.token("other", "alice"), "/api/v1/login-history", url.Values{"tenant_id": {"acme"}, "user_id": {"bob"}}, &got)
	if got.Pagination.Total != 1 || got.History[0].ID != "o-ok" {
		t.Errorf("other/alice sees %+v", got.Pagination)
	}
	// An admin of "other" asking for acme's user sees nothing of acme.
	a.getJSON(a.token("other", "root", "admin.audit_log"), "/api/v1/login-history/tenant", url.Values{"user_id": {"bob"}, "tenant_id": {"acme"}}, &got)
	if got.Pagination.Total != 0 {
		t.Errorf("cross-tenant admin sees %d rows", got.Pagination.Total)
	}
	// A token signed with another secret, or none at all: 401 with the JSON shape.
	for _, tok := range []string{"", "eyJhbGciOiJIUzI1NiJ9.e30.bad", forged(t)} {
		code, body := a.get(tok, "/api/v1/login-history", nil)
		if code != http.StatusUnauthorized || !strings.Contains(string(body), `"message"`) {
			t.Errorf("token %.20q: %d %s", tok, code, body)
		}
	}
}

func forged(t *testing.T) string {
	t.Helper()
	// Signed with a different secret: must not be accepted.
	tok, err := signWith([]byte("an-attackers-secret-32-bytes-long"), "acme", "root")
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestLoginHistoryValidation(t *testing.T) {
	a := newAPI(t, now)
	alice := a.token("acme", "alice")
	tests := []struct {
		q     url.Values
		param string
	}{
		{url.Values{"status": {"bogus"}}, "status"},
		{url.Values{"from": {"2026-13-01"}}, "from"},
		{url.Values{"to": {"yesterday"}}, "to"},
		{url.Values{"from": {"2026-11-10"}, "to": {"2026-11-01"}}, "from"},
		{url.Values{"per_page": {"0"}}, "per_page"},
		{url.Values{"per_page": {"101"}}, "per_page"},
		{url.Values{"per_page": {"ten"}}, "per_page"},
		{url.Values{"page": {"0"}}, "page"},
		{url.Values{"page": {"-1"}}, "page"},
		{url.Values{"status": {"success' OR 1=1 --"}}, "status"},
	}
	for _, tt := range tests {
		errs := a.validationErrors(alice, "/api/v1/login-history", tt.q)
		if len(errs[tt.param]) == 0 {
			t.Errorf("%v: errors %v do not name %s", tt.q, errs, tt.param)
		}
	}
	// Several problems are all named at once.
	errs := a.validationErrors(alice, "/api/v1/login-history", url.Values{"status": {"x"}, "per_page": {"0"}})
	if len(errs) != 2 {
		t.Errorf("two bad parameters gave %v", errs)
	}
	admin := a.token("acme", "root", "admin.audit_log")
	if errs := a.validationErrors(admin, "/api/v1/login-history/tenant", url.Values{"suspicious_only": {"maybe"}}); len(errs["suspicious_only"]) == 0 {
		t.Errorf("suspicious_only=maybe: %v", errs)
	}
	if errs := a.validationErrors(admin, "/api/v1/login-history/tenant", url.Values{"user_id": {strings.Repeat("u", 129)}}); len(errs["user_id"]) == 0 {
		t.Errorf("long user_id: %v", errs)
	}
}

// SQL metacharacters in string parameters are data, never SQL.
func TestStringParametersAreBound(t *testing.T) {
	a := newAPI(t, now)
	seedLogins(t, a)
	admin := a.token("acme", "root", "admin.audit_log")
	for _, v := range []string{"bob' OR '1'='1", `bob\' --`, "'); DROP TABLE login_events; --", "bob\x00"} {
		var got loginList
		a.getJSON(admin, "/api/v1/login-history/tenant", url.Values{"user_id": {v}}, &got)
		if got.Pagination.Total != 0 {
			t.Errorf("user_id=%q matched %d rows", v, got.Pagination.Total)
		}
	}
	var got loginList
	a.getJSON(admin, "/api/v1/login-history/tenant", nil, &got)
	if got.Pagination.Total != 19 {
		t.Errorf("after the attempts the tenant has %d rows", got.Pagination.Total)
	}
}

func TestLoginHistoryCSV(t *testing.T) {
	a := newAPI(t, now)
	seedLogins(t, a)
	code, body := a.get(a.token("acme", "root", "admin.audit_log"), "/api/v1/login-history/tenant",
		url.Values{"user_id": {"alice"}, "per_page": {"3"}}, "Accept", "text/csv")
	if code != http.StatusOK {
		t.Fatalf("%d %s", code, body)
	}
	recs, err := csv.NewReader(strings.NewReader(string(body))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 4 {
		t.Fatalf("%d CSV lines, want header + 3", len(recs))
	}
	header := strings.Join(recs[0], ",")
	for _, col := range []string{"id", "user_id", "status", "created_at", "user.id", "user.email"} {
		if !strings.Contains(","+header+",", ","+col+",") {
			t.Errorf("header %q lacks %s", header, col)
		}
	}
	if recs[1][0] != "a-ok-00" {
		t.Errorf("first row %v", recs[1])
	}
}

// The tenant-wide total comes from the daily rollup once the job has run; it
// must equal the raw count, filters included.
func TestTenantTotalsWithRollup(t *testing.T) {
	a := newAPI(t, now)
	seedLogins(t, a)
	admin := a.token("acme", "root", "admin.audit_log")
	queries := []url.Values{
		nil,
		{"status": {"failed"}},
		{"from": {ago(10 * day).Format("2006-01-02")}},
		{"from": {ago(45 * day).Format("2006-01-02")}, "to": {ago(2 * day).Format("2006-01-02")}, "status": {"success"}},
	}
	before := make([]uint64, len(queries))
	for i, q := range queries {
		var got loginList
		a.getJSON(admin, "/api/v1/login-history/tenant", q, &got)
		before[i] = got.Pagination.Total
	}
	if before[0] != 19 || before[1] != 3 {
		t.Fatalf("raw totals %v", before)
	}
	if err := store.NewRollup(a.store, store.RollupConfig{}).RunOnce(context.Background(), now); err != nil {
		t.Fatal(err)
	}
	for i, q := range queries {
		var got loginList
		a.getJSON(admin, "/api/v1/login-history/tenant", q, &got)
		if got.Pagination.Total != before[i] {
			t.Errorf("%v: total %d after the rollup, %d before", q, got.Pagination.Total, before[i])
		}
	}
}

// Tenant-wide pages are looked for in widening time windows (the seed spans
// 55 days, so every window size is crossed): together they list each event
// once, newest first.
func TestTenantPagesCoverEverythingOnce(t *testing.T) {
	a := newAPI(t, now)
	seedLogins(t, a)
	admin := a.token("acme", "root", "admin.audit_log")
	var all []httpapi.LoginItem
	for page := 1; page <= 5; page++ {
		var got loginList
		a.getJSON(admin, "/api/v1/login-history/tenant", url.Values{"per_page": {"4"}, "page": {fmt.Sprint(page)}}, &got)
		if got.Pagination.LastPage != 5 || got.Pagination.Total != 19 {
			t.Fatalf("page %d pagination %+v", page, got.Pagination)
		}
		all = append(all, got.History...)
	}
	seen := map[string]bool{}
	for i, it := range all {
		if seen[it.ID] {
			t.Errorf("%s listed twice", it.ID)
		}
		seen[it.ID] = true
		if i > 0 && it.CreatedAt > all[i-1].CreatedAt {
			t.Errorf("%s (%s) after %s (%s): not newest first", it.ID, it.CreatedAt, all[i-1].ID, all[i-1].CreatedAt)
		}
	}
	if len(seen) != 19 {
		t.Errorf("pages listed %d events, want 19", len(seen))
	}
	if all[len(all)-1].ID != "a-ok-11" {
		t.Errorf("oldest = %s, want a-ok-11", all[len(all)-1].ID)
	}
}
