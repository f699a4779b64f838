package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/authwatch/authwatch/event"
	"github.com/authwatch/authwatch/internal/detect"
	"github.com/authwatch/authwatch/internal/enrich"
	"github.com/authwatch/authwatch/internal/store"
	"github.com/authwatch/authwatch/internal/testenv"
)

// Retention drops whole partitions once they ended before now minus the
// period of their kind, each kind on its own clock, and takes the flag
// index of dropped alerts with them.
func TestRetentionDropsOldPartitions(t *testing.T) {
	ctx := context.Background()
	st, _ := testenv.OpenStore(t)
	now := time.Now().UTC()
	ages := []int{400, 100, 0} // days
	b := store.NewBatch(16)
	enr := enrich.New(nil)
	var alerts []detect.Alert
	for _, age := range ages {
		at := now.AddDate(0, 0, -age)
		login := &event.Event{ID: fmt.Sprintf("l%d", age), Kind: event.KindLogin, TenantID: "acme", UserID: "alice", OccurredAt: at,
			IPAddress: "203.0.113.9", Status: event.StatusSuccess}
		tok := &event.Event{ID: fmt.Sprintf("t%d", age), Kind: event.KindToken, TenantID: "acme", UserID: "alice", OccurredAt: at,
			IPAddress: "203.0.113.9", TokenID: "tok", TokenType: event.TokenSecret, Environment: event.EnvLive, Action: event.TokenAuthenticated}
		b.Add(login, enr.Enrich("", login.IPAddress), now)
		b.Add(tok, enr.Enrich("", tok.IPAddress), now)
		alerts = append(alerts, detect.NewAlert("acme", "alice", login.ID, "203.0.113.9", "", at, now, detect.Verdict{Rule: detect.NewDevice}))
	}
	if err := st.Insert(ctx, b); err != nil {
		t.Fatal(err)
	}
	if err := st.InsertAlerts(ctx, alerts); err != nil {
		t.Fatal(err)
	}
	// Daily rollup rows three and one years back: counts outlive raw rows.
	for _, years := range []int{3, 1} {
		bucket := time.Date(now.Year()-years, 6, 1, 0, 0, 0, 0, time.UTC).Unix()
		if err := st.Conn().Exec(ctx, fmt.Sprintf(`INSERT INTO login_rollup_daily (tenant_id, bucket, success, version) SELECT 'acme', toDateTime(%d), 1, 1`, bucket)); err != nil {
			t.Fatal(err)
		}
	}

	// Hourly rollup rows of logins and tokens 500 and 100 days back.
	for _, age := range []int{500, 100} {
		bucket := now.AddDate(0, 0, -age).Truncate(time.Hour).Unix()
		for _, table := range []string{"login_rollup_hourly", "token_rollup_hourly"} {
			if err := st.Conn().Exec(ctx, fmt.Sprintf(`INSERT INTO %s (tenant_id, bucket, version) SELECT 'acme', toDateTime(%d), 1`, table, bucket)); err != nil {
				t.Fatal(err)
			}
		}
	}

	// Late-arrival records (0009) ingested 400 days ago, and the ones the
	// late events above left today: kept with the longer raw retention.
	if err := st.Conn().Exec(ctx, fmt.Sprintf(`INSERT INTO late_arrivals (tenant_id, kind, ingested_at, occurred_at)
		SELECT 'acme', 'logins', toDateTime(%d), toDateTime(%d)`, now.AddDate(0, 0, -400).Unix(), now.AddDate(0, 0, -401).Unix())); err != nil {
		t.Fatal(err)
	}

	day := 24 * time.Hour
	keep := store.Retention{Logins: 365 * day, Tokens: 60 * day, Alerts: 365 * day, HourlyRollup: 400 * day, DailyRollup: 730 * day}
	dropped, err := st.ApplyRetention(ctx, keep, now)
	if err != nil {
		t.Fatal(err)
	}
	ids := func(table string) []string {
		var out []string
		rows, err := st.Conn().Query(ctx, "SELECT id FROM "+table+" ORDER BY occurred_at")
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				t.Fatal(err)
			}
			out = append(out, id)
		}
		return out
	}
	for table, want := range map[string]string{
		"login_events": "[l100 l0]", "login_events_by_time": "[l100 l0]",
		"token_events": "[t0]", "token_events_by_time": "[t0]",
	} {
		if got := fmt.Sprint(ids(table)); got != want {
			t.Errorf("%s keeps %s, want %s", table, got, want)
		}
	}
	var kept uint64
	if err := st.Conn().QueryRow(ctx, "SELECT count() FROM alerts").Scan(&kept); err != nil || kept != 2 {
		t.Errorf("alerts kept: %d (%v), want 2", kept, err)
	}
	testenv.Eventually(t, 30*time.Second, "the flag of the dropped alert gone", func() bool {
		var n uint64
		err := st.Conn().QueryRow(ctx, "SELECT count() FROM alerts_by_event").Scan(&n)
		return err == nil && n == 2
	})
	if err := st.Conn().QueryRow(ctx, "SELECT count() FROM login_rollup_daily").Scan(&kept); err != nil || kept != 1 {
		t.Errorf("daily rollup rows kept: %d (%v), want the one of last year", kept, err)
	}
	for _, table := range []string{"login_rollup_hourly", "token_rollup_hourly"} {
		var oldest time.Time
		if err := st.Conn().QueryRow(ctx, "SELECT count(), min(bucket) FROM "+table).Scan(&kept, &oldest); err != nil || kept != 1 ||
			now.Sub(oldest) > 101*day {
			t.Errorf("%s kept %d rows from %s (%v), want the one of 100 days ago", table, kept, oldest, err)
		}
	}
	var lateOld, lateNow uint64
	if err := st.Conn().QueryRow(ctx, "SELECT countIf(ingested_at < toDateTime(?)), countIf(ingested_at >= toDateTime(?)) FROM late_arrivals",
		now.AddDate(0, 0, -300).Unix(), now.AddDate(0, 0, -300).Unix()).Scan(&lateOld, &lateNow); err != nil || lateOld != 0 || lateNow != 4 {
		t.Errorf("late arrivals kept: %d of 400 days ago, %d of today (%v); want 0 and the 4 late events stored today", lateOld, lateNow, err)
	}
	if len(dropped) < 8 {
		t.Errorf("dropped %v", dropped)
	}
	// Running again finds nothing more to do.
	again, err := st.ApplyRetention(ctx, keep, now)
	if err != nil || len(again) != 0 {
		t.Errorf("second run: %v %v", again, err)
	}
}
