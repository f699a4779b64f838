package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/authwatch/authwatch/internal/detect"
	"github.com/authwatch/authwatch/internal/httpapi"
)

type alertList struct {
	History    []json.RawMessage  `json:"history"`
	Pagination httpapi.Pagination `json:"pagination"`
}

// newAlert builds the alert a rule raises on an event (SPEC §4); user "" is
// an event without a user.
func newAlert(tenant, eventID string, rule detect.Rule, user, ip string, at time.Time) detect.Alert {
	a := detect.Alert{ID: detect.AlertID(tenant, eventID, rule), TenantID: tenant, EventID: eventID, Rule: rule,
		Severity: detect.SeverityOf(rule), Reasons: []string{"seen from " + ip + " for the first time"}, IPAddress: ip,
		OccurredAt: at, DetectedAt: at.Add(2 * time.Second)}
	if user != "" {
		a.UserID = &user
	}
	return a
}

// seedAlerts stores 7 alerts of acme (5 of alice, one without a user, one
// of bob), a redelivered copy of one of them, and 2 alerts of another tenant
// whose user is also called alice. They are returned newest first.
func seedAlerts(t *testing.T, a *api) []detect.Alert {
	t.Helper()
	de := "DE"
	acme := []detect.Alert{
		newAlert("acme", "e1", detect.NewDevice, "alice", "203.0.113.7", ago(10*time.Minute+500*time.Millisecond)),
		newAlert("acme", "e2", detect.IPLockout, "", "198.51.100.9", ago(time.Hour)),
		newAlert("acme", "e3", detect.NewCountry, "alice", "81.2.69.10", ago(3*time.Hour)),
		newAlert("acme", "e4", detect.FailuresThenSuccess, "bob", "89.160.20.1", ago(day)),
		newAlert("acme", "e5", detect.NewDevice, "alice", "203.0.113.8", ago(2*day)),
		newAlert("acme", "e6", detect.UnusualHour, "alice", "81.2.69.10", ago(10*day)),
		newAlert("acme", "e7", detect.ImpossibleTravel, "alice", "81.2.69.10", ago(40*day)),
	}
	acme[2].Country = &de
	acme[0].Reasons = append(acme[0].Reasons, `new "desktop" <Chrome> & Windows`) // escaped as published
	other := []detect.Alert{
		newAlert("other", "o1", detect.NewDevice, "alice", "1.1.1.1", ago(5*time.Minute)),
		newAlert("other", "o2", detect.IPLockout, "", "1.1.1.2", ago(2*time.Hour)),
	}
	ctx := context.Background()
	if err := a.store.InsertAlerts(ctx, append(acme, other...)); err != nil {
		t.Fatal(err)
	}
	// The detector redelivered e3's message: the same alert written again.
	if err := a.store.InsertAlerts(ctx, []detect.Alert{acme[2]}); err != nil {
		t.Fatal(err)
	}
	return acme
}

func TestAlertsList(t *testing.T) {
	a := newAPI(t, now)
	acme := seedAlerts(t, a)
	admin := a.token("acme", "root", "admin.audit_log")

	var got alertList
	a.getJSON(admin, "/api/v1/alerts", nil, &got)
	if got.Pagination != (httpapi.Pagination{CurrentPage: 1, LastPage: 1, PerPage: 25, Total: 7}) {
		t.Fatalf("pagination = %+v, want 7 alerts (the redelivered one once)", got.Pagination)
	}
	if len(got.History) != len(acme) {
		t.Fatalf("%d items, want %d", len(got.History), len(acme))
	}
	// Each item is the alert JSON as published, byte for byte, newest first.
	for i, want := range acme {
		doc, err := want.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got.History[i], doc) {
			t.Errorf("item %d =\n%s\nwant\n%s", i, got.History[i], doc)
		}
	}
	var first detect.Alert
	if err := json.Unmarshal(got.History[1], &first); err != nil || first.UserID != nil || first.Rule != detect.IPLockout {
		t.Errorf("alert without a user = %s (%v)", got.History[1], err)
	}
}

func TestAlertsFiltersAndPages(t *testing.T) {
	a := newAPI(t, now)
	seedAlerts(t, a)
	admin := a.token("acme", "root", "admin.audit_log")
	ids := func(q url.Values) ([]string, httpapi.Pagination) {
		t.Helper()
		var got alertList
		a.getJSON(admin, "/api/v1/alerts", q, &got)
		out := make([]string, len(got.History))
		for i, raw := range got.History {
			var al detect.Alert
			if err := json.Unmarshal(raw, &al); err != nil {
				t.Fatal(err)
			}
			if al.TenantID != "acme" {
				t.Fatalf("%v: an alert of tenant %q", q, al.TenantID)
			}
			out[i] = al.EventID
		}
		return out, got.Pagination
	}
	date := func(d time.Duration) string { return ago(d).Format("2006-01-02") }
	tests := []struct {
		name  string
		q     url.Values
		want  string
		total uint64
	}{
		{"rule", url.Values{"rule": {"new_device"}}, "[e1 e5]", 2},
		{"user", url.Values{"user_id": {"alice"}}, "[e1 e3 e5 e6 e7]", 5},
		{"rule and user", url.Values{"rule": {"failures_then_success"}, "user_id": {"bob"}}, "[e4]", 1},
		{"another tenant's user", url.Values{"user_id": {"nobody"}}, "[]", 0},
		{"from", url.Values{"from": {date(2 * day)}}, "[e1 e2 e3 e4 e5]", 5},
		{"to", url.Values{"to": {date(2 * day)}}, "[e5 e6 e7]", 3},
		{"one day", url.Values{"from": {date(10 * day)}, "to": {date(10 * day)}}, "[e6]", 1},
		{"page 1", url.Values{"per_page": {"3"}}, "[e1 e2 e3]", 7},
		{"page 3, the last", url.Values{"per_page": {"3"}, "page": {"3"}}, "[e7]", 7},
		{"page past the end", url.Values{"per_page": {"3"}, "page": {"4"}}, "[]", 7},
		{"one per page", url.Values{"per_page": {"1"}, "page": {"7"}}, "[e7]", 7},
		{"a filtered page", url.Values{"user_id": {"alice"}, "per_page": {"2"}, "page": {"2"}}, "[e5 e6]", 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, pg := ids(tt.q)
			if fmt.Sprint(got) != tt.want || pg.Total != tt.total {
				t.Errorf("%v: %v (total %d), want %s (total %d)", tt.q, got, pg.Total, tt.want, tt.total)
			}
		})
	}
	_, pg := ids(url.Values{"per_page": {"3"}, "page": {"4"}})
	if pg != (httpapi.Pagination{CurrentPage: 4, LastPage: 3, PerPage: 3, Total: 7}) {
		t.Errorf("past the end: %+v", pg)
	}
}

func TestAlertsValidationAndAccess(t *testing.T) {
	a := newAPI(t, now)
	seedAlerts(t, a)
	admin := a.token("acme", "root", "admin.audit_log")

	errs := a.validationErrors(admin, "/api/v1/alerts", url.Values{"rule": {"sneezed"}, "from": {"2026-13-01"}, "to": {"yesterday"}, "per_page": {"101"}})
	for _, p := range []string{"rule", "from", "to", "per_page"} {
		if len(errs[p]) == 0 {
			t.Errorf("422 does not name %s: %v", p, errs)
		}
	}
	if errs := a.validationErrors(admin, "/api/v1/alerts", url.Values{"from": {"2026-11-20"}, "to": {"2026-11-01"}}); len(errs["from"]) == 0 {
		t.Errorf("from after to: %v", errs)
	}
	// Every rule of SPEC §4 is accepted.
	for _, r := range detect.Rules {
		if code, body := a.get(admin, "/api/v1/alerts", url.Values{"rule": {string(r)}}); code != http.StatusOK {
			t.Errorf("rule=%s: %d %s", r, code, body)
		}
	}

	if code, _ := a.get(a.token("acme", "alice"), "/api/v1/alerts", nil); code != http.StatusForbidden {
		t.Errorf("non-admin: %d, want 403", code)
	}
	if code, _ := a.get("", "/api/v1/alerts", nil); code != http.StatusUnauthorized {
		t.Errorf("no token: %d, want 401", code)
	}
	// The other tenant's admin sees its own two alerts only; a tenant_id
	// parameter changes nothing.
	var got alertList
	a.getJSON(a.token("other", "root", "admin.audit_log"), "/api/v1/alerts", url.Values{"tenant_id": {"acme"}}, &got)
	if got.Pagination.Total != 2 || len(got.History) != 2 {
		t.Fatalf("other tenant: %+v", got)
	}
	for _, raw := range got.History {
		var al detect.Alert
		if err := json.Unmarshal(raw, &al); err != nil || al.TenantID != "other" {
			t.Errorf("other tenant sees %s", raw)
		}
	}
	// A tenant without alerts: an empty page.
	a.getJSON(a.token("empty", "root", "admin.audit_log"), "/api/v1/alerts", nil, &got)
	if got.Pagination.Total != 0 || len(got.History) != 0 || got.Pagination.LastPage != 1 {
		t.Errorf("empty tenant: %+v", got)
	}
}
