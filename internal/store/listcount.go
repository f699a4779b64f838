package store

import (
	"context"
	"fmt"
	"time"
)

// A list's total (each event once) and its oldest and newest rows come from
// one count over the list's range, on every page. For a heavy user or a
// busy token that count reads tens of thousands of rows. The part of the
// range before the rollup's hourly mark (closed hours) changes only when an
// event arrives late into it or an erasure deletes rows, and the job's next
// run, or the erasure's recompute, writes a new rollup state version. So
// that part is counted once per version and kept; a request counts the rows
// from the mark on and asks late_arrivals in the same statement
// (countsMiss, as the tenant lists do) whether an event arrived late into
// the closed hours since the job last swept them; if one did, it counts
// everything again. The total stays exact on every request. A closed part
// of fewer than keptListMin rows is counted again with the rest: one
// statement costs no more than two then.

// listSpan is how many events a list holds (each id once) and when the
// oldest and the newest of them happened (zero when it holds none).
type listSpan struct {
	n              uint64
	oldest, newest time.Time
}

// plus joins the spans of two disjoint ranges.
func (a listSpan) plus(b listSpan) listSpan {
	switch {
	case a.n == 0:
		return b
	case b.n == 0:
		return a
	}
	return listSpan{n: a.n + b.n, oldest: earlier(a.oldest, b.oldest), newest: later(a.newest, b.newest)}
}

// listRange is a list of one tenant's events of kind k in table, matching
// where over [from, to) (zero: unbounded); where must select rows by stored
// fields alone, as the rollup counts them.
type listRange struct {
	kind     *rollupKind
	table    string
	tenant   string
	where    func(from, to time.Time) (string, []any)
	from, to time.Time
}

// keptListMin is the smallest closed part worth keeping: below it one count
// of the whole range costs no more than a count of the open part with the
// late-arrivals check (1.1 against 1.4 ms for a user's 100 logins).
var keptListMin uint64 = 1024 // a variable so the tests can set it

// countList counts r's events, keeping the closed part as described above.
func (s *Store) countList(ctx context.Context, r listRange) (listSpan, error) {
	st, err := s.cachedRollupState(ctx, r.kind.name)
	if err != nil {
		return listSpan{}, err
	}
	mark := st.hours
	if mark.IsZero() || !r.from.Before(mark) { // the job has not run, or nothing of r is closed
		return s.readListSpan(ctx, r, r.from, r.to)
	}
	closedTo := mark
	if !r.to.IsZero() && r.to.Before(mark) {
		closedTo = r.to
	}
	where, args := r.where(r.from, closedTo)
	key := spanKey{kind: r.kind.name, query: fmt.Sprintf("%s\x00%s\x00%v", r.table, where, args), version: st.version}
	c := s.cache
	c.mu.Lock()
	closed, ok := c.spans[key]
	c.mu.Unlock()
	if !ok {
		return s.readSplitList(ctx, r, key, closedTo)
	}
	if closed.n < keptListMin {
		return s.readListSpan(ctx, r, r.from, r.to)
	}
	// The open part and, in the same statement, whether an event arrived
	// late into the closed hours: then those are counted again.
	miss, missArgs := countsMiss(r.kind, st, r.tenant, r.from, closedTo, false)
	where, args = r.where(mark, r.to)
	var open listSpan
	var missing uint64
	if err := s.conn.QueryRow(pointQuery(ctx), "SELECT uniqExact(id), min(occurred_at), max(occurred_at), "+miss+" FROM "+r.table+" WHERE "+where,
		append(missArgs, args...)...).Scan(&open.n, &open.oldest, &open.newest, &missing); err != nil {
		return listSpan{}, err
	}
	if missing > 0 {
		return s.readListSpan(ctx, r, r.from, r.to)
	}
	return closed.plus(open.orZero()), nil
}

// readListSpan counts r's events in [from, to) live.
func (s *Store) readListSpan(ctx context.Context, r listRange, from, to time.Time) (listSpan, error) {
	where, args := r.where(from, to)
	var sp listSpan
	err := s.conn.QueryRow(pointQuery(ctx), "SELECT uniqExact(id), min(occurred_at), max(occurred_at) FROM "+r.table+" WHERE "+where,
		args...).Scan(&sp.n, &sp.oldest, &sp.newest)
	return sp.orZero(), err
}

// readSplitList counts r's events in one statement, split at closedTo, and
// keeps the part before it under key. Identical reads in flight share it.
func (s *Store) readSplitList(ctx context.Context, r listRange, key spanKey, closedTo time.Time) (listSpan, error) {
	c := s.cache
	v, err := c.share(ctx, "span\x00"+fmt.Sprint(key), func(ctx context.Context) (any, error) {
		where, args := r.where(r.from, r.to)
		var closed, open listSpan
		cut := closedTo.Unix()
		err := s.conn.QueryRow(pointQuery(ctx), `SELECT
			uniqExactIf(id, occurred_at < toDateTime(?)), minIf(occurred_at, occurred_at < toDateTime(?)), maxIf(occurred_at, occurred_at < toDateTime(?)),
			uniqExactIf(id, occurred_at >= toDateTime(?)), minIf(occurred_at, occurred_at >= toDateTime(?)), maxIf(occurred_at, occurred_at >= toDateTime(?))
			FROM `+r.table+` WHERE `+where, append([]any{cut, cut, cut, cut, cut, cut}, args...)...).
			Scan(&closed.n, &closed.oldest, &closed.newest, &open.n, &open.oldest, &open.newest)
		if err != nil {
			return nil, err
		}
		closed = closed.orZero()
		hold(c, func() map[spanKey]listSpan { return c.spans }, key, closed, oneWeight[listSpan])
		return closed.plus(open.orZero()), nil
	})
	if err != nil {
		return listSpan{}, err
	}
	return v.(listSpan), nil
}

// orZero clears the times of an empty span: ClickHouse gives the epoch.
func (a listSpan) orZero() listSpan {
	if a.n == 0 {
		return listSpan{}
	}
	return a
}
