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

	// What sorting everything gives.
	want := func(f store.TokenEventFilter) []string {
		var out []*event.Event
		for _, ev := range evs {
			if (f.TokenID == "" || ev.TokenID == f.TokenID) &&
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
				restore := store.SetFullRowsMax(full)
				got, total, err := s.TokenEvents(ctx, f, pg[0], pg[1], now)
				restore()
				if err != nil {
					t.Fatal(err)
				}
				var ids []string
				for _, e := range got {
					ids = append(ids, e.ID)
				}
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
