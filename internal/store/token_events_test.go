package store_test

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/authwatch/authwatch/event"
	"github.com/authwatch/authwatch/internal/enrich"
	"github.com/authwatch/authwatch/internal/store"
	"github.com/authwatch/authwatch/internal/testenv"
)

// A page of token events is the page that sorting every matching event
// gives (newest first, ties by millisecond then id, each event once),
// whichever way the store finds it: windows read whole or by key, the
// windows chosen from where the rows lie, all of a tenant or one token, by
// action, within dates.
func TestTokenEventPagesMatchSortingEverything(t *testing.T) {
	s, _ := testenv.OpenStore(t)
	ctx := context.Background()
	now := time.Now().UTC()
	actions := []event.TokenAction{event.TokenAuthenticated, event.TokenFailed, event.TokenExpired}
	var evs []*event.Event
	for i := range 400 {
		// Over 40 days, denser lately; some in one millisecond; the newest
		// three hours ago, so the narrowest window holds nothing.
		at := now.Add(-3*time.Hour - time.Duration(i*i)*22*time.Second).Truncate(time.Millisecond)
		if i%9 == 4 {
			at = evs[i-1].OccurredAt
		}
		evs = append(evs, &event.Event{ID: fmt.Sprintf("te-%03d", i), Kind: event.KindToken, TenantID: "t1", UserID: "alice",
			OccurredAt: at, IPAddress: "203.0.113.9", TokenID: fmt.Sprintf("tok-%d", i%3), TokenType: event.TokenSecret,
			Environment: event.EnvLive, Action: actions[i%len(actions)]})
	}
	other := &event.Event{ID: "t2-1", Kind: event.KindToken, TenantID: "t2", UserID: "bob", OccurredAt: now.Add(-4 * time.Hour),
		IPAddress: "203.0.113.9", TokenID: "tok-0", TokenType: event.TokenSecret, Environment: event.EnvLive, Action: event.TokenFailed}
	b := store.NewBatch(len(evs) + 20)
	for _, ev := range append(evs, other) {
		b.Add(ev, enrich.Result{}, now)
	}
	for _, ev := range evs[50:70] { // redelivered copies
		b.Add(ev, enrich.Result{}, now)
	}
	if err := s.Insert(ctx, b); err != nil {
		t.Fatal(err)
	}

	want := func(f store.TokenEventFilter) []string { return expectedTokenPage(evs, f) }
	day := func(d int) time.Time { return now.AddDate(0, 0, d).Truncate(24 * time.Hour) }
	filters := []store.TokenEventFilter{
		{TenantID: "t1"},
		{TenantID: "t1", TokenID: "tok-1"},
		{TenantID: "t1", Events: []string{"failed", "expired"}},
		{TenantID: "t1", From: now.Add(-24 * time.Hour)},
		{TenantID: "t1", From: day(-20), To: day(-2)},
		{TenantID: "t1", TokenID: "tok-2", Events: []string{"authenticated"}, From: day(-30)},
	}
	for _, f := range filters {
		all := want(f)
		for _, pg := range [][2]int{{0, 20}, {20, 20}, {len(all) / 2, 15}, {max(len(all)-5, 0), 20}, {len(all), 20}} {
			for _, full := range []uint64{1 << 62, 0} {
				got, ids, total := readTokenPage(t, s, f, pg, full, now)
				wantPage := all[min(pg[0], len(all)):min(pg[0]+pg[1], len(all))]
				if int(total) != len(all) || !reflect.DeepEqual(ids, slices.Clip(wantPage)) && len(ids)+len(wantPage) > 0 {
					t.Errorf("%+v page %v (whole windows: %v): total %d, %v; want %d, %v", f, pg, full > 0, total, ids, len(all), wantPage)
				}
				for _, e := range got {
					if e.TokenType != "sk" || e.Environment != "live" || e.IPAddress != "203.0.113.9" {
						t.Fatalf("event %s read as %+v", e.ID, e)
					}
				}
			}
		}
	}
}

// readTokenPage reads page pg (offset, limit) of f, reading windows of up
// to full rows whole, and returns its events, their ids and the total.
func readTokenPage(t *testing.T, s *store.Store, f store.TokenEventFilter, pg [2]int, full uint64, now time.Time) ([]store.TokenEvent, []string, uint64) {
	t.Helper()
	restore := store.SetFullRowsMax(full)
	defer restore()
	got, total, err := s.TokenEvents(context.Background(), f, pg[0], pg[1], now)
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]string, 0, len(got))
	for _, e := range got {
		ids = append(ids, e.ID)
	}
	return got, ids, total
}

// expectedTokenPage is what sorting every event matching f gives: ids
// newest first, ties by id, each event once (evs holds no copies).
func expectedTokenPage(evs []*event.Event, f store.TokenEventFilter) []string {
	var out []*event.Event
	for _, ev := range evs {
		if ev.TenantID == f.TenantID && (f.TokenID == "" || ev.TokenID == f.TokenID) &&
			(len(f.Events) == 0 || slices.Contains(f.Events, string(ev.Action))) &&
			(f.From.IsZero() || !ev.OccurredAt.Before(f.From)) && (f.To.IsZero() || ev.OccurredAt.Before(f.To)) {
			out = append(out, ev)
		}
	}
	slices.SortFunc(out, func(a, b *event.Event) int {
		if c := b.OccurredAt.Compare(a.OccurredAt); c != 0 {
			return c
		}
		if a.ID > b.ID {
			return -1
		}
		return 1
	})
	ids := make([]string, len(out))
	for i, ev := range out {
		ids[i] = ev.ID
	}
	return ids
}

// A tenant's list of the last hours (/security/failures) seeks through the
// hourly rollup counts once the job has run: whatever the page, the actions
// asked for and the start inside an hour (counted live), it is the page
// that sorting the events gives, and the total their number, each event
// once. Redelivered copies and events of the open hour (not rolled up) are
// in it; another tenant's events are not.
func TestTenantTokenPagesSeekThroughRollup(t *testing.T) {
	s, _ := testenv.OpenStore(t)
	ctx := context.Background()
	now := time.Now().UTC()
	actions := []event.TokenAction{event.TokenAuthenticated, event.TokenFailed, event.TokenExpired,
		event.TokenIPBlocked, event.TokenRateLimited, event.TokenFailed}
	token := func(tenant, id string, at time.Time, action event.TokenAction) *event.Event {
		return &event.Event{ID: id, Kind: event.KindToken, TenantID: tenant, UserID: "alice", OccurredAt: at,
			IPAddress: "203.0.113.9", TokenID: "tok-" + id[len(id)-1:], TokenType: event.TokenSecret,
			Environment: event.EnvLive, Action: action}
	}
	// Stored a second after they happened, as a pipeline keeping up does,
	// or at a given time.
	storeAt := func(at time.Time, evs ...*event.Event) {
		t.Helper()
		b := store.NewBatch(len(evs))
		for _, ev := range evs {
			ingested := at
			if at.IsZero() {
				ingested = ev.OccurredAt.Add(time.Second)
			}
			b.Add(ev, enrich.Result{}, ingested)
		}
		if err := s.Insert(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	insert := func(evs ...*event.Event) { t.Helper(); storeAt(time.Time{}, evs...) }
	var evs []*event.Event
	for i := range 700 {
		// Three days back from an hour ago, uneven, some in one millisecond.
		at := now.Add(-time.Hour - time.Duration(i*i)*530*time.Millisecond).Truncate(time.Millisecond)
		if i%7 == 1 {
			at = evs[i-1].OccurredAt
		}
		evs = append(evs, token("t1", fmt.Sprintf("te-%03d", i), at, actions[i%len(actions)]))
	}
	insert(append(evs, token("t2", "t2-1", now.Add(-2*time.Hour), event.TokenFailed))...)
	insert(evs[200:215]...) // redelivered copies
	if err := store.NewRollup(s, store.RollupConfig{}).RunOnce(ctx, now); err != nil {
		t.Fatal(err)
	}
	var fresh []*event.Event
	for i := range 40 {
		fresh = append(fresh, token("t1", fmt.Sprintf("new-%02d", i), now.Add(-time.Duration(i)*time.Second).Truncate(time.Millisecond), actions[i%len(actions)]))
	}
	insert(fresh...)
	evs = append(evs, fresh...)

	failures := []string{"failed", "expired", "ip_blocked", "domain_blocked", "rate_limited"}
	filters := []store.TokenEventFilter{
		{TenantID: "t1", Events: failures, From: now.Add(-24 * time.Hour)},
		{TenantID: "t1", Events: failures, From: now.Add(-24 * time.Hour), To: store.Daily.Truncate(now).AddDate(0, 0, 1)},
		{TenantID: "t1", From: now.Add(-50 * time.Hour)},
		{TenantID: "t1", Events: []string{"failed"}, From: now.Add(-60 * time.Hour), To: store.Daily.Truncate(now)},
		{TenantID: "t1", Events: failures, From: now.Add(-30 * time.Hour), To: now.Add(-2 * time.Hour)}, // not on the hour: no seek
	}
	defer store.SetDirectReadMax(0)()
	check := func(when string) {
		t.Helper()
		for _, f := range filters {
			want := expectedTokenPage(evs, f)
			for _, pg := range [][2]int{{0, 25}, {25, 25}, {137, 10}, {len(want) - 30, 100}, {len(want) - 1, 25}, {len(want), 25}} {
				if pg[0] < 0 {
					continue
				}
				for _, full := range []uint64{1 << 62, 0} {
					_, ids, total := readTokenPage(t, s, f, pg, full, now)
					end := min(pg[0]+pg[1], len(want))
					if int(total) != len(want) || !reflect.DeepEqual(ids, slices.Clip(want[min(pg[0], end):end])) && len(ids)+end-min(pg[0], end) > 0 {
						t.Errorf("%s: %v–%v %v page %v, full rows max %d: total %d, want %d\n got %v\nwant %v", when,
							f.From.Format(time.TimeOnly), f.To.Format(time.TimeOnly), f.Events, pg, full, total, len(want), ids, want[min(pg[0], end):end])
					}
				}
			}
		}
	}
	check("counted")

	// An event stamped days ahead, then one stored into an hour the job
	// rolled up (an ingest backlog): the counts miss both, so the list is
	// read without them (until the next run has counted the late one).
	late := token("t1", "late-1", now.Add(-20*time.Hour).Truncate(time.Millisecond), event.TokenFailed)
	ahead := token("t1", "ahead-1", now.Add(72*time.Hour).Truncate(time.Millisecond), event.TokenExpired)
	insert(ahead)
	evs = append(evs, ahead)
	check("an event ahead")
	storeAt(now, late)
	evs = append(evs, late)
	check("an event ahead and a late one")
}
