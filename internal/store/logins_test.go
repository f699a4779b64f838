package store_test

import (
	"context"
	"fmt"
	"math"
	"reflect"
	"sort"
	"testing"
	"time"

	"github.com/authwatch/authwatch/event"
	"github.com/authwatch/authwatch/internal/enrich"
	"github.com/authwatch/authwatch/internal/store"
	"github.com/authwatch/authwatch/internal/testenv"
)

// Every way of reading a page (all rows sorted, windows read whole, keys
// then rows) must give the page that sorting the matching events gives,
// and the total their number.
func TestWindowedPagesMatchSortingEverything(t *testing.T) {
	s, _ := testenv.OpenStore(t)
	ctx := context.Background()
	now := time.Now().UTC()
	b := store.NewBatch(900)
	var all []*event.Event
	for i := range 300 {
		// Spread over 60 days, newest first, two users, a few sharing a second.
		// Tenant t2 has the same logins, the newest three days old: its
		// windows end just after that one, not at now.
		// Tenant t3's logins crowd 60 days ago and thin out towards now, so
		// that windows expected (rows spread evenly) to hold a page do not,
		// and wider ones are tried.
		for tenant, shift := range map[string]time.Duration{"t1": 0, "t2": 72 * time.Hour, "t3": -1} {
			at := now.Add(-shift - time.Duration(i*i)*10*time.Minute/4).Truncate(time.Millisecond)
			if shift < 0 {
				frac := math.Pow(float64(i)/299, 4) // 0 … 1
				at = now.Add(-60*24*time.Hour + time.Duration(frac*float64(60*24*time.Hour-time.Hour))).Truncate(time.Millisecond)
			}
			ev := &event.Event{ID: fmt.Sprintf("ev-%03d", i), Kind: event.KindLogin, TenantID: tenant,
				UserID: fmt.Sprintf("u%d", i%2), OccurredAt: at, IPAddress: "81.2.69.1", Status: event.StatusSuccess}
			if i%3 == 0 {
				ev.Status = event.StatusFailed
			}
			b.Add(ev, enrich.Result{}, now)
			all = append(all, ev)
		}
	}
	if err := s.Insert(ctx, b); err != nil {
		t.Fatal(err)
	}
	sort.Slice(all, func(i, j int) bool {
		if !all[i].OccurredAt.Equal(all[j].OccurredAt) {
			return all[i].OccurredAt.After(all[j].OccurredAt)
		}
		return all[i].ID > all[j].ID
	})
	filters := []store.LoginFilter{{TenantID: "t1"}, {TenantID: "t1", UserID: "u1"}, {TenantID: "t2", UserID: "u1"},
		{TenantID: "t2", UserID: "u0", To: now.Add(-100 * time.Hour)}, {TenantID: "t1", UserID: "u1", Status: "failed"},
		{TenantID: "t2", UserID: "u0", Status: "success"}, {TenantID: "t3"}, {TenantID: "t3", UserID: "u1"},
		{TenantID: "t3", UserID: "u0", Status: "failed"}}
	for _, f := range filters {
		var want []string
		for _, ev := range all {
			if ev.TenantID == f.TenantID && (f.UserID == "" || ev.UserID == f.UserID) &&
				(f.Status == "" || string(ev.Status) == f.Status) && (f.To.IsZero() || ev.OccurredAt.Before(f.To)) {
				want = append(want, ev.ID)
			}
		}
		for _, pg := range [][2]int{{0, 25}, {25, 25}, {30, 10}, {140, 10}, {290, 25}} {
			page := want[min(pg[0], len(want)):min(pg[0]+pg[1], len(want))]
			// All rows sorted, then the windows, each read whole or as keys
			// then rows. (A status filter always goes through the windows,
			// so its "direct" read is a windowed one too.)
			for _, read := range []struct {
				name         string
				direct, full uint64
			}{{"direct", 1 << 62, 1 << 62}, {"windows whole", 0, 1 << 62}, {"windows by keys", 0, 0}} {
				restore := store.SetDirectReadMax(read.direct)
				restoreFull := store.SetFullRowsMax(read.full)
				got, total, err := s.Logins(ctx, f, pg[0], pg[1])
				restore()
				restoreFull()
				if err != nil {
					t.Fatal(err)
				}
				if total != uint64(len(want)) || !reflect.DeepEqual(ids(got), page) && len(page)+len(got) > 0 {
					t.Errorf("%s/%q status %q to %v page %v, %s: %v (total %d), want %v (%d)",
						f.TenantID, f.UserID, f.Status, f.To, pg, read.name, ids(got), total, page, len(want))
				}
			}
		}
	}
}

func ids(ls []store.Login) []string {
	out := make([]string, len(ls))
	for i, l := range ls {
		out[i] = l.ID
	}
	return out
}

// A tenant's pages seek through the hourly rollup counts once the job has
// run: every page, deep or not, with or without a status or a date range,
// must be the page that sorting the tenant's events gives, and the total
// their number, each event once. Redelivered copies, rows in the open hour
// (not rolled up) and rows older than the first rolled-up day (stored after
// the job ran, with an old ingest stamp) are all in it.
func TestTenantPagesSeekThroughRollup(t *testing.T) {
	s, _ := testenv.OpenStore(t)
	ctx := context.Background()
	now := time.Now().UTC()
	var all []*event.Event
	add := func(ingested time.Time, evs ...*event.Event) {
		t.Helper()
		b := store.NewBatch(len(evs))
		for _, ev := range evs {
			b.Add(ev, enrich.Result{}, ingested)
		}
		if err := s.Insert(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	login := func(id string, at time.Time, status event.Status) *event.Event {
		return &event.Event{ID: id, Kind: event.KindLogin, TenantID: "t1", UserID: "u" + id[len(id)-1:],
			OccurredAt: at, IPAddress: "81.2.69.1", Status: status}
	}
	var batch []*event.Event
	for i := range 600 {
		// Ten days back from two hours ago, uneven, some in the same millisecond.
		at := now.Add(-2*time.Hour - time.Duration(i*i)*time.Duration(4*time.Second)).Truncate(time.Millisecond)
		if i%7 == 1 {
			at = batch[i-1].OccurredAt
		}
		status := event.StatusSuccess
		if i%3 == 0 {
			status = event.StatusFailed
		}
		batch = append(batch, login(fmt.Sprintf("ev-%03d", i), at, status))
	}
	// Tenant t2: 50 logins over the last days, and counts the rollup keeps
	// longer than the rows (retention dropped the raw rows of 60 days ago;
	// the hourly and daily counts are still there).
	for i := range 50 {
		ev := login(fmt.Sprintf("t2-%02d", i), now.Add(-time.Duration(i)*97*time.Minute-3*time.Hour).Truncate(time.Millisecond), event.StatusSuccess)
		ev.TenantID = "t2"
		batch = append(batch, ev)
	}
	add(now.Add(-time.Hour), batch...)
	add(now.Add(-time.Hour), batch[100:112]...) // redelivered copies
	all = append(all, batch...)
	if err := store.NewRollup(s, store.RollupConfig{}).RunOnce(ctx, now); err != nil {
		t.Fatal(err)
	}
	var fresh []*event.Event
	for i := range 30 {
		fresh = append(fresh, login(fmt.Sprintf("new-%02d", i), now.Add(-time.Duration(i)*time.Second).Truncate(time.Millisecond), event.StatusFailed))
	}
	old := []*event.Event{login("old-1", now.AddDate(0, 0, -30), event.StatusFailed), login("old-2", now.AddDate(0, 0, -31), event.StatusSuccess)}
	add(now, fresh...)
	add(now.AddDate(0, 0, -30), old...) // stamped long ago: no sweep finds them
	all = append(append(all, fresh...), old...)

	gone := now.AddDate(0, 0, -60).Truncate(time.Hour)
	for _, table := range []string{"login_rollup_hourly", "login_rollup_daily"} {
		bucket := gone
		if table == "login_rollup_daily" {
			bucket = store.Daily.Truncate(gone)
		}
		if err := s.Conn().Exec(ctx, fmt.Sprintf("INSERT INTO %s (tenant_id, bucket, success, failed, version) SELECT 't2', toDateTime(%d), 5, 5, 1",
			table, bucket.Unix())); err != nil {
			t.Fatal(err)
		}
	}
	day := func(d time.Time) time.Time { return store.Daily.Truncate(d) }
	filters := []store.LoginFilter{
		{TenantID: "t2"},
		{TenantID: "t1"},
		{TenantID: "t1", Status: "failed"},
		{TenantID: "t1", From: day(now.AddDate(0, 0, -3)), To: day(now)},
		{TenantID: "t1", Status: "success", From: day(now.AddDate(0, 0, -9)), To: day(now).AddDate(0, 0, 1)},
	}
	defer store.SetDirectReadMax(0)()
	check := func(when string) {
		t.Helper()
		for _, f := range filters {
			checkTenantPages(t, s, f, expectedPage(all, f), when)
		}
	}
	check("counted")

	// An event stamped days ahead, then one stored into an hour the job
	// rolled up (an ingest backlog): the counts miss both, so the list is
	// read without them until the next run has counted the late one.
	ahead := login("ahead-1", now.Add(72*time.Hour).Truncate(time.Millisecond), event.StatusFailed)
	add(now, ahead)
	all = append(all, ahead)
	check("an event ahead")
	late := login("late-1", now.Add(-20*time.Hour).Truncate(time.Millisecond), event.StatusSuccess)
	add(now, late)
	all = append(all, late)
	check("an event ahead and a late one")
	// A run that has swept the late event (and its margin) counts it: the
	// lists with an end use the counts again, the open ones still see the
	// event ahead.
	if err := store.NewRollup(s, store.RollupConfig{}).RunOnce(ctx, now.Add(20*time.Minute)); err != nil {
		t.Fatal(err)
	}
	check("after the next run")
}

// checkTenantPages reads pages of f at the edges and in the middle, whole
// and as keys then rows, and compares them with want, every matching id
// newest first.
func checkTenantPages(t *testing.T, s *store.Store, f store.LoginFilter, want []string, when string) {
	t.Helper()
	ctx := context.Background()
	for _, pg := range [][2]int{{0, 25}, {25, 25}, {137, 10}, {len(want) - 30, 100}, {len(want) - 1, 25}, {len(want), 25}} {
		if pg[0] < 0 {
			continue
		}
		// The hours holding the page read whole, or as keys then rows.
		for _, full := range []uint64{1 << 62, 0} {
			restore := store.SetFullRowsMax(full)
			got, total, err := s.Logins(ctx, f, pg[0], pg[1])
			restore()
			if err != nil {
				t.Fatal(err)
			}
			end := min(pg[0]+pg[1], len(want))
			if int(total) != len(want) || !reflect.DeepEqual(ids(got), want[min(pg[0], end):end]) {
				t.Errorf("%s: filter %+v page %v, full rows max %d: total %d, want %d\n got %v\nwant %v",
					when, f, pg, full, total, len(want), ids(got), want[min(pg[0], end):end])
			}
		}
	}
}

// expectedPage is every matching event id of evs, newest first as the API
// orders them (time to the millisecond, then id), each once.
func expectedPage(evs []*event.Event, f store.LoginFilter) []string {
	var keep []*event.Event
	for _, ev := range evs {
		if ev.TenantID != f.TenantID || (f.Status != "" && string(ev.Status) != f.Status) ||
			(!f.From.IsZero() && ev.OccurredAt.Before(f.From)) || (!f.To.IsZero() && !ev.OccurredAt.Before(f.To)) {
			continue
		}
		keep = append(keep, ev)
	}
	sort.SliceStable(keep, func(i, j int) bool {
		if !keep[i].OccurredAt.Equal(keep[j].OccurredAt) {
			return keep[i].OccurredAt.After(keep[j].OccurredAt)
		}
		return keep[i].ID > keep[j].ID
	})
	out := make([]string, len(keep))
	for i, ev := range keep {
		out[i] = ev.ID
	}
	return out
}
