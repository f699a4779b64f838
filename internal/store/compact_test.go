package store_test

import (
	"context"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/authwatch/authwatch/event"
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
