package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Rollup is the job that keeps the analytics rollup tables (0004_rollups.sql)
// filled with exact counts of every closed (tenant, hour) and (tenant, day).
// It is only an accelerator: the API computes live whatever it has not
// covered, so answers are the same with or without it, only slower.
//
// Each run, for logins and for tokens:
//
//  1. Catch-up: every bucket from the mark (rollup_state, "complete before")
//     up to the last settled bucket is computed for all tenants, a day of
//     raw rows per statement, and the mark advances. A bucket is settled once
//     it has been closed for Settle (5 min): buckets younger than that stay
//     live, so events a few seconds late (batching, retries) never miss it.
//     The first run starts at the oldest stored event.
//  2. Lateness allowance: buckets that closed less than HourLateness (2 h)
//     or DayLateness (48 h) ago are computed again on every run, whatever
//     their events' ingest times say.
//  3. Sweep: rows ingested since the previous complete run began (less
//     SweepMargin, 15 min, for clock skew between hosts and inserts in
//     flight) that belong to older rolled-up buckets are found by their
//     ingested_at, and exactly those (tenant, bucket)s are computed again.
//     This catches events arriving days or weeks late (a JetStream backlog
//     after an outage, a replay): ingest stamps ingested_at when it reads a
//     message, so a late event carries a fresh stamp.
//
// A late event is therefore in the rollup after the next run (every minute
// by default), and until then only if its bucket is still live. The one case
// neither 2 nor 3 catches is a row whose ingested_at is older than the
// previous run minus the margin and whose bucket closed more than the
// allowance ago: a batch ingest stamped, then could not insert for longer
// than the allowance (a ClickHouse outage of over two days with ingest
// holding the batch in memory). Recompute repairs any range by hand.
//
// Several copies may run at once (one per cmd/query): they compute the same
// numbers, and the newest version of a bucket wins.
type Rollup struct {
	store *Store
	cfg   RollupConfig
	mu    sync.Mutex // one run at a time per process
	ver   lastVersion

	runs        *prometheus.CounterVec
	runSeconds  prometheus.Histogram
	lastSuccess prometheus.Gauge
}

// RollupConfig tunes the job; zero values take the defaults in brackets.
type RollupConfig struct {
	Log          *slog.Logger          // [discard]
	Registry     prometheus.Registerer // metrics, when set
	Settle       time.Duration         // a bucket is rolled up once closed this long [5m]
	HourLateness time.Duration         // hours closed less than this ago are recomputed each run [2h]
	DayLateness  time.Duration         // days closed less than this ago are recomputed each run [48h]
	SweepMargin  time.Duration         // overlap of successive sweeps over ingested_at [15m]
}

// The job's default Settle, DayLateness and SweepMargin; reads that check
// for rows the rollup has not counted yet (countsMiss) assume Settle and
// SweepMargin, 0009_late_arrivals.sql records events stored Settle (5 min)
// or more after their hour closed, and CompactClosed leaves a month alone
// for DayLateness after it ends.
const (
	defaultSettle      = 5 * time.Minute
	defaultDayLateness = 48 * time.Hour
	defaultSweepMargin = 15 * time.Minute
)

// NewRollup returns the job over st. Start it with Run; cmd/query does.
func NewRollup(st *Store, cfg RollupConfig) *Rollup {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&cfg.Settle, defaultSettle)
	def(&cfg.HourLateness, 2*time.Hour)
	def(&cfg.DayLateness, defaultDayLateness)
	def(&cfg.SweepMargin, defaultSweepMargin)
	r := &Rollup{store: st, cfg: cfg,
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authwatch_rollup_runs_total", Help: "Analytics rollup runs by result (ok, error).",
		}, []string{"result"}),
		runSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "authwatch_rollup_run_seconds", Help: "Duration of analytics rollup runs.",
			Buckets: prometheus.ExponentialBuckets(0.01, 2, 14),
		}),
		lastSuccess: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "authwatch_rollup_last_success_timestamp_seconds", Help: "Unix time of the last complete analytics rollup run.",
		}),
	}
	if cfg.Registry != nil {
		cfg.Registry.MustRegister(r.runs, r.runSeconds, r.lastSuccess)
	}
	return r
}

// Run runs the job now and then every period until ctx ends. A failed run
// (ClickHouse away) is logged and the next one catches up.
func (r *Rollup) Run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if err := r.RunOnce(ctx, time.Now()); err != nil && ctx.Err() == nil {
			r.cfg.Log.Warn("analytics rollup failed; retrying next run", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// RunOnce brings the rollups up to date as of now: catch-up, lateness
// allowance and sweep, for logins and tokens.
func (r *Rollup) RunOnce(ctx context.Context, now time.Time) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	start := time.Now()
	var errs []error
	for _, k := range rollupKinds {
		if err := r.runKind(ctx, k, now); err != nil {
			errs = append(errs, fmt.Errorf("rollup %s: %w", k.name, err))
		}
	}
	r.runSeconds.Observe(time.Since(start).Seconds())
	if err := errors.Join(errs...); err != nil {
		r.runs.WithLabelValues("error").Inc()
		return err
	}
	r.runs.WithLabelValues("ok").Inc()
	r.lastSuccess.SetToCurrentTime()
	return nil
}

// Recompute computes [from, to) of one kind ("logins" or "tokens") again for
// the given tenants (every tenant when none), in both intervals; from and
// to are rounded out to whole days. For repairs (see Rollup) and erasures;
// the regular runs never need it.
func (r *Rollup) Recompute(ctx context.Context, kind string, from, to time.Time, tenants ...string) error {
	for _, k := range rollupKinds {
		if k.name != kind {
			continue
		}
		// A bucket whose events are all gone (an erasure) computes to no row
		// at all: first every bucket of the day that has a row is written as
		// zeros, then the computation, newer, replaces those that still have
		// events. A day at a time, so a reader sees the zeros of one day for
		// the time of one computation, not of the whole range.
		for day := Daily.Truncate(from); day.Before(roundUp(Daily, to)); day = day.Add(24 * time.Hour) {
			for _, iv := range []Interval{Hourly, Daily} {
				if err := r.store.zeroRollup(ctx, k, iv, day, day.Add(24*time.Hour), tenants, r.ver.next()); err != nil {
					return err
				}
				if err := r.store.computeRollup(ctx, k, iv, day, day.Add(24*time.Hour), tenants, r.ver.next()); err != nil {
					return err
				}
			}
		}
		// The same state under a new version: every reader's cached closed
		// buckets (this process and other replicas) are read again.
		r.mu.Lock()
		defer r.mu.Unlock()
		st, err := r.store.rollupState(ctx, k.name)
		if err != nil {
			return err
		}
		return r.store.writeRollupState(ctx, k.name, &st, r.ver.next())
	}
	return fmt.Errorf("rollup: unknown kind %q", kind)
}

func earlier(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func roundUp(iv Interval, t time.Time) time.Time {
	if tr := iv.Truncate(t); tr.Before(t) {
		return tr.Add(iv.Step())
	}
	return t
}

// plan is what one run does for one interval.
type plan struct {
	iv          Interval
	oldMark     time.Time // complete before, as the run found it (zero: never)
	settled     time.Time // buckets before this are closed for at least Settle
	lateFrom    time.Time // buckets from here on closed within the allowance
	sweepBefore time.Time // rolled-up buckets before this rely on the sweep
}

func (r *Rollup) plans(st rollupState, now time.Time) []plan {
	out := make([]plan, 0, 2)
	for _, iv := range []Interval{Hourly, Daily} {
		late := r.cfg.DayLateness
		if iv == Hourly {
			late = r.cfg.HourLateness
		}
		p := plan{iv: iv, oldMark: st.mark(iv), settled: iv.Truncate(now.Add(-r.cfg.Settle)), lateFrom: iv.Truncate(now.Add(-late))}
		p.sweepBefore = p.lateFrom
		if p.oldMark.Before(p.sweepBefore) {
			p.sweepBefore = p.oldMark
		}
		out = append(out, p)
	}
	return out
}

func (r *Rollup) runKind(ctx context.Context, k *rollupKind, now time.Time) error {
	st, err := r.store.rollupState(ctx, k.name)
	if err != nil {
		return err
	}
	if st.swept.IsZero() {
		// The first run: its start is the floor of the next sweep, written
		// before any bucket so a run that dies half way still leaves it.
		st.swept = now
		if err := r.store.writeRollupState(ctx, k.name, &st, r.ver.next()); err != nil {
			return err
		}
	}
	sweepFrom := st.swept.Add(-r.cfg.SweepMargin)
	plans := r.plans(st, now)
	firstDays := st.days.IsZero() // this run's catch-up computes every day (and its per-key rows)

	// 3 (looked up first, so rows ingested while this run computes are
	// left to the next run's sweep, whose floor is this run's start).
	var late []tenantBucket
	var sweepBefore time.Time
	for _, p := range plans {
		if p.sweepBefore.After(sweepBefore) {
			sweepBefore = p.sweepBefore
		}
	}
	if !sweepBefore.IsZero() {
		if late, err = r.store.ingestedSince(ctx, k, sweepFrom, sweepBefore); err != nil {
			return err
		}
	}

	for _, p := range plans {
		// 1. Catch-up.
		from := p.oldMark
		if from.IsZero() {
			first, ok, err := r.store.oldestEvent(ctx, k)
			if err != nil {
				return err
			}
			from = p.settled
			if ok && first.Before(from) {
				from = p.iv.Truncate(first)
			}
		}
		for chunk := from; chunk.Before(p.settled); {
			end := earlier(chunk.Add(24*time.Hour), p.settled)
			if err := r.store.computeRollup(ctx, k, p.iv, chunk, end, nil, r.ver.next()); err != nil {
				return err
			}
			st.setMark(p.iv, end) // saved per chunk: a long first run resumes where it stopped
			if err := r.store.writeRollupState(ctx, k.name, &st, r.ver.next()); err != nil {
				return err
			}
			chunk = end
		}
		if st.mark(p.iv).IsZero() {
			st.setMark(p.iv, p.settled) // no settled events yet: nothing before this to compute
		}
		// 2. Lateness allowance: the part of the window that earlier runs rolled up.
		if !p.oldMark.IsZero() && p.lateFrom.Before(p.oldMark) {
			if err := r.computeChunked(ctx, k, p.iv, p.lateFrom, p.oldMark, nil); err != nil {
				return err
			}
		}
		// 3. Sweep: older buckets that received rows since the last run.
		for _, g := range groupLate(late, p.iv, p.sweepBefore) {
			if len(g.tenants) > maxTenantsPerRecompute {
				g.tenants = nil // the whole bucket: cheaper than a huge IN list
			}
			if err := r.store.computeRollup(ctx, k, p.iv, g.from, g.to, g.tenants, r.ver.next()); err != nil {
				return err
			}
		}
	}
	st.swept = now
	if err := r.store.writeRollupState(ctx, k.name, &st, r.ver.next()); err != nil {
		return err
	}
	return r.catchUpPerKey(ctx, k, st.days, firstDays)
}

// catchUpPerKey fills the kind's per-key daily table from its own mark up to
// the kind's daily mark, a day of raw rows per statement, the mark saved
// after each day (a long first fill resumes where it stopped). Days the
// kind computed meanwhile are computed again: harmless, the newest version
// wins. After the kind's first catch-up (fresh: every day below its mark
// was computed in this run, per key too) the mark is set at once.
func (r *Rollup) catchUpPerKey(ctx context.Context, k *rollupKind, kindMark time.Time, fresh bool) error {
	if k.perKey == nil || kindMark.IsZero() {
		return nil
	}
	st, err := r.store.rollupState(ctx, k.perKey.state)
	if err != nil {
		return err
	}
	from := st.days
	if from.IsZero() && fresh {
		from = kindMark
	}
	if from.IsZero() {
		first, ok, err := r.store.oldestEvent(ctx, k)
		if err != nil {
			return err
		}
		from = kindMark
		if ok && first.Before(from) {
			from = Daily.Truncate(first)
		}
	}
	for day := from; day.Before(kindMark); day = day.Add(24 * time.Hour) {
		if err := r.store.computePerKey(ctx, k, day, day.Add(24*time.Hour), nil, r.ver.next()); err != nil {
			return err
		}
		st.days = day.Add(24 * time.Hour)
		if err := r.store.writeRollupState(ctx, k.perKey.state, &st, r.ver.next()); err != nil {
			return err
		}
	}
	if st.days.IsZero() {
		st.days = kindMark // no events before the mark: nothing to fill
		return r.store.writeRollupState(ctx, k.perKey.state, &st, r.ver.next())
	}
	return nil
}

// perKeyState is where a kind's per-key table is complete, the earlier of
// the kind's and the table's own daily marks (zero while either is), and
// the versions of the two states that say so: rows read before the mark
// stay valid while both versions do.
type perKeyState struct {
	mark     time.Time
	versions perKeyVersions
}

// perKeyVersions are the versions of a kind's rollup state and of its
// per-key table's own state that a read before the per-key mark was made
// under.
type perKeyVersions struct{ version, ownVersion uint64 }

// supersededBy says whether a state of kind written at version replaces
// one of the two these were read under.
func (v perKeyVersions) supersededBy(kind string, version uint64) bool {
	return (kind == tokenKind.name && v.version < version) || (kind == tokenDays.state && v.ownVersion < version)
}

func (s *Store) perKeyState(ctx context.Context, k *rollupKind) (perKeyState, error) {
	kind, err := s.cachedRollupState(ctx, k.name)
	if err != nil {
		return perKeyState{}, err
	}
	own, err := s.cachedRollupState(ctx, k.perKey.state)
	if err != nil || kind.days.IsZero() || own.days.IsZero() {
		return perKeyState{}, err
	}
	return perKeyState{mark: earlier(kind.days, own.days), versions: perKeyVersions{kind.version, own.version}}, nil
}

// computeChunked computes [from, to) a day of raw rows at a time.
func (r *Rollup) computeChunked(ctx context.Context, k *rollupKind, iv Interval, from, to time.Time, tenants []string) error {
	for chunk := from; chunk.Before(to); {
		end := earlier(chunk.Add(24*time.Hour), to)
		if err := r.store.computeRollup(ctx, k, iv, chunk, end, tenants, r.ver.next()); err != nil {
			return err
		}
		chunk = end
	}
	return nil
}

// maxTenantsPerRecompute keeps a sweep statement's IN list well inside
// ClickHouse's max_query_size (256 KiB by default).
const maxTenantsPerRecompute = 500

// tenantBucket is an hour of one tenant that received rows.
type tenantBucket struct {
	tenant string
	hour   time.Time
}

// lateGroup is a run of consecutive buckets to compute again for the same tenants.
type lateGroup struct {
	from, to time.Time
	tenants  []string
}

// groupLate turns the hours that received late rows into statements for
// interval iv: buckets before `before` only, one group per run of
// consecutive buckets whose tenants are the same.
func groupLate(late []tenantBucket, iv Interval, before time.Time) []lateGroup {
	byBucket := map[time.Time]map[string]bool{}
	for _, l := range late {
		b := iv.Truncate(l.hour)
		if !b.Before(before) {
			continue
		}
		if byBucket[b] == nil {
			byBucket[b] = map[string]bool{}
		}
		byBucket[b][l.tenant] = true
	}
	starts := make([]time.Time, 0, len(byBucket))
	for b := range byBucket {
		starts = append(starts, b)
	}
	slices.SortFunc(starts, func(a, b time.Time) int { return a.Compare(b) })
	var out []lateGroup
	for _, b := range starts {
		tenants := make([]string, 0, len(byBucket[b]))
		for t := range byBucket[b] {
			tenants = append(tenants, t)
		}
		slices.Sort(tenants)
		if n := len(out); n > 0 && out[n-1].to.Equal(b) && slices.Equal(out[n-1].tenants, tenants) {
			out[n-1].to = b.Add(iv.Step())
			continue
		}
		out = append(out, lateGroup{from: b, to: b.Add(iv.Step()), tenants: tenants})
	}
	return out
}

// lastVersion hands out increasing rollup versions: wall-clock nanoseconds,
// so a recomputation by any copy of the job replaces an older one, and
// strictly increasing within this process even if the clock stalls.
type lastVersion struct {
	mu   sync.Mutex
	last uint64
}

func (v *lastVersion) next() uint64 {
	v.mu.Lock()
	defer v.mu.Unlock()
	n := uint64(time.Now().UnixNano())
	if n <= v.last {
		n = v.last + 1
	}
	v.last = n
	return n
}

// rollupState is a kind's row of rollup_state; zero times mean "never".
type rollupState struct {
	hours, days time.Time // complete before
	swept       time.Time // start of the last complete run
	// version changes whenever rolled-up rows may have changed: cached
	// reads of closed buckets are valid for one version (cache.go).
	version uint64
}

func (st rollupState) mark(iv Interval) time.Time {
	if iv == Hourly {
		return st.hours
	}
	return st.days
}

func (st *rollupState) setMark(iv Interval, t time.Time) {
	if iv == Hourly {
		st.hours = t
	} else {
		st.days = t
	}
}

func unixOrZero(u uint32) time.Time {
	if u == 0 {
		return time.Time{}
	}
	return time.Unix(int64(u), 0).UTC()
}

func (s *Store) rollupState(ctx context.Context, name string) (rollupState, error) {
	var h, d, sw uint32
	var version uint64
	err := s.conn.QueryRow(pointQuery(ctx), `SELECT toUInt32(argMax(hours_complete_before, version)),
		toUInt32(argMax(days_complete_before, version)), toUInt32(argMax(swept_at, version)), max(version)
		FROM rollup_state WHERE name = ?`, name).Scan(&h, &d, &sw, &version)
	if err != nil {
		return rollupState{}, fmt.Errorf("read rollup_state: %w", err)
	}
	return rollupState{hours: unixOrZero(h), days: unixOrZero(d), swept: unixOrZero(sw), version: version}, nil
}

// writeRollupState records st under a version above the one it was read
// with (version, from this process's clock, unless that clock is behind the
// writer of the last one), so that readers' caches see a change, and keeps
// the version written in st.
func (s *Store) writeRollupState(ctx context.Context, name string, st *rollupState, version uint64) error {
	if version <= st.version {
		version = st.version + 1
	}
	st.version = version
	at := func(t time.Time) time.Time {
		if t.IsZero() {
			return time.Unix(0, 0).UTC()
		}
		return t
	}
	err := s.insertColumns(ctx, "INSERT INTO rollup_state (name, hours_complete_before, days_complete_before, swept_at, version)",
		[]any{[]string{name}, []time.Time{at(st.hours)}, []time.Time{at(st.days)}, []time.Time{at(st.swept)}, []uint64{version}})
	s.cache.forgetState(name)
	if err != nil {
		return fmt.Errorf("write rollup_state: %w", err)
	}
	return nil
}

// computeRollup writes the rollup rows of [from, to) (whole buckets) for
// every tenant, or for the given ones.
func (s *Store) computeRollup(ctx context.Context, k *rollupKind, iv Interval, from, to time.Time, tenants []string, version uint64) error {
	if err := s.execCompute(ctx, k.table(iv), k.computeSQL(iv, len(tenants)), from, to, tenants, version); err != nil {
		return err
	}
	if iv == Daily && k.perKey != nil {
		return s.computePerKey(ctx, k, from, to, tenants, version)
	}
	return nil
}

// computePerKey writes the per-key rows of the days in [from, to) for every
// tenant, or for the given ones.
func (s *Store) computePerKey(ctx context.Context, k *rollupKind, from, to time.Time, tenants []string, version uint64) error {
	return s.execCompute(ctx, k.perKey.table, k.perKey.computeSQL(k.raw, len(tenants)), from, to, tenants, version)
}

// execCompute runs a rollup INSERT … SELECT built by computeSQL: its
// arguments are the version, the range, then the tenants.
func (s *Store) execCompute(ctx context.Context, table, q string, from, to time.Time, tenants []string, version uint64) error {
	args := []any{version, from.Unix(), to.Unix()}
	for _, t := range tenants {
		args = append(args, t)
	}
	if err := s.conn.Exec(ctx, q, args...); err != nil {
		return fmt.Errorf("compute %s %s–%s: %w", table, from.Format(time.RFC3339), to.Format(time.RFC3339), err)
	}
	return nil
}

// zeroRollup writes a row of zeros, at version, for every (tenant, bucket)
// of [from, to) that has a row in the rollup table of iv.
// The per-key rows of the daily buckets are zeroed with them. Only the
// given tenants' rows when there are any.
func (s *Store) zeroRollup(ctx context.Context, k *rollupKind, iv Interval, from, to time.Time, tenants []string, version uint64) error {
	cond, args := "", []any{version, from.Unix(), to.Unix()}
	if len(tenants) > 0 {
		cond = " AND tenant_id IN (" + placeholders(len(tenants)) + ")"
		args = append(args, anySlice(tenants)...)
	}
	zero := func(t, key string) error {
		if err := s.conn.Exec(ctx, "INSERT INTO "+t+" (tenant_id, bucket"+key+", version) SELECT tenant_id, bucket"+key+", toUInt64(?) FROM "+t+
			" WHERE bucket >= toDateTime(?) AND bucket < toDateTime(?)"+cond+" GROUP BY tenant_id, bucket"+key, args...); err != nil {
			return fmt.Errorf("zero %s %s–%s: %w", t, from.Format(time.RFC3339), to.Format(time.RFC3339), err)
		}
		return nil
	}
	if err := zero(k.table(iv), ""); err != nil {
		return err
	}
	if iv == Daily && k.perKey != nil {
		return zero(k.perKey.table, ", "+k.perKey.key)
	}
	return nil
}

// oldestEvent is the time of the oldest stored event of a kind.
func (s *Store) oldestEvent(ctx context.Context, k *rollupKind) (time.Time, bool, error) {
	var first uint32
	var n uint64
	if err := s.conn.QueryRow(ctx, "SELECT toUInt32(min(occurred_at)), count() FROM "+k.raw).Scan(&first, &n); err != nil {
		return time.Time{}, false, fmt.Errorf("oldest %s: %w", k.name, err)
	}
	return time.Unix(int64(first), 0).UTC(), n > 0, nil
}

// ingestedSince lists the (tenant, hour)s before `before` that received rows
// ingested at or after since. ingested_at is not in the sort key, so this
// reads that one column of the whole table (see README, Performance).
func (s *Store) ingestedSince(ctx context.Context, k *rollupKind, since, before time.Time) ([]tenantBucket, error) {
	rows, err := s.conn.Query(ctx, "SELECT DISTINCT tenant_id, "+bucketExpr(Hourly)+" FROM "+k.raw+
		" WHERE ingested_at >= toDateTime(?) AND occurred_at < toDateTime(?)", since.Unix(), before.Unix())
	if err != nil {
		return nil, fmt.Errorf("sweep %s: %w", k.name, err)
	}
	defer rows.Close()
	var out []tenantBucket
	for rows.Next() {
		var tb tenantBucket
		var h uint32
		if err := rows.Scan(&tb.tenant, &h); err != nil {
			return nil, err
		}
		tb.hour = time.Unix(int64(h), 0).UTC()
		out = append(out, tb)
	}
	return out, rows.Err()
}
