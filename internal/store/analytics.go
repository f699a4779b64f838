package store

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// Analytics (SPEC §3 "Analytics for analysts"): per hour or per day of a
// tenant, event counts with each event id counted once and exact distinct
// users, IPs and tokens. Closed buckets come from the rollup tables that
// Rollup (rollup.go) fills; every bucket the rollup does not cover yet (the
// open one, the ones closed too recently, any range before the job first
// ran) is computed live from the raw rows with the same expressions, so the
// answer does not depend on whether the job has run. See
// schemas/clickhouse/0004_rollups.sql.

// Interval is the width of an analytics bucket. Buckets are aligned on UTC
// hours and days (unix time is UTC, so alignment is integer division).
type Interval string

const (
	Hourly Interval = "hour"
	Daily  Interval = "day"
)

// Step is the bucket width.
func (iv Interval) Step() time.Duration {
	if iv == Hourly {
		return time.Hour
	}
	return 24 * time.Hour
}

func (iv Interval) seconds() int64 { return int64(iv.Step() / time.Second) }

// Truncate returns the start of the bucket holding t, in UTC.
func (iv Interval) Truncate(t time.Time) time.Time {
	sec := iv.seconds()
	u := t.Unix()
	u -= ((u % sec) + sec) % sec // floor, also before 1970
	return time.Unix(u, 0).UTC()
}

// Buckets lists the start of every bucket in [from, to), oldest first; from
// and to are truncated/rounded up to the interval.
func (iv Interval) Buckets(from, to time.Time) []time.Time {
	from = iv.Truncate(from)
	end := iv.Truncate(to)
	if end.Before(to) {
		end = end.Add(iv.Step())
	}
	if !end.After(from) {
		return nil
	}
	out := make([]time.Time, 0, end.Sub(from)/iv.Step())
	for t := from; t.Before(end); t = t.Add(iv.Step()) {
		out = append(out, t)
	}
	return out
}

func (iv Interval) valid() bool { return iv == Hourly || iv == Daily }

// maxBuckets bounds one analytics read (the API allows 31 × 24 hours or 400 days).
const maxBuckets = 24 * 400

// LoginBucket is one bucket of login analytics.
type LoginBucket struct {
	Start                                                time.Time
	Success, Failed, Blocked, TwoFARequired, TwoFAFailed uint64
	UniqueUsers, UniqueIPs                               uint64
}

// Count is the bucket's number of logins of a status, of every status for "".
func (b LoginBucket) Count(status string) uint64 {
	switch status {
	case "":
		return b.Success + b.Failed + b.Blocked + b.TwoFARequired + b.TwoFAFailed
	case "success":
		return b.Success
	case "failed":
		return b.Failed
	case "blocked":
		return b.Blocked
	case "2fa_required":
		return b.TwoFARequired
	case "2fa_failed":
		return b.TwoFAFailed
	}
	return 0
}

// TokenBucket is one bucket of token analytics; TestUses and LiveUses are
// authenticated events per environment.
type TokenBucket struct {
	Start                                                                 time.Time
	Authenticated, Failed, Expired, IPBlocked, DomainBlocked, RateLimited uint64
	Created, Rotated, Revoked                                             uint64
	UniqueTokens, TestUses, LiveUses                                      uint64
}

// Count is the bucket's number of events of the given actions (each
// counted once however often it is named); all of them when none is given.
// Timelines call it for every hour of a range: it allocates nothing.
func (b TokenBucket) Count(events []string) uint64 {
	if len(events) == 0 {
		return b.Authenticated + b.Failed + b.Expired + b.IPBlocked + b.DomainBlocked + b.RateLimited +
			b.Created + b.Rotated + b.Revoked
	}
	var n uint64
	for i, e := range events {
		if !slices.Contains(events[:i], e) {
			n += b.action(e)
		}
	}
	return n
}

// action is the bucket's number of events of one action (0 for an unknown one).
func (b TokenBucket) action(event string) uint64 {
	switch event {
	case "authenticated":
		return b.Authenticated
	case "failed":
		return b.Failed
	case "expired":
		return b.Expired
	case "ip_blocked":
		return b.IPBlocked
	case "domain_blocked":
		return b.DomainBlocked
	case "rate_limited":
		return b.RateLimited
	case "created":
		return b.Created
	case "rotated":
		return b.Rotated
	case "revoked":
		return b.Revoked
	}
	return 0
}

// rollupKind describes one event kind's raw table, rollup tables and
// measures; the job and the read path build their SQL from it, so a rolled
// up bucket and a live one are computed by the very same expressions.
type rollupKind struct {
	name          string // rollup_state.name
	raw           string // the tenant-by-time copy of the events
	hourly, daily string
	measures      []measure
	// value is the column whose values the per-value measures count
	// (status, event): countsSQL counts them all in one grouped pass.
	value string
	// perKey, when set, is computed with every daily bucket too: the same
	// day counted per value of one more column (tokens: per token).
	perKey *keyedRollup
}

// keyedRollup is a daily rollup table of one kind keyed by (tenant_id, key,
// bucket). Every daily bucket the kind computes (catch-up, lateness, sweep,
// Recompute) is computed here too, at the same version. The table keeps its
// own mark (rollup_state row `state`): it can start empty on an install
// whose kind is already rolled up (a migration that adds it, a cluster
// upgraded), and the job fills it from the oldest event up to the kind's
// mark. Readers trust it below the earlier of the two marks (perKeyMark).
type keyedRollup struct {
	table, key, state string
	measures          []measure
}

// measure is one rollup column and the aggregate over raw rows that fills it.
// Counts are uniqExactIf(id, …): a redelivered copy of an event has the
// same id and is counted once, before and after merges. A measure that
// counts the events of one value of its kind's value column (a status, an
// action) names it (countOf).
type measure struct{ column, expr, value string }

// countOf is the measure column that counts the events whose valueColumn
// (the kind's value) is v.
func countOf(column, valueColumn, v string) measure {
	return measure{column: column, expr: "uniqExactIf(id, " + valueColumn + " = '" + v + "')", value: v}
}

func (k *rollupKind) table(iv Interval) string {
	if iv == Hourly {
		return k.hourly
	}
	return k.daily
}

var loginKind = &rollupKind{
	name: "logins", raw: "login_events_by_time", hourly: "login_rollup_hourly", daily: "login_rollup_daily",
	value: "status",
	measures: []measure{
		countOf("success", "status", "success"),
		countOf("failed", "status", "failed"),
		countOf("blocked", "status", "blocked"),
		countOf("twofa_required", "status", "2fa_required"),
		countOf("twofa_failed", "status", "2fa_failed"),
		// a failed login on an unknown account has no user: not a user
		{"unique_users", "uniqExactIf(user_id, user_id != '')", ""},
		{"unique_ips", "uniqExact(ip_address)", ""},
	},
}

var tokenKind = &rollupKind{
	name: "tokens", raw: "token_events_by_time", hourly: "token_rollup_hourly", daily: "token_rollup_daily",
	value: "event",
	measures: []measure{
		countOf("authenticated", "event", "authenticated"),
		countOf("failed", "event", "failed"),
		countOf("expired", "event", "expired"),
		countOf("ip_blocked", "event", "ip_blocked"),
		countOf("domain_blocked", "event", "domain_blocked"),
		countOf("rate_limited", "event", "rate_limited"),
		countOf("created", "event", "created"),
		countOf("rotated", "event", "rotated"),
		countOf("revoked", "event", "revoked"),
		{"unique_tokens", "uniqExact(token_id)", ""},
		{"test_uses", "uniqExactIf(id, event = 'authenticated' AND environment = 'test')", ""},
		{"live_uses", "uniqExactIf(id, event = 'authenticated' AND environment = 'live')", ""},
	},
	perKey: tokenDays,
}

// tokenDays are each token's uses and failures per day
// (0007_token_days.sql), for /tokens/top and a user's /tokens/stats.
var tokenDays = &keyedRollup{
	table: "token_rollup_daily_by_token", key: "token_id", state: "token_days",
	measures: []measure{
		{"uses", tokenUseExpr, ""},
		{"failures", tokenFailureExpr, ""},
		{"use_ips", tokenUseIPsExpr, ""},
	},
}

// The token counts that /tokens/top and /tokens/stats show, as aggregates
// over raw rows; the per-token rollup is filled by the same expressions.
const (
	tokenUseExpr     = "uniqExactIf(id, event = 'authenticated')"
	tokenFailureExpr = "uniqExactIf(id, event IN ('failed', 'expired', 'ip_blocked'))"
	tokenUseIPsExpr  = "groupUniqArrayIf(ip_address, event = 'authenticated')"
	// tokenUseIPCountExpr counts the IPs that tokenUseIPsExpr collects.
	tokenUseIPCountExpr = "uniqExactIf(ip_address, event = 'authenticated')"
)

var rollupKinds = []*rollupKind{loginKind, tokenKind}

// bucketExpr is the start of an event's bucket as unix seconds; integer
// division keeps it UTC whatever the server's time zone.
func bucketExpr(iv Interval) string {
	return fmt.Sprintf("toUInt32(intDiv(toUInt32(occurred_at), %d) * %d)", iv.seconds(), iv.seconds())
}

func (k *rollupKind) aggregates() string {
	exprs := make([]string, len(k.measures))
	for i, m := range k.measures {
		exprs[i] = m.expr
	}
	return strings.Join(exprs, ", ")
}

// liveSQL counts one tenant's buckets in [from, to) from the raw rows.
func (k *rollupKind) liveSQL(iv Interval) string {
	return "SELECT " + bucketExpr(iv) + " AS b, " + k.aggregates() + " FROM " + k.raw +
		" WHERE tenant_id = ? AND occurred_at >= toDateTime(?) AND occurred_at < toDateTime(?) GROUP BY b"
}

// countsSQL is liveSQL for the per-value measures alone (the others are
// zero): the events per bucket and value (status, action), counted in one
// grouped pass instead of an aggregate per measure; valueRows lays them out
// a column per measure. A value's uniqExact(id) within its group is the
// measure's uniqExactIf(id, value). (Laying them out in SQL, with an outer
// SELECT of sumIf per measure, cost 1–2 ms more per statement on 18.16,
// with or without rows.)
func (k *rollupKind) countsSQL(iv Interval) string {
	return "SELECT " + bucketExpr(iv) + " AS b, toString(" + k.value + ") AS v, uniqExact(id) FROM " + k.raw +
		" WHERE tenant_id = ? AND occurred_at >= toDateTime(?) AND occurred_at < toDateTime(?) GROUP BY b, v"
}

// rolledSQL reads one tenant's rolled-up buckets in [from, to), the newest
// computation of each.
func (k *rollupKind) rolledSQL(iv Interval) string {
	cols := make([]string, len(k.measures))
	for i, m := range k.measures {
		cols[i] = "argMax(" + m.column + ", version)"
	}
	return "SELECT toUInt32(bucket) AS b, " + strings.Join(cols, ", ") + " FROM " + k.table(iv) +
		" WHERE tenant_id = ? AND bucket >= toDateTime(?) AND bucket < toDateTime(?) GROUP BY bucket"
}

// computeSQL writes the rollup rows of [from, to) for every tenant, or, when
// tenants > 0, for that many tenants bound one placeholder each.
func (k *rollupKind) computeSQL(iv Interval, tenants int) string {
	return rollupInsertSQL(k.table(iv), k.raw, iv, "", k.measures, tenants)
}

// computeSQL writes the keyed rows of the days in [from, to) from the raw
// table, with the arguments of rollupKind.computeSQL.
func (k *keyedRollup) computeSQL(raw string, tenants int) string {
	return rollupInsertSQL(k.table, raw, Daily, k.key, k.measures, tenants)
}

// rollupInsertSQL is the INSERT … SELECT that writes the buckets of iv in
// [from, to) of table from the raw rows, grouped by tenant, bucket and key
// (when not ""), at a version. Its arguments: the version, from and to as
// unix seconds, then the tenants (tenants > 0: that many, one placeholder
// each; otherwise every tenant).
func rollupInsertSQL(table, raw string, iv Interval, key string, ms []measure, tenants int) string {
	cols := make([]string, len(ms))
	exprs := make([]string, len(ms))
	for i, m := range ms {
		cols[i], exprs[i] = m.column, m.expr
	}
	keyCol := ""
	if key != "" {
		keyCol = ", " + key
	}
	var b strings.Builder
	b.WriteString("INSERT INTO " + table + " (tenant_id, bucket" + keyCol + ", " + strings.Join(cols, ", ") + ", version) ")
	b.WriteString("SELECT tenant_id, toDateTime(" + bucketExpr(iv) + ") AS b" + keyCol + ", " + strings.Join(exprs, ", ") + ", toUInt64(?) FROM " + raw)
	b.WriteString(" WHERE occurred_at >= toDateTime(?) AND occurred_at < toDateTime(?)")
	if tenants > 0 {
		b.WriteString(" AND tenant_id IN (?" + strings.Repeat(", ?", tenants-1) + ")")
	}
	b.WriteString(" GROUP BY tenant_id, b" + keyCol)
	return b.String()
}

// LoginAnalytics returns one bucket per interval of [from, to) of a tenant's
// logins, zeros included, oldest first. from and to must lie on the interval.
func (s *Store) LoginAnalytics(ctx context.Context, tenant string, iv Interval, from, to time.Time) ([]LoginBucket, error) {
	return s.loginAnalytics(ctx, tenant, iv, from, to, false)
}

// loginAnalytics is LoginAnalytics; with countsOnly the buckets read live
// carry the counts per status alone (UniqueUsers and UniqueIPs are zero):
// what a list's timeline and total need, at less cost.
func (s *Store) loginAnalytics(ctx context.Context, tenant string, iv Interval, from, to time.Time, countsOnly bool) ([]LoginBucket, error) {
	series, err := s.analytics(ctx, loginKind, tenant, iv, from, to, countsOnly)
	if err != nil {
		return nil, err
	}
	out := make([]LoginBucket, len(series))
	for i, b := range series {
		n := b.counts
		out[i] = LoginBucket{Start: b.start, Success: n[0], Failed: n[1], Blocked: n[2], TwoFARequired: n[3],
			TwoFAFailed: n[4], UniqueUsers: n[5], UniqueIPs: n[6]}
	}
	return out, nil
}

// TokenAnalytics is LoginAnalytics for token events.
func (s *Store) TokenAnalytics(ctx context.Context, tenant string, iv Interval, from, to time.Time) ([]TokenBucket, error) {
	return s.tokenAnalytics(ctx, tenant, iv, from, to, false)
}

// tokenAnalytics is TokenAnalytics; with countsOnly the buckets read live
// carry the counts per action alone (UniqueTokens, TestUses and LiveUses
// are zero).
func (s *Store) tokenAnalytics(ctx context.Context, tenant string, iv Interval, from, to time.Time, countsOnly bool) ([]TokenBucket, error) {
	series, err := s.analytics(ctx, tokenKind, tenant, iv, from, to, countsOnly)
	if err != nil {
		return nil, err
	}
	out := make([]TokenBucket, len(series))
	for i, b := range series {
		n := b.counts
		out[i] = TokenBucket{Start: b.start, Authenticated: n[0], Failed: n[1], Expired: n[2], IPBlocked: n[3],
			DomainBlocked: n[4], RateLimited: n[5], Created: n[6], Rotated: n[7], Revoked: n[8],
			UniqueTokens: n[9], TestUses: n[10], LiveUses: n[11]}
	}
	return out, nil
}

type bucketCounts struct {
	start  time.Time
	counts []uint64 // in the order of rollupKind.measures
}

// analytics reads [from, mark) from the rollup and [mark, to) live, in
// parallel, where mark is how far the rollup is complete; a bucket is read
// whole from one side or the other, so per-bucket distinct counts stay exact.
func (s *Store) analytics(ctx context.Context, k *rollupKind, tenant string, iv Interval, from, to time.Time, countsOnly bool) ([]bucketCounts, error) {
	if !iv.valid() {
		return nil, fmt.Errorf("analytics: unknown interval %q", iv)
	}
	if !iv.Truncate(from).Equal(from) || !iv.Truncate(to).Equal(to) || !from.Before(to) {
		return nil, fmt.Errorf("analytics: range %s – %s is not whole %ss", from, to, iv)
	}
	if n := to.Sub(from) / iv.Step(); n > maxBuckets {
		return nil, fmt.Errorf("analytics: %d buckets, at most %d", n, maxBuckets)
	}
	st, err := s.cachedRollupState(ctx, k.name)
	if err != nil {
		return nil, err
	}
	split := splitAtMark(from, to, st.mark(iv))

	type part struct {
		rows map[int64][]uint64
		err  error
	}
	var rolled chan part
	if split.After(from) {
		rolled = make(chan part, 1)
		go func() {
			rows, err := s.rolledRows(ctx, k, iv, tenant, from, split, st.version)
			rolled <- part{rows, err}
		}()
	}
	var live map[int64][]uint64
	if to.After(split) {
		live, err = s.liveRows(ctx, k, iv, tenant, split, to, countsOnly)
		if err != nil {
			if rolled != nil {
				<-rolled
			}
			return nil, fmt.Errorf("analytics %s live: %w", k.name, err)
		}
	}
	var closed map[int64][]uint64
	if rolled != nil {
		p := <-rolled
		if p.err != nil {
			return nil, fmt.Errorf("analytics %s rollup: %w", k.name, p.err)
		}
		closed = p.rows
	}
	// The two sides hold different buckets: each is looked up where it
	// is, rather than copied into one map (a 90-day hourly timeline is
	// 2,160 buckets on every request).
	return fillBuckets(iv, from, to, len(k.measures), closed, live), nil
}

// smallLiveRange is the widest live part read single-threaded like a point
// query; wider ones (the job has not run) get every core.
const smallLiveRange = 48 * time.Hour

// splitAtMark is where a range divides into its rolled-up part [from, split)
// and its live part [split, to): the rollup's mark, clamped into the range.
func splitAtMark(from, to, mark time.Time) time.Time {
	switch {
	case mark.Before(from):
		return from
	case mark.After(to):
		return to
	}
	return mark
}

// fillBuckets lays found counts (keyed by bucket start, unix seconds; the
// first of the parts that holds a bucket wins) on every bucket of [from,
// to), zeros where nothing was found. Buckets without counts share one
// slice of zeros: callers only read them.
func fillBuckets(iv Interval, from, to time.Time, width int, parts ...map[int64][]uint64) []bucketCounts {
	starts := iv.Buckets(from, to)
	out := make([]bucketCounts, len(starts))
	zeros := make([]uint64, width)
	for i, t := range starts {
		out[i] = bucketCounts{start: t, counts: zeros}
		for _, found := range parts {
			if c, ok := found[t.Unix()]; ok {
				out[i].counts = c
				break
			}
		}
	}
	return out
}

// valueRows runs countsSQL over one tenant's [from, to) and returns its
// counts as bucketRows does: a row per bucket, a column per measure, the
// per-value measures filled in and the others zero.
func (s *Store) valueRows(ctx context.Context, k *rollupKind, iv Interval, tenant string, from, to time.Time) (map[int64][]uint64, error) {
	out := make(map[int64][]uint64)
	err := s.eachRow(ctx, func(r driver.Rows) error {
		var b uint32
		var v string
		var n uint64
		if err := r.Scan(&b, &v, &n); err != nil {
			return err
		}
		i := slices.IndexFunc(k.measures, func(m measure) bool { return m.value != "" && m.value == v })
		if i < 0 {
			return nil // a value no measure counts
		}
		counts := out[int64(b)]
		if counts == nil {
			counts = make([]uint64, len(k.measures))
			out[int64(b)] = counts
		}
		counts[i] = n
		return nil
	}, k.countsSQL(iv), tenant, from.Unix(), to.Unix())
	return out, err
}

// bucketRows runs a query whose rows are (bucket start UInt32, one UInt64
// per measure) over one tenant's [from, to).
func (s *Store) bucketRows(ctx context.Context, k *rollupKind, query, tenant string, from, to time.Time) (map[int64][]uint64, error) {
	out := make(map[int64][]uint64)
	err := s.eachRow(ctx, func(r driver.Rows) error {
		var b uint32
		n := make([]uint64, len(k.measures))
		dest := make([]any, 0, len(n)+1)
		dest = append(dest, &b)
		for i := range n {
			dest = append(dest, &n[i])
		}
		if err := r.Scan(dest...); err != nil {
			return err
		}
		out[int64(b)] = n
		return nil
	}, query, tenant, from.Unix(), to.Unix())
	return out, err
}
