package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/authwatch/authwatch/event"
	"github.com/authwatch/authwatch/internal/store"
	"github.com/authwatch/authwatch/internal/testenv"
)

// A tenant admin's /tokens/stats keeps the tenant's tokens and IPs as the
// events before the mark leave them, per rollup version, and adds the
// events from the mark on at every request: a new token, a revocation, a
// token moved to another environment, an IP new to the window and one
// used again count at once, and so does an event late into a closed hour.
// Only an event stamped as ingested before the job's last sweep less its
// margin waits for the job's next run, as for the list totals.
func TestTenantTokenStatsKeptPerVersion(t *testing.T) {
	st, _ := testenv.OpenStore(t)
	ctx := context.Background()
	day := store.Daily.Truncate(rollNow)
	from, to := day.AddDate(0, 0, -29), day.AddDate(0, 0, 1)
	tok := func(id, token string, typ event.TokenType, env event.Environment, action event.TokenAction, ip string, at time.Time) *event.Event {
		return &event.Event{ID: id, Kind: event.KindToken, TenantID: "acme", UserID: "alice", OccurredAt: at,
			IPAddress: ip, TokenID: token, TokenType: typ, Environment: env, Action: action}
	}
	sk, pk, rk := event.TokenSecret, event.TokenPublishable, event.TokenRestricted
	live, test := event.EnvLive, event.EnvTest
	use, created, revoked := event.TokenAuthenticated, event.TokenCreated, event.TokenRevoked
	insertAt(t, st, rollNow.Add(-time.Hour),
		tok("c1", "tk1", sk, live, created, "10.0.0.1", day.AddDate(0, 0, -40)),
		tok("u1", "tk1", sk, live, use, "10.0.0.9", day.AddDate(0, 0, -40)), // outside the window
		tok("u2", "tk1", sk, live, use, "10.0.0.1", day.AddDate(0, 0, -3)),
		tok("u3", "tk1", sk, live, use, "10.0.0.2", day.AddDate(0, 0, -2)),
		tok("c2", "tk2", pk, test, created, "10.0.0.3", day.AddDate(0, 0, -10)),
		tok("u4", "tk2", pk, test, use, "10.0.0.3", day.AddDate(0, 0, -1)),
		tok("c3", "tk3", rk, live, created, "10.0.0.4", day.AddDate(0, 0, -5)),
		tok("r3", "tk3", rk, live, revoked, "10.0.0.4", day.AddDate(0, 0, -4)),
	)
	job := store.NewRollup(st, store.RollupConfig{})
	if err := job.RunOnce(ctx, rollNow); err != nil {
		t.Fatal(err)
	}
	check := func(when string, want store.TokenStats) {
		t.Helper()
		got, err := st.TokenStats(ctx, store.TokenScope{TenantID: "acme"}, from, to)
		if err != nil {
			t.Fatal(err)
		}
		want.TotalRequests, want.Failed = got.TotalRequests, got.Failed // the analytics' numbers, tested elsewhere
		if got != want {
			t.Errorf("%s:\n got %+v\nwant %+v", when, got, want)
		}
	}
	want := store.TokenStats{TotalTokens: 3, ActiveTokens: 2, EnvTest: 1, EnvLive: 2, TypeSK: 1, TypePK: 1, TypeRK: 1, UniqueIPs: 3}
	check("after the job", want)
	check("read again", want)

	soon := rollNow.Add(-5 * time.Minute) // after the mark
	insertAt(t, st, rollNow,
		tok("c4", "tk4", rk, test, created, "10.0.0.5", soon),
		tok("r1", "tk1", sk, live, revoked, "10.0.0.1", soon),
		tok("u5", "tk2", pk, live, use, "10.0.0.6", soon),               // tk2 now live; a new IP
		tok("u6", "tk1", sk, live, use, "10.0.0.1", soon),               // an IP used again
		tok("u7", "tk1", sk, live, use, "10.0.0.9", soon),               // an IP back in the window
		tok("u10", "tk4", rk, test, use, "10.0.0.6", soon),              // the new IP by two tokens
		tok("f3", "tk3", rk, live, event.TokenFailed, "10.0.0.4", soon), // revoked stays revoked
	)
	want = store.TokenStats{TotalTokens: 4, ActiveTokens: 2, EnvTest: 1, EnvLive: 3, TypeSK: 1, TypePK: 1, TypeRK: 2, UniqueIPs: 5}
	check("events after the mark", want)

	insertAt(t, st, rollNow.Add(-time.Hour), tok("u8", "tk2", pk, live, use, "10.0.0.7", day.AddDate(0, 0, -6)))
	check("an event stamped before the sweep, same version", want)
	if err := job.RunOnce(ctx, rollNow); err != nil {
		t.Fatal(err)
	}
	want.UniqueIPs++
	check("the job's next run", want)

	insertAt(t, st, rollNow.Add(time.Minute), tok("u9", "tk3", rk, live, use, "10.0.0.8", day.AddDate(0, 0, -7)))
	want.UniqueIPs++
	check("an event late into a closed hour", want)

	// An IP of the window used again past its end (a clock ahead): its
	// latest use says nothing of the window, and it still counts.
	insertAt(t, st, rollNow.Add(time.Minute), tok("u11", "tk1", sk, live, use, "10.0.0.2", to.Add(time.Hour)))
	// A run past the sweep margin of the late event, so the kept side answers.
	if err := job.RunOnce(ctx, rollNow.Add(20*time.Minute)); err != nil {
		t.Fatal(err)
	}
	check("an IP used ahead of the window", want)
}
