package store

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// A tenant's newest-first history page at depth: ClickHouse 18.16 sorts
// every matching row before LIMIT, so page 2,000 of a tenant with millions
// of logins would sort hundreds of thousands of rows. The hourly rollup
// already holds the exact number of the tenant's logins per hour and status
// (the same numbers /analytics/logins serves), so the page's rows are
// located by walking those counts newest first, and only the hour or two
// that hold them are read. The same counts give the list's total.

// hourCount is how many of a tenant's matching logins fall in one hour (n),
// and how many of any status (all: the rows a read of the hour scans).
type hourCount struct {
	start time.Time
	n     uint64
	all   uint64
}

// tenantTimeline returns, newest first, the exact count of a tenant's
// logins matching f (a status or none) in every hour of f's range, and how
// many match before that range when f has no lower bound (rows older than
// the tenant's first rolled-up day). ok is false when the rollup cannot
// answer: it has never run for the tenant, or the range is longer than an
// analytics read.
func (s *Store) tenantTimeline(ctx context.Context, f LoginFilter) (hours []hourCount, older uint64, ok bool, err error) {
	from, to := f.From, f.To
	st, err := s.cachedRollupState(ctx, loginKind.name)
	if err != nil {
		return nil, 0, false, err
	}
	firstRaw, err := s.firstStored(ctx, loginKind, f.TenantID)
	if err != nil || firstRaw.IsZero() {
		return nil, 0, false, err
	}
	if from.IsZero() {
		first, err := s.cachedTime(ctx, countKey{kind: loginKind.name, what: "first rolled-up day", tenant: f.TenantID, version: st.version},
			"SELECT min(bucket) FROM login_rollup_daily WHERE tenant_id = ?")
		if err != nil || first.IsZero() {
			return nil, 0, false, err
		}
		from = first
	}
	if h := Hourly.Truncate(firstRaw); h.After(from) {
		from = h
	}
	if to.IsZero() {
		to = Daily.Truncate(time.Now()).AddDate(0, 0, 2) // events stamped a little ahead count too
	}
	from, to = Hourly.Truncate(from), roundUp(Hourly, to)
	if !to.After(from) || to.Sub(from) > maxBuckets*time.Hour {
		return nil, 0, false, nil
	}
	buckets, err := s.loginAnalytics(ctx, f.TenantID, Hourly, from, to, true)
	if err != nil {
		return nil, 0, false, err
	}
	hours = make([]hourCount, len(buckets))
	for i, b := range buckets {
		hours[len(buckets)-1-i] = hourCount{start: b.Start, n: b.Count(f.Status), all: b.Count("")}
	}
	if f.From.IsZero() && firstRaw.Before(from) {
		// Rows older than the counted hours: the range starts at the first
		// rolled-up day and these rows were stored after the job began.
		// (With a lower bound, from is that bound or the first row's hour,
		// and nothing of the list lies before it.)
		older, err = s.cache.cachedCount(ctx, countKey{kind: loginKind.name, what: "older than the counted hours", tenant: f.TenantID,
			status: f.Status, before: from.Unix(), version: st.version}, true, func(ctx context.Context) (uint64, error) {
			var n uint64
			err := s.conn.QueryRow(pointQuery(ctx), "SELECT uniqExact(id) FROM login_events_by_time WHERE tenant_id = ? AND occurred_at < toDateTime(?)"+
				statusCond(f.Status), append([]any{f.TenantID, from.Unix()}, statusArg(f.Status)...)...).Scan(&n)
			return n, err
		})
		if err != nil {
			return nil, 0, false, err
		}
	}
	if missing, err := s.countsMissing(ctx, loginKind, st, f.TenantID, f.From, to, f.To.IsZero()); err != nil || missing {
		return nil, 0, false, err
	}
	return hours, older, true, nil
}

// cachedTime reads a time of key.tenant through the read cache (zero when
// there is none): q selects it, with the tenant as its one argument.
func (s *Store) cachedTime(ctx context.Context, key countKey, q string) (time.Time, error) {
	u, err := s.cache.cachedCount(ctx, key, false, func(ctx context.Context) (uint64, error) {
		var t time.Time
		err := s.conn.QueryRow(pointQuery(ctx), q, key.tenant).Scan(&t)
		if t.Unix() <= 0 {
			return 0, err
		}
		return uint64(t.Unix()), err
	})
	if err != nil || u == 0 {
		return time.Time{}, err
	}
	return time.Unix(int64(u), 0).UTC(), nil
}

// firstStored is when a tenant's oldest stored event of kind k happened
// (zero when none). The rollup keeps hours longer than the raw rows are
// kept, and counts of hours whose rows retention dropped would shift every
// page, so timelines start no earlier. Reading it scans the tenant's times
// (60 ms for 4M rows), and it moves only when retention drops a month: it
// is kept ten minutes, whatever the rollup does.
func (s *Store) firstStored(ctx context.Context, k *rollupKind, tenant string) (time.Time, error) {
	return s.cachedTime(ctx, countKey{what: "first stored " + k.name, tenant: tenant, before: time.Now().Unix() / 600},
		"SELECT min(occurred_at) FROM "+k.raw+" WHERE tenant_id = ?")
}

// tokenTimeline is tenantTimeline for a tenant's token events matching f
// (some actions, or all), as /security/failures lists them: the exact count
// in every whole hour of f's range, newest first, and how many match in the
// part hour before them (older), since f.From ("the last 24 hours") is
// rarely on the hour; that part is counted by partHour. ok is false for a token's
// own list (one token is a narrow range of token_events already) and for a
// range without a start or not ending on the hour.
func (s *Store) tokenTimeline(ctx context.Context, f TokenEventFilter) (hours []hourCount, older uint64, ok bool, err error) {
	if f.TokenID != "" || f.From.IsZero() || !f.To.IsZero() && !Hourly.Truncate(f.To).Equal(f.To) {
		return nil, 0, false, nil
	}
	firstRaw, err := s.firstStored(ctx, tokenKind, f.TenantID)
	if err != nil || firstRaw.IsZero() {
		return nil, 0, false, err
	}
	from, to := roundUp(Hourly, f.From), f.To
	if h := Hourly.Truncate(firstRaw); h.After(from) {
		from = h
	}
	if to.IsZero() {
		to = Daily.Truncate(time.Now()).AddDate(0, 0, 2) // events stamped a little ahead count too
	}
	if !to.After(from) || to.Sub(from) > maxBuckets*time.Hour {
		return nil, 0, false, nil
	}
	buckets, err := s.tokenAnalytics(ctx, f.TenantID, Hourly, from, to, true)
	if err != nil {
		return nil, 0, false, err
	}
	hours = make([]hourCount, len(buckets))
	for i, b := range buckets {
		hours[len(buckets)-1-i] = hourCount{start: b.Start, n: b.Count(f.Events), all: b.Count(nil)}
	}
	st, err := s.cachedRollupState(ctx, tokenKind.name)
	if err != nil {
		return nil, 0, false, err
	}
	if missing, err := s.countsMissing(ctx, tokenKind, st, f.TenantID, f.From, to, f.To.IsZero()); err != nil || missing {
		return nil, 0, false, err
	}
	older, err = s.partHour(ctx, f, st, from)
	if err != nil {
		return nil, 0, false, err
	}
	return hours, older, true, nil
}

// partHour counts f's events in [f.From, from), the part hour before the
// counted hours of a list such as "the last 24 hours". When that hour is
// closed (before the rollup's mark) the times of its events, each id once,
// are read once per state version and kept: a request counts those at or
// after f.From, a moment that moves every second. Those times change only
// with an event late into the hour, which the caller's countsMissing check
// catches, or an erasure, whose recompute writes a new version. Otherwise
// (an open hour; from moved past empty hours to the first stored event)
// they are counted live.
func (s *Store) partHour(ctx context.Context, f TokenEventFilter, st rollupState, from time.Time) (uint64, error) {
	if !f.From.Before(from) {
		return 0, nil
	}
	hour := Hourly.Truncate(f.From)
	if !hour.Add(time.Hour).Equal(from) || from.After(st.hours) {
		sp, err := s.readListSpan(ctx, listRange{table: f.table(), where: f.within}, f.From, from)
		return sp.n, err
	}
	where, args := f.within(hour, from)
	key := spanKey{kind: tokenKind.name, query: fmt.Sprintf("%s\x00%s\x00%v", f.table(), where, args), version: st.version}
	times, err := keptRead(ctx, s.cache, func() map[spanKey][]int64 { return s.cache.times }, key, "times", timesWeight,
		func(ctx context.Context) ([]int64, error) {
			var times []int64
			err := s.eachRow(pointQuery(ctx), func(r driver.Rows) error {
				var t uint32
				if err := r.Scan(&t); err != nil {
					return err
				}
				times = append(times, int64(t))
				return nil
			}, "SELECT toUInt32(max(occurred_at)) AS t FROM "+f.table()+" WHERE "+where+" GROUP BY id ORDER BY t", args...)
			return times, err
		})
	if err != nil {
		return 0, err
	}
	i, _ := slices.BinarySearch(times, f.From.Unix())
	return uint64(len(times) - i), nil
}

// countsMiss is a scalar subquery (with its arguments) that is not zero
// when a tenant's hourly counts of kind k may miss rows of [from, to) (from
// zero: no lower bound) that a list of those rows would show:
//
//   - when the list has no end (open), an event stamped at or after to (a
//     day or two past now: a gateway's clock far ahead), which no counted
//     hour holds;
//   - an event stored into an hour the job had already rolled up, which
//     the job counts on its next run: one stored at least Settle after its
//     hour closed (late_arrivals, 0009_late_arrivals.sql) and since the
//     last run's sweep less its margin. An ingest backlog after an outage
//     writes such rows, exactly when these lists matter.
//
// The list is then read without the counts. Both reads are narrow ranges
// of sort keys.
func countsMiss(k *rollupKind, st rollupState, tenant string, from, to time.Time, open bool) (string, []any) {
	q, args := "toUInt64(0)", []any(nil)
	if open {
		q, args = `(SELECT count() FROM `+k.raw+` WHERE tenant_id = ? AND occurred_at >= toDateTime(?))`, []any{tenant, to.Unix()}
	}
	if st.swept.IsZero() { // the job has not run: no hour is rolled up
		return q, args
	}
	q += ` + (SELECT count() FROM late_arrivals WHERE tenant_id = ? AND kind = ? AND ingested_at >= toDateTime(?)
		AND occurred_at >= toDateTime(?) AND occurred_at < toDateTime(?))`
	return q, append(args, tenant, k.name, st.swept.Add(-defaultSweepMargin).Unix(), max(from.Unix(), 0), st.hours.Unix())
}

// countsMissing runs countsMiss on its own: on every request, since a
// late event changes the counts without a new rollup version. Identical
// checks in flight at once share one statement, as live bucket reads do.
func (s *Store) countsMissing(ctx context.Context, k *rollupKind, st rollupState, tenant string, from, to time.Time, open bool) (bool, error) {
	miss, args := countsMiss(k, st, tenant, from, to, open)
	if len(args) == 0 { // nothing can be missing: no statement
		return false, nil
	}
	v, err := s.cache.share(ctx, fmt.Sprintf("miss\x00%s\x00%v", miss, args), func(ctx context.Context) (any, error) {
		var n uint64
		err := s.conn.QueryRow(pointQuery(ctx), "SELECT "+miss, args...).Scan(&n)
		return n > 0, err
	})
	if err != nil {
		return false, err
	}
	return v.(bool), nil
}

// seekPage finds where rows [offset, offset+limit) of a newest-first list
// lie, given its per-hour counts newest first: the span [lo, hi) to read
// and how many of the span's newest rows to skip. toStart says the page
// runs past the oldest hour (into rows before the counted range), so the
// span has no lower bound. ok is false when offset is past every counted
// row.
func seekPage(hours []hourCount, offset, limit uint64) (lo, hi time.Time, skip uint64, toStart, ok bool) {
	var before uint64
	i := 0
	for ; i < len(hours) && before+hours[i].n <= offset; i++ {
		before += hours[i].n
	}
	if i == len(hours) {
		return time.Time{}, time.Time{}, 0, false, false
	}
	hi = hours[i].start.Add(time.Hour)
	skip = offset - before
	var got uint64
	for j := i; j < len(hours); j++ {
		got += hours[j].n
		if got >= skip+limit {
			return hours[j].start, hi, skip, false, true
		}
	}
	return hours[len(hours)-1].start, hi, skip, true, true
}

// spanRows is how many rows of any status the hours in [lo, hi) hold.
func spanRows(hours []hourCount, lo, hi time.Time) uint64 {
	var n uint64
	for _, h := range hours {
		if !h.start.Before(lo) && h.start.Before(hi) {
			n += h.all
		}
	}
	return n
}

// spanReads are the reads of a tenant-wide list's rows in [from, to)
// (zero: unbounded), newest first, skipping the skip newest: whole rows,
// or their keys and then the rows of those keys.
type spanReads[T any] struct {
	rows func(from, to time.Time, skip uint64, limit int) ([]T, error)
	keys func(from, to time.Time, skip uint64, limit int) ([]rowKey, error)
	byID func(keys []rowKey) ([]T, error)
}

// timelinePage reads rows [offset, offset+limit) of a tenant-wide
// newest-first list of [from, to) from its per-hour counts (hours, newest
// first) and the number of rows older than the counted hours (older, in
// [from, oldest hour)); the total is their sum. Only the hours holding the
// page are read. ok is false when the rows do not hold what the counts
// promise (a late event not swept into its hour yet, rows dropped
// meanwhile): the caller then reads the list without the counts.
func timelinePage[T any](hours []hourCount, older uint64, from, to time.Time, offset, limit int, r spanReads[T]) (out []T, total uint64, ok bool, err error) {
	total = older
	for _, h := range hours {
		total += h.n
	}
	if total == 0 || offset >= int(total) {
		return nil, total, true, nil
	}
	if total <= directReadMax {
		out, err = r.rows(from, to, uint64(offset), limit)
		return out, total, err == nil, err
	}
	lo, hi, skip, toStart, found := seekPage(hours, uint64(offset), uint64(limit))
	switch {
	case !found: // the page is among the rows older than the counted hours
		lo, hi, skip = from, hours[len(hours)-1].start, uint64(offset)-(total-older)
	case toStart:
		lo = from
	}
	short := func(n int) bool { return n < limit && uint64(offset+limit) <= total }
	if found && !toStart && spanRows(hours, lo, hi) <= fullRowsMax {
		// A span of a few thousand rows (a first page: the newest hour or
		// so) is read whole: one statement instead of keys, then rows.
		out, err = r.rows(lo, hi, skip, limit)
		if err != nil || short(len(out)) {
			return nil, 0, false, err
		}
		return out, total, true, nil
	}
	keys, err := r.keys(lo, hi, skip, limit)
	if err != nil || short(len(keys)) {
		return nil, 0, false, err
	}
	out, err = r.byID(keys)
	return out, total, err == nil, err
}

// tenantLogins serves a tenant-wide list (no user, not flagged-only) from
// the timeline: the total is its sum and the page is read from the hours
// that hold it. ok is false when the timeline cannot answer.
func (s *Store) tenantLogins(ctx context.Context, f LoginFilter, offset, limit int) (out []Login, total uint64, ok bool, err error) {
	hours, older, ok, err := s.tenantTimeline(ctx, f)
	if err != nil || !ok {
		return nil, 0, false, err
	}
	span := func(lo, hi time.Time) LoginFilter {
		wf := f
		wf.From, wf.To = lo, hi
		return wf
	}
	return timelinePage(hours, older, f.From, f.To, offset, limit, spanReads[Login]{
		rows: func(lo, hi time.Time, skip uint64, limit int) ([]Login, error) {
			return s.windowRows(ctx, span(lo, hi), int(skip), limit)
		},
		keys: func(lo, hi time.Time, skip uint64, limit int) ([]rowKey, error) {
			where, args := span(lo, hi).where()
			return s.rowKeys(ctx, "SELECT id, occurred_at FROM "+f.table()+" WHERE "+where+pageOrderSQL, append(args, skip, limit)...)
		},
		byID: func(keys []rowKey) ([]Login, error) { return s.loginsByID(ctx, f.TenantID, "", keys) },
	})
}
