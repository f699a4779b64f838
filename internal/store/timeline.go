package store

import (
	"context"
	"time"
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
	unixAt := func(key countKey, q string) (time.Time, error) {
		u, err := s.cache.cachedCount(ctx, key, false,
			func(ctx context.Context) (uint64, error) {
				var t time.Time
				err := s.conn.QueryRow(pointQuery(ctx), q, f.TenantID).Scan(&t)
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
	// The rollup keeps hours longer than the raw rows are kept: counts of
	// hours whose rows retention dropped would shift every page.
	// Reading it scans the tenant's times (60 ms for 4M rows), and it moves
	// only when retention drops a month: it is kept ten minutes, whatever
	// the rollup does.
	firstRaw, err := unixAt(countKey{what: "first stored login", tenant: f.TenantID, before: time.Now().Unix() / 600},
		"SELECT min(occurred_at) FROM login_events_by_time WHERE tenant_id = ?")
	if err != nil || firstRaw.IsZero() {
		return nil, 0, false, err
	}
	if from.IsZero() {
		first, err := unixAt(countKey{kind: loginKind.name, what: "first rolled-up day", tenant: f.TenantID, version: st.version},
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
	buckets, err := s.LoginAnalytics(ctx, f.TenantID, Hourly, from, to)
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
	return hours, older, true, nil
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

// tenantLogins serves a tenant-wide list (no user, not flagged-only) from
// the timeline: the total is its sum and the page is read from the hours
// that hold it. ok is false when the timeline cannot answer.
func (s *Store) tenantLogins(ctx context.Context, f LoginFilter, offset, limit int) (out []Login, total uint64, ok bool, err error) {
	hours, older, ok, err := s.tenantTimeline(ctx, f)
	if err != nil || !ok {
		return nil, 0, false, err
	}
	total = older
	for _, h := range hours {
		total += h.n
	}
	if total == 0 || offset >= int(total) {
		return nil, total, true, nil
	}
	if total <= directReadMax {
		out, err = s.windowRows(ctx, f, offset, limit)
		return out, total, true, err
	}
	lo, hi, skip, toStart, found := seekPage(hours, uint64(offset), uint64(limit))
	wf := f
	if !found {
		// The page is among the rows older than the counted range.
		wf.To = hours[len(hours)-1].start
		skip = uint64(offset) - (total - older)
	} else {
		wf.From, wf.To = lo, hi
		if toStart {
			wf.From = f.From
		}
	}
	if found && !toStart && spanRows(hours, lo, hi) <= fullRowsMax {
		// A span of a few thousand rows (a first page: the newest hour or
		// so) is read whole: one statement instead of keys, then rows.
		out, err = s.windowRows(ctx, wf, int(skip), limit)
		if err != nil || (len(out) < limit && uint64(offset+limit) <= total) {
			return nil, 0, false, err // short: as below, the counts promised more
		}
		return out, total, true, nil
	}
	where, args := wf.where()
	keys, err := s.rowKeys(ctx, "SELECT id, occurred_at FROM "+f.table()+" WHERE "+where+pageOrderSQL, append(args, skip, limit)...)
	if err != nil {
		return nil, 0, false, err
	}
	if len(keys) < limit && uint64(offset+limit) <= total {
		// The counts promised a full page and the rows do not hold it (a
		// late event not swept into its hour yet, rows dropped meanwhile):
		// the caller falls back to reading the rows alone.
		return nil, 0, false, nil
	}
	out, err = s.loginsByID(ctx, f.TenantID, "", keys)
	return out, total, true, err
}
