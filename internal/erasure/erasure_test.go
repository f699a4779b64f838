package erasure_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/authwatch/authwatch/event"
	"github.com/authwatch/authwatch/internal/bus"
	"github.com/authwatch/authwatch/internal/detect"
	"github.com/authwatch/authwatch/internal/enrich"
	"github.com/authwatch/authwatch/internal/erasure"
	"github.com/authwatch/authwatch/internal/store"
	"github.com/authwatch/authwatch/internal/testenv"
)

// A privacy request erases one user everywhere — raw events, alerts, the
// flag index, profile, token map, the rollup counts, the detector's memory
// — and nothing of anyone else, and is recorded when done.
func TestEraseUserEverywhere(t *testing.T) {
	ctx := context.Background()
	st, _ := testenv.OpenStore(t)
	n := testenv.StartNATS(t)
	nc, err := nats.Connect(n.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	kv, err := js.CreateOrUpdateKeyValue(ctx, bus.DefaultTopology().StateBucketConfig(100*24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{"alice", "bob"} {
		if _, err := kv.Put(ctx, bus.UserStateKey("acme", u), []byte(`{"n":3}`)); err != nil {
			t.Fatal(err)
		}
	}

	// Three days of logins and token uses for alice and bob, one alert each.
	day := time.Now().UTC().Truncate(24*time.Hour).AddDate(0, 0, -5)
	b := store.NewBatch(64)
	enr := enrich.New(nil)
	i := 0
	for d := range 3 {
		for _, u := range []string{"alice", "bob", "bob"} {
			i++
			at := day.AddDate(0, 0, d).Add(time.Duration(i) * time.Minute)
			login := &event.Event{ID: fmt.Sprintf("l%d", i), Kind: event.KindLogin, TenantID: "acme", UserID: u, OccurredAt: at,
				IPAddress: "203.0.113.9", Status: event.StatusSuccess, User: &event.UserProfile{Name: u, Email: u + "@example.com"}}
			tok := &event.Event{ID: fmt.Sprintf("t%d", i), Kind: event.KindToken, TenantID: "acme", UserID: u, OccurredAt: at,
				IPAddress: "203.0.113.9", TokenID: "tok_" + u, TokenType: event.TokenSecret, Environment: event.EnvLive, Action: event.TokenAuthenticated}
			for _, ev := range []*event.Event{login, tok} {
				b.Add(ev, enr.Enrich(ev.UserAgent, ev.IPAddress), time.Now())
			}
		}
	}
	// An hour in which only alice logged in: its counts must go to zero.
	aloneAt := day.Add(5 * time.Hour)
	b.Add(&event.Event{ID: "alone", Kind: event.KindLogin, TenantID: "acme", UserID: "alice", OccurredAt: aloneAt,
		IPAddress: "203.0.113.9", Status: event.StatusSuccess}, enrich.Result{}, time.Now())
	// A token both used, alice last: hers until she is erased, then bob's.
	for j, u := range []string{"bob", "alice"} {
		b.Add(&event.Event{ID: fmt.Sprintf("shared%d", j), Kind: event.KindToken, TenantID: "acme", UserID: u,
			OccurredAt: day.Add(time.Duration(j) * time.Hour), IPAddress: "203.0.113.9", TokenID: "tok_shared", TokenName: "ci-" + u,
			TokenType: event.TokenSecret, Environment: event.EnvLive, Action: event.TokenAuthenticated}, enrich.Result{}, time.Now())
	}
	if err := st.Insert(ctx, b); err != nil {
		t.Fatal(err)
	}
	if owner, _, err := st.TokenOwner(ctx, "acme", "tok_shared"); err != nil || owner != "alice" {
		t.Fatalf("before: tok_shared owned by %q (%v), want alice", owner, err)
	}
	var alerts []detect.Alert
	for _, u := range []string{"alice", "bob"} {
		alerts = append(alerts, detect.NewAlert("acme", u, "l1", "203.0.113.9", "", day, day, detect.Verdict{Rule: detect.NewDevice, Reasons: []string{"x"}}))
	}
	if err := st.InsertAlerts(ctx, alerts); err != nil {
		t.Fatal(err)
	}
	rollup := store.NewRollup(st, store.RollupConfig{})
	if err := rollup.RunOnce(ctx, time.Now()); err != nil {
		t.Fatal(err)
	}
	if got := rolledUpSuccesses(t, st); got != 10 {
		t.Fatalf("before: %d successes rolled up, want 10", got)
	}
	aloneHour := func() uint64 {
		t.Helper()
		hours, err := st.LoginAnalytics(ctx, "acme", store.Hourly, aloneAt, aloneAt.Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		return hours[0].Success
	}
	if n := aloneHour(); n != 1 {
		t.Fatalf("before: alice's lone hour counts %d successes, want 1", n)
	}

	job := &erasure.Job{Store: st, Rollup: rollup, States: func() jetstream.KeyValue { return kv }, Wait: time.Minute}
	if err := job.Run(ctx, "acme", "alice", "admin-1"); err != nil {
		t.Fatal(err)
	}

	for _, table := range []string{"login_events", "login_events_by_time", "token_events", "token_events_by_time",
		"alerts", "alerts_by_event", "users", "user_profiles", "token_users"} {
		if n := count(t, st, table, "alice"); n != 0 {
			t.Errorf("%s still holds %d rows of alice", table, n)
		}
		if n := count(t, st, table, "bob"); n == 0 {
			t.Errorf("%s lost bob's rows", table)
		}
	}
	// Token summaries forget her: her own token is gone, the shared one is
	// bob's again, under the name his event gave it.
	if _, ok, err := st.TokenOwner(ctx, "acme", "tok_alice"); err != nil || ok {
		t.Errorf("tok_alice still has an owner (%v)", err)
	}
	if owner, _, err := st.TokenOwner(ctx, "acme", "tok_shared"); err != nil || owner != "bob" {
		t.Errorf("after: tok_shared owned by %q (%v), want bob", owner, err)
	}
	top, err := st.TopTokens(ctx, store.TokenScope{TenantID: "acme", UserID: "bob"}, 10)
	if err != nil || fmt.Sprint(top) != "[{tok_bob  6} {tok_shared ci-bob 1}]" {
		t.Errorf("bob's top tokens after: %v (%v)", top, err)
	}
	if n := aloneHour(); n != 0 {
		t.Errorf("after: alice's lone hour still counts %d successes", n)
	}
	if got := rolledUpSuccesses(t, st); got != 6 {
		t.Errorf("after: %d successes rolled up, want bob's 6", got)
	}
	if _, err := kv.Get(ctx, bus.UserStateKey("acme", "alice")); err == nil {
		t.Error("alice's detector state is still there")
	}
	if _, err := kv.Get(ctx, bus.UserStateKey("acme", "bob")); err != nil {
		t.Errorf("bob's detector state: %v", err)
	}
	log, err := st.AuditLog(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	actions := map[string]bool{}
	for _, e := range log {
		actions[e.Action] = e.Target == "alice" && e.Actor == "admin-1"
	}
	if len(log) != 2 || !actions["user_erase_span"] || !actions["user_erase_done"] {
		t.Errorf("audit log %+v, want alice's span and done by admin-1", log)
	}
}

// An erasure that deleted the rows but stopped before the rollups (a
// timeout, a restart) is asked again: nothing of the user is left to find,
// and the counts must drop all the same, from the span the first recorded.
func TestEraseRetryRecomputesTheRollups(t *testing.T) {
	ctx := context.Background()
	st, _ := testenv.OpenStore(t)
	day := time.Now().UTC().Truncate(24*time.Hour).AddDate(0, 0, -3)
	b := store.NewBatch(4)
	for i, u := range []string{"alice", "alice", "bob"} {
		b.Add(&event.Event{ID: fmt.Sprintf("l%d", i), Kind: event.KindLogin, TenantID: "acme", UserID: u,
			OccurredAt: day.Add(time.Duration(i) * time.Hour), IPAddress: "203.0.113.9", Status: event.StatusSuccess}, enrich.Result{}, time.Now())
	}
	if err := st.Insert(ctx, b); err != nil {
		t.Fatal(err)
	}
	rollup := store.NewRollup(st, store.RollupConfig{})
	if err := rollup.RunOnce(ctx, time.Now()); err != nil {
		t.Fatal(err)
	}
	// The first attempt: rows deleted, rollups not computed again.
	if _, err := st.EraseUser(ctx, "acme", "alice", "admin-1", time.Minute); err != nil {
		t.Fatal(err)
	}
	if n := count(t, st, "login_events", "alice"); n != 0 {
		t.Fatalf("alice still has %d logins", n)
	}
	if got := rolledUpSuccesses(t, st); got != 3 {
		t.Fatalf("after the cut-short attempt: %d successes rolled up, want the 3 counted before", got)
	}
	job := &erasure.Job{Store: st, Rollup: rollup, Wait: time.Minute}
	if err := job.Run(ctx, "acme", "alice", "admin-1"); err != nil {
		t.Fatal(err)
	}
	if got := rolledUpSuccesses(t, st); got != 1 {
		t.Errorf("after the retry: %d successes rolled up, want bob's 1", got)
	}
}

func count(t *testing.T, st *store.Store, table, user string) uint64 {
	t.Helper()
	var n uint64
	if err := st.Conn().QueryRow(context.Background(), "SELECT count() FROM "+table+" WHERE tenant_id = 'acme' AND user_id = ?", user).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// rolledUpSuccesses sums the newest version of every daily bucket.
func rolledUpSuccesses(t *testing.T, st *store.Store) uint64 {
	t.Helper()
	var n uint64
	if err := st.Conn().QueryRow(context.Background(), `SELECT sum(success) FROM (SELECT success FROM login_rollup_daily
		WHERE tenant_id = 'acme' ORDER BY version DESC LIMIT 1 BY bucket)`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}
