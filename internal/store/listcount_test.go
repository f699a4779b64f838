package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/authwatch/authwatch/event"
	"github.com/authwatch/authwatch/internal/store"
	"github.com/authwatch/authwatch/internal/testenv"
)

// A user's list and a token's list count their closed hours once per
// rollup version and the rest on every page, and their totals stay exact:
// an event after the mark and an event that arrives late into a closed
// hour count at once, and the page holds as many rows as the total says.
// The one event the totals count only from the job's next run is one
// stamped as ingested before the job's last sweep less its margin (a batch
// held that long, the case rollup.go's sweep misses too).
func TestListTotalsKeepClosedHours(t *testing.T) {
	st, _ := testenv.OpenStore(t)
	ctx := context.Background()
	defer store.SetKeptListMin(0)()
	day := store.Daily.Truncate(rollNow)
	both := func(id string, at time.Time) []*event.Event {
		return []*event.Event{
			rollLogin("acme", "l-"+id, "alice", event.StatusSuccess, "10.0.0.1", at),
			rollToken("t-"+id, "alice", "tk1", event.TokenAuthenticated, at),
		}
	}
	var evs []*event.Event
	for i := range 6 {
		evs = append(evs, both(fmt.Sprint(i), day.AddDate(0, 0, -i-1).Add(9*time.Hour))...)
	}
	// Stored an hour before the job's run: not late arrivals for it.
	insertAt(t, st, rollNow.Add(-time.Hour), evs...)
	insertAt(t, st, rollNow.Add(-time.Hour), evs[0], evs[1]) // redelivered copies
	job := store.NewRollup(st, store.RollupConfig{})
	if err := job.RunOnce(ctx, rollNow); err != nil {
		t.Fatal(err)
	}

	// totals: the whole list and its part before today (all closed), each
	// as the login list and the token list say, checked against their rows.
	check := func(want, wantClosed uint64, rowsToo bool, when string) {
		t.Helper()
		for _, to := range []time.Time{{}, day} {
			logins, n, err := st.Logins(ctx, store.LoginFilter{TenantID: "acme", UserID: "alice", To: to}, 0, 100)
			if err != nil {
				t.Fatal(err)
			}
			events, m, err := st.TokenEvents(ctx, store.TokenEventFilter{TenantID: "acme", TokenID: "tk1", To: to}, 0, 100, rollNow)
			if err != nil {
				t.Fatal(err)
			}
			w := want
			if !to.IsZero() {
				w = wantClosed
			}
			rows := uint64(len(logins))<<32 | uint64(len(events))
			if n != w || m != w || rowsToo && rows != w<<32|w {
				t.Fatalf("%s, to %v: login total %d (%d rows), token total %d (%d rows); want %d",
					when, to, n, len(logins), m, len(events), w)
			}
		}
	}
	check(6, 6, true, "after the job")
	check(6, 6, true, "read again")

	insertAt(t, st, rollNow, both("now", rollNow.Add(-5*time.Minute))...)
	check(7, 6, true, "an event after the mark")

	held := both("held", day.AddDate(0, 0, -9))
	insertAt(t, st, rollNow.Add(-time.Hour), held...)
	// Its row is on the page at once (pages are read live); the totals
	// count it from the next version on.
	check(7, 6, false, "an event stamped before the sweep, same version")
	if err := job.RunOnce(ctx, rollNow); err != nil {
		t.Fatal(err)
	}
	check(8, 7, true, "the job's next run")

	insertAt(t, st, rollNow.Add(time.Minute), both("late", day.AddDate(0, 0, -10))...)
	check(9, 8, true, "an event late into a closed hour")
}
