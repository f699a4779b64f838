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

// A list of "the last hours" starts inside an hour, and the part of that
// hour it holds moves every second. Once the hour is rolled up, the times
// of its events are read once per rollup version and the part counted from
// them: each start gets its own exact total, an event late into the hour
// counts at once, and one stamped as ingested before the job's last sweep
// less its margin from the job's next run (as for the totals above).
func TestPartHourKeptPerVersion(t *testing.T) {
	st, _ := testenv.OpenStore(t)
	ctx := context.Background()
	hour := store.Hourly.Truncate(rollNow.Add(-24 * time.Hour)) // 14:00 the day before
	failed := func(id string, at time.Time) *event.Event {
		return rollToken(id, "alice", "tk1", event.TokenFailed, at)
	}
	insertAt(t, st, rollNow.Add(-time.Hour),
		failed("a", hour.Add(10*time.Minute)), failed("b", hour.Add(40*time.Minute)), failed("c", hour.Add(50*time.Minute)),
		failed("d", hour.Add(2*time.Hour)), failed("e", hour.Add(20*time.Hour)),
		rollToken("f", "alice", "tk1", event.TokenAuthenticated, hour.Add(45*time.Minute)))
	insertAt(t, st, rollNow.Add(-time.Hour), failed("b", hour.Add(40*time.Minute))) // a redelivered copy
	job := store.NewRollup(st, store.RollupConfig{})
	if err := job.RunOnce(ctx, rollNow); err != nil {
		t.Fatal(err)
	}
	check := func(when string, rowsToo bool, want map[time.Duration]uint64) {
		t.Helper()
		for start, w := range want {
			f := store.TokenEventFilter{TenantID: "acme", Events: []string{"failed"}, From: hour.Add(start),
				To: store.Hourly.Truncate(rollNow).Add(time.Hour)}
			page, total, err := st.TokenEvents(ctx, f, 0, 100, rollNow)
			if err != nil {
				t.Fatal(err)
			}
			if total != w || rowsToo && uint64(len(page)) != w {
				t.Errorf("%s, from %s: total %d, %d rows; want %d", when, f.From.Format(time.TimeOnly), total, len(page), w)
			}
		}
	}
	check("after the job", true, map[time.Duration]uint64{5 * time.Minute: 5, 30 * time.Minute: 4, 40 * time.Minute: 4, 41 * time.Minute: 3, 55 * time.Minute: 2})

	insertAt(t, st, rollNow.Add(-time.Hour), failed("held", hour.Add(58*time.Minute)))
	// Its row is on the page at once; the total counts it from the job's
	// next run.
	check("an event stamped before the sweep, same version", false, map[time.Duration]uint64{30 * time.Minute: 4})
	if err := job.RunOnce(ctx, rollNow); err != nil {
		t.Fatal(err)
	}
	check("the job's next run", true, map[time.Duration]uint64{30 * time.Minute: 5, 55 * time.Minute: 3, 59 * time.Minute: 2})

	insertAt(t, st, rollNow.Add(time.Minute), failed("late", hour.Add(35*time.Minute)))
	check("an event late into the hour", true, map[time.Duration]uint64{30 * time.Minute: 6, 36 * time.Minute: 5})
}
