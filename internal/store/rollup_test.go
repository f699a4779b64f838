package store_test

import (
	"context"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/authwatch/authwatch/event"
	"github.com/authwatch/authwatch/internal/enrich"
	"github.com/authwatch/authwatch/internal/store"
	"github.com/authwatch/authwatch/internal/testenv"
)

var rollNow = time.Date(2026, 11, 20, 14, 30, 0, 0, time.UTC)

// insertAt writes events as ingest does, stamped as ingested at `ingested`.
func insertAt(t *testing.T, st *store.Store, ingested time.Time, evs ...*event.Event) {
	t.Helper()
	b := store.NewBatch(len(evs))
	enr := enrich.New(nil)
	for _, ev := range evs {
		if err := ev.Validate(); err != nil {
			t.Fatal(err)
		}
		b.Add(ev, enr.Enrich(ev.UserAgent, ev.IPAddress), ingested)
	}
	if err := st.Insert(context.Background(), b); err != nil {
		t.Fatal(err)
	}
}

func rollLogin(tenant, id, user string, status event.Status, ip string, at time.Time) *event.Event {
	return &event.Event{ID: id, Kind: event.KindLogin, TenantID: tenant, UserID: user, OccurredAt: at,
		IPAddress: ip, Status: status}
}

func loginSeries(t *testing.T, st *store.Store, tenant string, iv store.Interval, from, to time.Time) []store.LoginBucket {
	t.Helper()
	out, err := st.LoginAnalytics(context.Background(), tenant, iv, from, to)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func bucketAt(t *testing.T, series []store.LoginBucket, start time.Time) store.LoginBucket {
	t.Helper()
	for _, b := range series {
		if b.Start.Equal(start) {
			return b
		}
	}
	t.Fatalf("no bucket %s", start)
	return store.LoginBucket{}
}

// TestRollupEqualsLive fills two tenants with events over 40 days, a tenth
// of them delivered twice, and checks that every answer is the same before
// and after the job, by hour and by day.
func TestRollupEqualsLive(t *testing.T) {
	st, _ := testenv.OpenStore(t)
	ctx := context.Background()
	var evs, dups []*event.Event
	statuses := event.Statuses
	for i := range 2000 {
		tenant := []string{"acme", "beta"}[i%2]
		at := rollNow.Add(-time.Duration(i*29) * time.Minute) // about 40 days back
		ev := rollLogin(tenant, fmt.Sprintf("e%05d", i), fmt.Sprintf("u%d", i%37), statuses[i%len(statuses)],
			fmt.Sprintf("10.0.%d.%d", i%7, i%11), at)
		if i%13 == 0 {
			ev.UserID = "" // an unknown account
			ev.Status = event.StatusFailed
		}
		evs = append(evs, ev)
		if i%10 == 0 {
			dups = append(dups, ev)
		}
	}
	insertAt(t, st, rollNow, evs...)
	insertAt(t, st, rollNow, dups...)

	ranges := []struct {
		iv       store.Interval
		from, to time.Time
	}{
		{store.Hourly, time.Date(2026, 11, 14, 0, 0, 0, 0, time.UTC), time.Date(2026, 11, 21, 0, 0, 0, 0, time.UTC)},
		{store.Hourly, time.Date(2026, 10, 20, 0, 0, 0, 0, time.UTC), time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)},
		{store.Daily, time.Date(2026, 9, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)},
	}
	read := func() [][]store.LoginBucket {
		var out [][]store.LoginBucket
		for _, r := range ranges {
			for _, tenant := range []string{"acme", "beta"} {
				out = append(out, loginSeries(t, st, tenant, r.iv, r.from, r.to))
			}
		}
		return out
	}
	live := read()
	var total uint64
	for _, b := range live[4] { // acme by day
		total += b.Success + b.Failed + b.Blocked + b.TwoFARequired + b.TwoFAFailed
	}
	if total != 1000 {
		t.Fatalf("acme has %d events by day, want 1000 (each once)", total)
	}
	// The lists' counts-only read (one grouped pass) gives the same
	// per-status counts, and no distinct users or IPs.
	i := 0
	for _, r := range ranges {
		for _, tenant := range []string{"acme", "beta"} {
			counts, _, err := st.AnalyticsCountsOnly(ctx, tenant, r.iv, r.from, r.to)
			if err != nil {
				t.Fatal(err)
			}
			want := append([]store.LoginBucket(nil), live[i]...)
			for j := range want {
				want[j].UniqueUsers, want[j].UniqueIPs = 0, 0
			}
			if !reflect.DeepEqual(counts, want) {
				t.Errorf("%s %s %s–%s: counts only %v\nwant %v", tenant, r.iv, r.from, r.to, counts, want)
			}
			i++
		}
	}

	job := store.NewRollup(st, store.RollupConfig{})
	if err := job.RunOnce(ctx, rollNow); err != nil {
		t.Fatal(err)
	}
	if got := read(); !reflect.DeepEqual(got, live) {
		for i := range got {
			if !reflect.DeepEqual(got[i], live[i]) {
				for j := range got[i] {
					if got[i][j] != live[i][j] {
						t.Errorf("series %d bucket %s: rolled %+v, live %+v", i, live[i][j].Start, got[i][j], live[i][j])
					}
				}
			}
		}
	}
}

// TestRollupIsRead proves that closed buckets come from the rollup tables
// and the open ones do not: a doctored rollup row shows in the answer.
func TestRollupIsRead(t *testing.T) {
	st, _ := testenv.OpenStore(t)
	ctx := context.Background()
	insertAt(t, st, rollNow,
		rollLogin("acme", "y1", "alice", event.StatusSuccess, "10.0.0.1", rollNow.Add(-24*time.Hour)),
		rollLogin("acme", "t1", "alice", event.StatusSuccess, "10.0.0.1", rollNow.Add(-time.Minute)))
	if err := store.NewRollup(st, store.RollupConfig{}).RunOnce(ctx, rollNow); err != nil {
		t.Fatal(err)
	}
	yesterday := time.Date(2026, 11, 19, 0, 0, 0, 0, time.UTC)
	doctor := fmt.Sprintf(`INSERT INTO login_rollup_daily (tenant_id, bucket, success, failed, blocked, twofa_required,
		twofa_failed, unique_users, unique_ips, version) SELECT 'acme', toDateTime(%d), 99, 0, 0, 0, 0, 1, 1, toUInt64(%d)`,
		yesterday.Unix(), uint64(time.Now().Add(time.Hour).UnixNano()))
	if err := st.Conn().Exec(ctx, doctor); err != nil {
		t.Fatal(err)
	}
	series := loginSeries(t, st, "acme", store.Daily, yesterday, yesterday.Add(48*time.Hour))
	if series[0].Success != 99 {
		t.Errorf("yesterday = %+v: the rollup row was not read", series[0])
	}
	if series[1].Success != 1 {
		t.Errorf("today (live) = %+v", series[1])
	}
}

// TestRollupLateEvents covers the three ways a bucket is computed again.
func TestRollupLateEvents(t *testing.T) {
	st, _ := testenv.OpenStore(t)
	ctx := context.Background()
	day := func(d int) time.Time { return time.Date(2026, 11, d, 0, 0, 0, 0, time.UTC) }
	insertAt(t, st, rollNow.Add(-10*24*time.Hour),
		rollLogin("acme", "old", "alice", event.StatusSuccess, "10.0.0.1", day(5).Add(3*time.Hour)))
	insertAt(t, st, rollNow,
		rollLogin("acme", "y", "alice", event.StatusSuccess, "10.0.0.1", day(19).Add(3*time.Hour)),
		rollLogin("acme", "h13", "alice", event.StatusSuccess, "10.0.0.1", day(20).Add(13*time.Hour)))
	job := store.NewRollup(st, store.RollupConfig{})
	if err := job.RunOnce(ctx, rollNow); err != nil {
		t.Fatal(err)
	}
	now := rollNow.Add(20 * time.Minute) // later runs start past the sweep margin
	if err := job.RunOnce(ctx, now); err != nil {
		t.Fatal(err)
	}

	// (1) A late event with a fresh ingest stamp, 15 days late: found by the sweep.
	insertAt(t, st, now, rollLogin("acme", "late-sweep", "bob", event.StatusFailed, "10.0.0.2", day(5).Add(3*time.Hour+time.Minute)))
	// (2) Events stamped long ago (a batch held through an outage) for
	// yesterday and for 13:00 today: within the lateness allowance.
	stale := rollNow.Add(-72 * time.Hour)
	insertAt(t, st, stale,
		rollLogin("acme", "late-day", "bob", event.StatusFailed, "10.0.0.2", day(19).Add(5*time.Hour)),
		rollLogin("acme", "late-hour", "bob", event.StatusFailed, "10.0.0.2", day(20).Add(13*time.Hour+30*time.Minute)))
	// (3) The same, for a day out of the allowance: missed until a Recompute.
	insertAt(t, st, stale, rollLogin("acme", "late-lost", "bob", event.StatusFailed, "10.0.0.2", day(10).Add(time.Hour)))

	// Until the next run, rolled-up buckets show what was computed.
	if b := bucketAt(t, loginSeries(t, st, "acme", store.Daily, day(5), day(6)), day(5)); b.Failed != 0 {
		t.Errorf("5 Nov before the run = %+v, want the rolled-up numbers", b)
	}
	now = now.Add(time.Minute)
	if err := job.RunOnce(ctx, now); err != nil {
		t.Fatal(err)
	}
	byDay := loginSeries(t, st, "acme", store.Daily, day(1), day(21))
	if b := bucketAt(t, byDay, day(5)); b.Success != 1 || b.Failed != 1 || b.UniqueUsers != 2 {
		t.Errorf("5 Nov (sweep) = %+v", b)
	}
	if b := bucketAt(t, byDay, day(19)); b.Success != 1 || b.Failed != 1 {
		t.Errorf("19 Nov (allowance) = %+v", b)
	}
	byHour := loginSeries(t, st, "acme", store.Hourly, day(20), day(21))
	if b := bucketAt(t, byHour, day(20).Add(13*time.Hour)); b.Success != 1 || b.Failed != 1 {
		t.Errorf("20 Nov 13:00 (allowance) = %+v", b)
	}
	if b := bucketAt(t, loginSeries(t, st, "acme", store.Hourly, day(5), day(6)), day(5).Add(3*time.Hour)); b.Failed != 1 {
		t.Errorf("5 Nov 03:00 (sweep) = %+v", b)
	}
	if b := bucketAt(t, byDay, day(10)); b.Failed != 0 {
		t.Errorf("10 Nov = %+v: expected the documented miss", b)
	}
	if err := job.Recompute(ctx, "logins", day(10), day(11)); err != nil {
		t.Fatal(err)
	}
	if b := bucketAt(t, loginSeries(t, st, "acme", store.Daily, day(10), day(11)), day(10)); b.Failed != 1 {
		t.Errorf("10 Nov after Recompute = %+v", b)
	}
}

// TestRollupFreshDatabase: the job on an empty database sets its marks and
// later events, even for old buckets, are counted.
func TestRollupFreshDatabase(t *testing.T) {
	st, _ := testenv.OpenStore(t)
	ctx := context.Background()
	job := store.NewRollup(st, store.RollupConfig{})
	if err := job.RunOnce(ctx, rollNow); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 2, 8, 0, 0, 0, time.UTC)
	insertAt(t, st, rollNow.Add(time.Minute), rollLogin("acme", "e1", "alice", event.StatusSuccess, "10.0.0.1", at))
	if err := job.RunOnce(ctx, rollNow.Add(2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	day := time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)
	if b := bucketAt(t, loginSeries(t, st, "acme", store.Daily, day, day.Add(24*time.Hour)), day); b.Success != 1 {
		t.Errorf("2 Nov = %+v", b)
	}
}

// Closed buckets are kept in memory between rollup runs (cache.go): a new
// computation must show at once in the process that made it and within a
// second in every other (another query replica), never be hidden for good.
func TestCachedRollupFollowsRecompute(t *testing.T) {
	st, cfg := testenv.OpenStore(t)
	ctx := context.Background()
	replica, err := store.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer replica.Close()
	yesterday := time.Date(2026, 11, 19, 0, 0, 0, 0, time.UTC)
	insertAt(t, st, rollNow, rollLogin("acme", "y1", "alice", event.StatusSuccess, "10.0.0.1", yesterday.Add(3*time.Hour)))
	job := store.NewRollup(st, store.RollupConfig{})
	if err := job.RunOnce(ctx, rollNow); err != nil {
		t.Fatal(err)
	}
	for name, s := range map[string]*store.Store{"job's process": st, "replica": replica} {
		if b := loginSeries(t, s, "acme", store.Daily, yesterday, yesterday.AddDate(0, 0, 1))[0]; b.Success != 1 {
			t.Fatalf("%s before: %+v", name, b)
		}
	}
	// Stamped long ago, for a closed day: no run picks it up by itself.
	insertAt(t, st, rollNow.AddDate(0, 0, -30), rollLogin("acme", "y2", "bob", event.StatusSuccess, "10.0.0.2", yesterday.Add(5*time.Hour)))
	if b := loginSeries(t, st, "acme", store.Daily, yesterday, yesterday.AddDate(0, 0, 1))[0]; b.Success != 1 {
		t.Fatalf("before the recompute: %+v, want the rolled-up numbers", b)
	}
	if err := job.Recompute(ctx, "logins", yesterday, yesterday.AddDate(0, 0, 1)); err != nil {
		t.Fatal(err)
	}
	if b := loginSeries(t, st, "acme", store.Daily, yesterday, yesterday.AddDate(0, 0, 1))[0]; b.Success != 2 || b.UniqueUsers != 2 {
		t.Errorf("job's process after the recompute: %+v, want 2 successes of 2 users", b)
	}
	testenv.Eventually(t, 10*time.Second, "the replica sees the recomputed day", func() bool {
		return loginSeries(t, replica, "acme", store.Daily, yesterday, yesterday.AddDate(0, 0, 1))[0].Success == 2
	})
}

// An erasure recomputes its tenant's buckets only: the other tenants' rows
// keep their versions, and the tenant's late event is counted.
func TestRecomputeOneTenant(t *testing.T) {
	st, _ := testenv.OpenStore(t)
	ctx := context.Background()
	yesterday := time.Date(2026, 11, 19, 0, 0, 0, 0, time.UTC)
	insertAt(t, st, rollNow,
		rollLogin("acme", "a1", "alice", event.StatusSuccess, "10.0.0.1", yesterday.Add(3*time.Hour)),
		rollLogin("beta", "b1", "bob", event.StatusSuccess, "10.0.0.2", yesterday.Add(4*time.Hour)))
	job := store.NewRollup(st, store.RollupConfig{})
	if err := job.RunOnce(ctx, rollNow); err != nil {
		t.Fatal(err)
	}
	versions := func() map[string]uint64 {
		t.Helper()
		out := map[string]uint64{}
		rows, err := st.Conn().Query(ctx, "SELECT tenant_id, max(version) FROM login_rollup_daily WHERE bucket = toDateTime(?) GROUP BY tenant_id", yesterday.Unix())
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			var tenant string
			var v uint64
			if err := rows.Scan(&tenant, &v); err != nil {
				t.Fatal(err)
			}
			out[tenant] = v
		}
		return out
	}
	before := versions()
	// Late events of both tenants, stamped long ago: only a Recompute sees them.
	insertAt(t, st, rollNow.AddDate(0, 0, -30),
		rollLogin("acme", "a2", "carol", event.StatusSuccess, "10.0.0.3", yesterday.Add(5*time.Hour)),
		rollLogin("beta", "b2", "dave", event.StatusSuccess, "10.0.0.4", yesterday.Add(6*time.Hour)))
	if err := job.Recompute(ctx, "logins", yesterday, yesterday.AddDate(0, 0, 1), "acme"); err != nil {
		t.Fatal(err)
	}
	after := versions()
	if after["acme"] <= before["acme"] || after["beta"] != before["beta"] {
		t.Errorf("versions before %v, after %v: want acme's rewritten and beta's untouched", before, after)
	}
	if b := loginSeries(t, st, "acme", store.Daily, yesterday, yesterday.AddDate(0, 0, 1))[0]; b.Success != 2 {
		t.Errorf("acme after its recompute: %+v, want 2 successes", b)
	}
	if b := loginSeries(t, st, "beta", store.Daily, yesterday, yesterday.AddDate(0, 0, 1))[0]; b.Success != 1 {
		t.Errorf("beta, not recomputed: %+v, want its rolled-up 1", b)
	}
}
