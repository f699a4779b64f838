package store_test

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/authwatch/authwatch/event"
	"github.com/authwatch/authwatch/internal/detect"
	"github.com/authwatch/authwatch/internal/enrich"
	"github.com/authwatch/authwatch/internal/store"
	"github.com/authwatch/authwatch/internal/testenv"
)

// Alert pages: each id once (a redelivery writes an alert again), newest
// first, and the window path pages exactly as sorting everything does.
func TestAlertPages(t *testing.T) {
	s, _ := testenv.OpenStore(t)
	ctx := context.Background()
	now := time.Now().UTC()
	var alerts []detect.Alert
	for i := range 120 {
		at := now.Add(-time.Duration(i*i) * 10 * time.Minute) // spread over 100 days
		rule := detect.NewDevice
		if i%3 == 0 {
			rule = detect.IPLockout
		}
		user := fmt.Sprintf("u%d", i%2)
		alerts = append(alerts, detect.Alert{ID: detect.AlertID("t1", fmt.Sprintf("ev-%03d", i), rule), TenantID: "t1",
			UserID: &user, EventID: fmt.Sprintf("ev-%03d", i), Rule: rule, Severity: detect.SeverityOf(rule),
			IPAddress: "81.2.69.1", OccurredAt: at, DetectedAt: at})
	}
	other := alerts[0]
	other.TenantID, other.ID = "t2", "other"
	if err := s.InsertAlerts(ctx, append(alerts, other)); err != nil {
		t.Fatal(err)
	}
	if err := s.InsertAlerts(ctx, alerts[:30]); err != nil { // redelivered
		t.Fatal(err)
	}

	for _, f := range []store.AlertFilter{
		{TenantID: "t1"},
		{TenantID: "t1", Rule: "ip_lockout"},
		{TenantID: "t1", UserID: "u1", From: now.Add(-30 * 24 * time.Hour)},
	} {
		for _, pg := range [][2]int{{0, 25}, {25, 25}, {50, 10}, {110, 25}, {200, 5}} {
			restore := store.SetDirectReadMax(1 << 62)
			direct, total, err := s.Alerts(ctx, f, pg[0], pg[1], now)
			restore()
			if err != nil {
				t.Fatal(err)
			}
			restore = store.SetDirectReadMax(0)
			windowed, wtotal, err := s.Alerts(ctx, f, pg[0], pg[1], now)
			restore()
			if err != nil {
				t.Fatal(err)
			}
			if total != wtotal || !reflect.DeepEqual(direct, windowed) || (pg[0] < int(total) && len(direct) == 0) {
				t.Errorf("%+v page %v: direct %d of %d, windowed %d of %d", f, pg, len(direct), total, len(windowed), wtotal)
			}
			if f.Rule == "" && f.UserID == "" && total != 120 {
				t.Errorf("total = %d, want 120 (each alert once)", total)
			}
			var prev time.Time
			for i, doc := range direct {
				var a detect.Alert
				if err := json.Unmarshal([]byte(doc), &a); err != nil {
					t.Fatal(err)
				}
				if a.TenantID != "t1" || (f.Rule != "" && string(a.Rule) != f.Rule) || (f.UserID != "" && *a.UserID != f.UserID) {
					t.Fatalf("%+v: alert %s does not match", f, doc)
				}
				if i > 0 && a.OccurredAt.After(prev) {
					t.Fatalf("%+v: not newest first at %d", f, i)
				}
				prev = a.OccurredAt
			}
		}
	}
}

func TestLoginFailuresFromIP(t *testing.T) {
	s, _ := testenv.OpenStore(t)
	ctx := context.Background()
	now := time.Now().UTC()
	ev := func(tenant, id, ip string, st event.Status, ago time.Duration) *event.Event {
		return &event.Event{ID: id, Kind: event.KindLogin, TenantID: tenant, UserID: "u", OccurredAt: now.Add(-ago), IPAddress: ip, Status: st}
	}
	b := store.NewBatch(8)
	for _, e := range []*event.Event{
		ev("t1", "a", "2001:db8::1", event.StatusFailed, time.Minute),
		ev("t1", "a", "2001:db8::1", event.StatusFailed, time.Minute), // a redelivered copy
		ev("t1", "b", "2001:db8::1", event.Status2FAFailed, 14*time.Minute),
		ev("t1", "c", "2001:db8::1", event.StatusSuccess, time.Minute),
		ev("t1", "d", "2001:db8::1", event.StatusFailed, 16*time.Minute),
		ev("t1", "e", "2001:db8::2", event.StatusFailed, time.Minute),
		ev("t2", "f", "2001:db8::1", event.StatusFailed, time.Minute),
	} {
		b.Add(e, enrich.Result{}, now)
	}
	if err := s.Insert(ctx, b); err != nil {
		t.Fatal(err)
	}
	n, err := s.LoginFailuresFromIP(ctx, "t1", "2001:db8::1", now.Add(-15*time.Minute))
	if err != nil || n != 2 {
		t.Errorf("failures = %d, %v; want 2", n, err)
	}
}

func TestAuditLog(t *testing.T) {
	s, _ := testenv.OpenStore(t)
	ctx := context.Background()
	at := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	for i, e := range []store.AuditEntry{
		{TenantID: "t1", At: at, Actor: "root", Action: "lockout_delete", Target: "203.0.113.7", Detail: `{"failed_attempts":5}`},
		{TenantID: "t1", At: at.Add(time.Minute), Actor: "ops", Action: "lockout_delete", Target: "2001:db8::1"},
		{TenantID: "t2", At: at, Actor: "root", Action: "lockout_delete", Target: "203.0.113.7"},
	} {
		if err := s.InsertAudit(ctx, e); err != nil {
			t.Fatalf("entry %d: %v", i, err)
		}
	}
	got, err := s.AuditLog(ctx, "t1")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Actor != "ops" || got[1].Detail != `{"failed_attempts":5}` || !got[1].At.Equal(at) {
		t.Errorf("audit log = %+v", got)
	}
}
