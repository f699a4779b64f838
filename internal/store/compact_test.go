package store_test

import (
	"context"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/authwatch/authwatch/event"
	"github.com/authwatch/authwatch/internal/detect"
	"github.com/authwatch/authwatch/internal/store"
	"github.com/authwatch/authwatch/internal/testenv"
)

// Closed months with three parts or more are merged into one, without
// the copies redelivery left; a month with two parts, the month just
// ended and the current one are left alone. The answers stay the same.
func TestCompactClosedMonths(t *testing.T) {
	st, _ := testenv.OpenStore(t)
	ctx := context.Background()
	now := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC) // October ended 36 hours ago
	exec := func(q string) {
		t.Helper()
		if err := st.Conn().Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	tables := []string{"login_events", "login_events_by_time", "token_events", "token_events_by_time"}
	// Background merges would merge the small parts below on their own;
	// stopped, the parts stay as inserted until the selection is checked.
	for _, table := range tables {
		exec("SYSTEM STOP MERGES " + table)
	}
	// Three inserts into August (one repeats an event: a redelivered copy),
	// two into September, three into October and November.
	inserts := map[time.Month]int{time.August: 3, time.September: 2, time.October: 3, time.November: 3}
	for month, n := range inserts {
		for i := range n {
			at := time.Date(2026, month, 10+i, 9, 0, 0, 0, time.UTC)
			id := fmt.Sprintf("%d-%d", month, i)
			if month == time.August && i == 2 {
				id, at = "8-1", time.Date(2026, month, 11, 9, 0, 0, 0, time.UTC) // a copy of the one before
			}
			insertAt(t, st, at, rollLogin("acme", "l"+id, "alice", event.StatusSuccess, "203.0.113.9", at),
				rollToken("t"+id, "alice", "tk1", event.TokenAuthenticated, at))
		}
	}
	for _, table := range tables {
		months, err := st.MonthsToCompact(ctx, table, now)
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(months) != fmt.Sprintf("[{%s 202608 3}]", table) {
			t.Errorf("%s: months to compact %v, want August's three parts alone", table, months)
		}
	}
	for _, table := range tables {
		exec("SYSTEM START MERGES " + table)
	}
	before, err := st.UserLoginStats(ctx, "acme", "alice", now)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.CompactClosed(ctx, now); err != nil {
		t.Fatal(err)
	}
	for _, table := range tables {
		var parts, rows uint64
		if err := st.Conn().QueryRow(ctx, "SELECT count(), sum(rows) FROM system.parts WHERE database = ? AND table = ? AND active AND partition = '202608'",
			st.Database(), table).Scan(&parts, &rows); err != nil {
			t.Fatal(err)
		}
		if parts != 1 || rows != 2 {
			t.Errorf("%s: August in %d parts holding %d rows after compaction, want one part of the two events", table, parts, rows)
		}
		if again, err := st.MonthsToCompact(ctx, table, now); err != nil || len(again) != 0 {
			t.Errorf("%s: a second run would compact %v (%v)", table, again, err)
		}
	}
	after, err := st.UserLoginStats(ctx, "acme", "alice", now)
	if err != nil || !reflect.DeepEqual(after, before) {
		t.Errorf("login stats after compaction %+v (%v), want %+v", after, err, before)
	}
}

// Summary tables in three parts or more are merged into one, each key's
// rows folded into one; a table in fewer parts is left alone. The token
// routes, the profiles and the rules answer the same after.
func TestMergeSummaries(t *testing.T) {
	st, _ := testenv.OpenStore(t)
	ctx := context.Background()
	exec := func(q string) {
		t.Helper()
		if err := st.Conn().Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	merged := []string{"token_summary", "token_use_ips", "token_users", "user_profiles"}
	for _, table := range append(merged, "alerts_by_event") {
		exec("SYSTEM STOP MERGES " + table)
	}
	// Three inserts, each naming the same tokens, user and IP: three parts
	// per summary table, each holding a row for every key.
	day := time.Now().UTC().Truncate(24*time.Hour).AddDate(0, 0, -1)
	for i := range 3 {
		at := day.Add(time.Duration(i+1) * time.Hour)
		login := rollLogin("acme", fmt.Sprintf("l%d", i), "alice", event.StatusSuccess, "203.0.113.9", at)
		login.User = &event.UserProfile{Name: fmt.Sprintf("Alice %d", i), Email: "alice@example.com"}
		insertAt(t, st, at, login,
			rollToken(fmt.Sprintf("a%d", i), "alice", "tk1", event.TokenAuthenticated, at),
			rollToken(fmt.Sprintf("b%d", i), "alice", "tk2", event.TokenAuthenticated, at))
	}
	// Two alert inserts: two parts, below the threshold.
	user := "alice"
	for i := range 2 {
		at := day.Add(time.Duration(i+1) * time.Hour)
		if err := st.InsertAlerts(ctx, []detect.Alert{{ID: detect.AlertID("acme", fmt.Sprintf("l%d", i), detect.NewDevice),
			TenantID: "acme", UserID: &user, EventID: fmt.Sprintf("l%d", i), Rule: detect.NewDevice,
			Severity: detect.SeverityOf(detect.NewDevice), IPAddress: "203.0.113.9", OccurredAt: at, DetectedAt: at}}); err != nil {
			t.Fatal(err)
		}
	}
	parts := func(table string) (n, rows uint64) {
		t.Helper()
		if err := st.Conn().QueryRow(ctx, "SELECT count(), sum(rows) FROM system.parts WHERE database = ? AND table = ? AND active",
			st.Database(), table).Scan(&n, &rows); err != nil {
			t.Fatal(err)
		}
		return n, rows
	}
	for _, table := range merged {
		if n, _ := parts(table); n != 3 {
			t.Fatalf("%s in %d parts before the merge, want the three inserts'", table, n)
		}
	}
	scope := store.TokenScope{TenantID: "acme", UserID: "alice"}
	from, to := day.AddDate(0, 0, -29), day.AddDate(0, 0, 2)
	answers := func() (store.TokenStats, []store.TokenUses, map[string]store.Profile) {
		t.Helper()
		stats, err := st.TokenStats(ctx, scope, from, to)
		if err != nil {
			t.Fatal(err)
		}
		top, err := st.TopTokens(ctx, scope, 10)
		if err != nil {
			t.Fatal(err)
		}
		profiles, err := st.Profiles(ctx, "acme", []string{"alice"})
		if err != nil {
			t.Fatal(err)
		}
		return stats, top, profiles
	}
	stats, top, profiles := answers()
	if stats.TotalTokens != 2 || stats.TotalRequests != 6 || stats.UniqueIPs != 1 || len(top) != 2 || profiles["alice"].Name != "Alice 2" {
		t.Fatalf("before the merge: stats %+v, top %+v, profiles %+v", stats, top, profiles)
	}

	// The selection, while nothing merges on its own: the four tables in
	// three parts, not alerts_by_event in two.
	chosen, err := st.SummariesToMerge(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, m := range chosen {
		names = append(names, m.Table)
	}
	if fmt.Sprint(names) != fmt.Sprint(merged) {
		t.Errorf("would merge %v, want %v", names, merged)
	}
	// OPTIMIZE needs merges running. alerts_by_event keeps them stopped: a
	// merge of it would fail, and its parts stay as inserted.
	for _, table := range merged {
		exec("SYSTEM START MERGES " + table)
	}
	if _, err := st.MergeSummaries(ctx); err != nil {
		t.Fatal(err)
	}
	// One row per key: two tokens, one IP, two (user, token) pairs, one profile.
	wantRows := map[string]uint64{"token_summary": 2, "token_use_ips": 1, "token_users": 2, "user_profiles": 1}
	for _, table := range merged {
		if n, rows := parts(table); n != 1 || rows != wantRows[table] {
			t.Errorf("%s in %d parts of %d rows after the merge, want one part of %d", table, n, rows, wantRows[table])
		}
	}
	if n, _ := parts("alerts_by_event"); n != 2 {
		t.Errorf("alerts_by_event in %d parts, want its two left alone", n)
	}
	stats2, top2, profiles2 := answers()
	if stats2 != stats || !reflect.DeepEqual(top2, top) || !reflect.DeepEqual(profiles2, profiles) {
		t.Errorf("after the merge: stats %+v, top %+v, profiles %+v; want %+v, %+v, %+v", stats2, top2, profiles2, stats, top, profiles)
	}
	if again, err := st.MergeSummaries(ctx); err != nil || len(again) != 0 {
		t.Errorf("a second run merged %v (%v), want nothing", again, err)
	}
	exec("SYSTEM START MERGES alerts_by_event")
}
