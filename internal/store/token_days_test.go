package store_test

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/authwatch/authwatch/event"
	"github.com/authwatch/authwatch/internal/store"
	"github.com/authwatch/authwatch/internal/testenv"
)

func rollToken(id, user, token string, action event.TokenAction, at time.Time) *event.Event {
	return &event.Event{ID: id, Kind: event.KindToken, TenantID: "acme", UserID: user, OccurredAt: at,
		IPAddress: "10.0.0.1", TokenID: token, TokenType: event.TokenSecret, Environment: event.EnvLive, Action: action}
}

// The all-time use counts of /tokens/top come from the per-token daily
// rollup for closed days and from the raw rows after them: the same
// numbers before and after the job, each event once, late events and
// erasures included once the job has computed their days again.
func TestTokenTopWithRollup(t *testing.T) {
	st, _ := testenv.OpenStore(t)
	ctx := context.Background()
	want := map[string]uint64{}
	var evs []*event.Event
	for i := range 400 {
		token := fmt.Sprintf("tk%d", i%5)
		action := event.TokenAuthenticated
		if i%7 == 0 {
			action = event.TokenFailed
		}
		// Ten days back from rollNow, the last few of them today (after the mark).
		at := rollNow.Add(-time.Duration(i*i) * 90 * time.Second / 16)
		ev := rollToken(fmt.Sprintf("te%03d", i), "alice", token, action, at)
		ev.IPAddress = fmt.Sprintf("10.0.%d.%d", i%3, i%17)
		evs = append(evs, ev)
		if action == event.TokenAuthenticated {
			want[token]++
		}
	}
	// Carol used tk3 on a day of her own, 20 days ago, from an IP of her own.
	for i := range 3 {
		ev := rollToken(fmt.Sprintf("carol%d", i), "carol", "tk3", event.TokenAuthenticated, rollNow.AddDate(0, 0, -20).Add(time.Duration(i)*time.Hour))
		ev.IPAddress = "198.51.100.7"
		evs = append(evs, ev)
		want["tk3"]++
	}
	// Uses on both sides of today's midnight, where the rolled-up days end
	// and the raw rows take over.
	midnight := store.Daily.Truncate(rollNow)
	for i, at := range []time.Time{midnight, midnight.Add(-time.Millisecond)} {
		evs = append(evs, rollToken(fmt.Sprintf("edge%d", i), "alice", "tk1", event.TokenAuthenticated, at))
		want["tk1"]++
	}
	insertAt(t, st, rollNow, evs...)
	insertAt(t, st, rollNow, evs[:60]...) // redelivered copies
	// Both ways of counting must agree: from the raw rows alone, and from the
	// rollup plus the raw rows after it (what tokens with many uses get).
	list := func(rolledMin uint64) map[string]uint64 {
		t.Helper()
		defer store.SetRolledUsesMin(rolledMin)()
		list, err := st.TopTokens(ctx, store.TokenScope{TenantID: "acme"}, 10)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]uint64{}
		for _, u := range list {
			out[u.TokenID] = u.Uses
		}
		return out
	}
	// Alice's /tokens/stats over the last 7 and 30 days (closed days and
	// today), counted in Go from the events stored: the events of her
	// tokens (all five are hers: she named each last), carol's on tk3 too.
	stored := append([]*event.Event(nil), evs...)
	to := store.Daily.Truncate(rollNow).AddDate(0, 0, 1)
	wantStats := func(from time.Time) (s store.TokenStats) {
		ips := map[string]bool{}
		for _, ev := range stored {
			if ev.OccurredAt.Before(from) || !ev.OccurredAt.Before(to) {
				continue
			}
			switch ev.Action {
			case event.TokenAuthenticated:
				s.TotalRequests++
				ips[ev.IPAddress] = true
			case event.TokenFailed:
				s.Failed++
			}
		}
		s.UniqueIPs = uint64(len(ips))
		return s
	}
	stats := func(rolledMin uint64, from time.Time) store.TokenStats {
		t.Helper()
		defer store.SetRolledUsesMin(rolledMin)()
		s, err := st.TokenStats(ctx, store.TokenScope{TenantID: "acme", UserID: "alice"}, from, to)
		if err != nil {
			t.Fatal(err)
		}
		return store.TokenStats{TotalRequests: s.TotalRequests, Failed: s.Failed, UniqueIPs: s.UniqueIPs}
	}
	top := func() map[string]uint64 {
		t.Helper()
		if raw := list(1 << 62); !reflect.DeepEqual(raw, want) {
			t.Errorf("from the raw rows: %v, want %v", raw, want)
		}
		for _, days := range []int{7, 30} {
			from := to.AddDate(0, 0, -days)
			w := wantStats(from)
			for _, min := range []uint64{1 << 62, 0} {
				if got := stats(min, from); got != w {
					t.Errorf("alice's stats over %d days (rolled-up days read from %d uses): %+v, want %+v", days, min, got, w)
				}
			}
		}
		return list(0)
	}
	if got := top(); !reflect.DeepEqual(got, want) {
		t.Fatalf("before the job: %v, want %v", got, want)
	}
	job := store.NewRollup(st, store.RollupConfig{})
	if err := job.RunOnce(ctx, rollNow); err != nil {
		t.Fatal(err)
	}
	if got := top(); !reflect.DeepEqual(got, want) {
		t.Fatalf("after the job: %v, want %v", got, want)
	}
	// The closed days are kept until the job writes again; today's rows are
	// read on every request: a use a moment ago, from a new IP, counts at
	// once in the top list and in the stats over both windows.
	recent := rollToken("just-now", "alice", "tk4", event.TokenAuthenticated, rollNow.Add(-time.Minute))
	recent.IPAddress = "203.0.113.50"
	insertAt(t, st, rollNow, recent)
	stored = append(stored, recent)
	want["tk4"]++
	if got := top(); !reflect.DeepEqual(got, want) {
		t.Fatalf("after a use today: %v, want %v", got, want)
	}

	// An install rolled up before the per-token table existed (a migration
	// that adds it, a cluster upgraded): the table is empty and has no mark
	// of its own. Readers do not trust it; the next run fills it.
	if err := st.Conn().Exec(ctx, "TRUNCATE TABLE token_rollup_daily_by_token"); err != nil {
		t.Fatal(err)
	}
	if err := st.Conn().Exec(ctx, `INSERT INTO rollup_state (name, hours_complete_before, days_complete_before, swept_at, version)
		SELECT 'token_days', toDateTime(0), toDateTime(0), toDateTime(0), max(version) + 1 FROM rollup_state`); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 5*time.Second, "the cleared mark is seen (state cache)", func() bool {
		return reflect.DeepEqual(list(0), want)
	})
	if err := job.RunOnce(ctx, rollNow); err != nil {
		t.Fatal(err)
	}
	var days uint64
	if err := st.Conn().QueryRow(ctx, "SELECT uniqExact(bucket) FROM token_rollup_daily_by_token").Scan(&days); err != nil {
		t.Fatal(err)
	}
	if days < 10 {
		t.Errorf("the per-token table holds %d days after the fill, want every day with events before today", days)
	}
	if got := top(); !reflect.DeepEqual(got, want) {
		t.Fatalf("after the fill: %v, want %v", got, want)
	}

	// The closed days are read from the rollup: a doctored row shows.
	yesterday := time.Date(2026, 11, 19, 0, 0, 0, 0, time.UTC)
	var rolled uint64
	if err := st.Conn().QueryRow(ctx, `SELECT argMax(uses, version) FROM token_rollup_daily_by_token
		WHERE tenant_id = 'acme' AND token_id = 'tk1' AND bucket = toDateTime(?)`, yesterday.Unix()).Scan(&rolled); err != nil {
		t.Fatal(err)
	}
	if rolled == 0 {
		t.Fatal("tk1 has no uses yesterday; the test needs some")
	}
	// (Its version is just above the job's, so the next computation wins.)
	doctor := fmt.Sprintf(`INSERT INTO token_rollup_daily_by_token (tenant_id, bucket, token_id, uses, failures, version)
		SELECT 'acme', toDateTime(%d), 'tk1', %d, 0, max(version) + 1 FROM token_rollup_daily_by_token`, yesterday.Unix(), rolled+1000)
	if err := st.Conn().Exec(ctx, doctor); err != nil {
		t.Fatal(err)
	}
	// The closed days' sums are kept while the rollup states keep their
	// versions (the job writes new ones whenever rows may have changed)...
	if got := list(0)["tk1"]; got != want["tk1"] {
		t.Errorf("tk1 with a doctored day under the same state: %d, want %d (kept per state version)", got, want["tk1"])
	}
	// ...and read again under the next one.
	if err := st.Conn().Exec(ctx, `INSERT INTO rollup_state (name, hours_complete_before, days_complete_before, swept_at, version)
		SELECT 'tokens', argMax(hours_complete_before, version), argMax(days_complete_before, version), argMax(swept_at, version), max(version) + 1
		FROM rollup_state WHERE name = 'tokens'`); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 5*time.Second, "the doctored row is read under the new state (state cache)", func() bool {
		return list(0)["tk1"] == want["tk1"]+1000
	})

	// A use of a closed day stamped long ago: no run sees it by itself;
	// Recompute (what a repair or an erasure does) counts it, and replaces
	// the doctored row.
	late := rollToken("late", "alice", "tk2", event.TokenAuthenticated, yesterday.Add(3*time.Hour))
	late.IPAddress = "192.0.2.99" // a new IP for the window
	insertAt(t, st, rollNow.AddDate(0, 0, -30), late)
	stored = append(stored, late)
	if err := job.Recompute(ctx, "tokens", yesterday, yesterday.AddDate(0, 0, 1)); err != nil {
		t.Fatal(err)
	}
	want["tk2"]++
	if got := top(); !reflect.DeepEqual(got, want) {
		t.Errorf("after the recompute: %v, want %v", got, want)
	}

	// An erasure removes carol's events; recomputing their span takes her
	// uses off tk3: the zeros written first stay on her day, which has no
	// events left to compute.
	erased, err := st.EraseUser(ctx, "acme", "carol", "root", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if err := job.Recompute(ctx, "tokens", erased.From, erased.To.Add(time.Second), "acme"); err != nil {
		t.Fatal(err)
	}
	want["tk3"] -= 3
	stored = slices.DeleteFunc(stored, func(ev *event.Event) bool { return ev.UserID == "carol" })
	if got := top(); !reflect.DeepEqual(got, want) {
		t.Errorf("after erasing carol: %v, want %v", got, want)
	}
	// Her IP is gone from the rollup's rows, not only outnumbered.
	var rows uint64
	if err := st.Conn().QueryRow(ctx, "SELECT count() FROM token_rollup_daily_by_token WHERE has(use_ips, '198.51.100.7')").Scan(&rows); err != nil {
		t.Fatal(err)
	}
	if rows != 0 {
		t.Errorf("%d per-token rows still list carol's IP", rows)
	}
}

// A late use of a closed day joins the kept closed-day counts of
// /tokens/top and /tokens/stats when the job runs again; if it does not
// run (failing, stopped), once they are older than their maximum age.
func TestClosedDaysKeptAtMostMaxAge(t *testing.T) {
	st, _ := testenv.OpenStore(t)
	ctx := context.Background()
	defer store.SetClosedDaysMaxAge(500 * time.Millisecond)()
	day := store.Daily.Truncate(rollNow)
	insertAt(t, st, rollNow,
		rollToken("u1", "alice", "tk1", event.TokenAuthenticated, day.AddDate(0, 0, -2)),
		rollToken("u2", "alice", "tk1", event.TokenAuthenticated, day.AddDate(0, 0, -1)),
		rollToken("u3", "alice", "tk1", event.TokenAuthenticated, rollNow.Add(-time.Hour)),
	)
	if err := store.NewRollup(st, store.RollupConfig{}).RunOnce(ctx, rollNow); err != nil {
		t.Fatal(err)
	}
	alice := store.TokenScope{TenantID: "acme", UserID: "alice"}
	uses := func() (top, stats uint64) {
		t.Helper()
		list, err := st.TopTokens(ctx, alice, 10)
		if err != nil || len(list) != 1 {
			t.Fatalf("top: %v %v", list, err)
		}
		s, err := st.TokenStats(ctx, alice, day.AddDate(0, 0, -6), day.AddDate(0, 0, 1))
		if err != nil {
			t.Fatal(err)
		}
		return list[0].Uses, s.TotalRequests
	}
	if top, stats := uses(); top != 3 || stats != 3 {
		t.Fatalf("before the late use: top %d, stats %d; want 3, 3", top, stats)
	}
	late := rollToken("u4", "alice", "tk1", event.TokenAuthenticated, day.AddDate(0, 0, -3))
	late.IPAddress = "192.0.2.4"
	insertAt(t, st, rollNow, late)
	testenv.Eventually(t, 10*time.Second, "the late use counted without a run of the job", func() bool {
		top, stats := uses()
		return top == 4 && stats == 4
	})
}
