package store

import (
	"context"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// AlertFilter selects stored alerts of one tenant.
type AlertFilter struct {
	TenantID string
	Rule     string    // "" = every rule
	UserID   string    // "" = every user
	From, To time.Time // on occurred_at, [From, To); zero = unbounded
}

func (f AlertFilter) where() (string, []any) {
	var c conds
	c.and("tenant_id = ?", f.TenantID)
	if f.Rule != "" {
		c.and("rule = ?", f.Rule)
	}
	if f.UserID != "" {
		c.and("user_id = ?", f.UserID)
	}
	c.span(f.From, f.To)
	return c.sql()
}

// Alerts returns one page of matching alerts as the JSON the detector
// published, newest first by occurred_at, each id once (a redelivered alert
// is written again with the same id), and how many alerts match in all. now
// places the first window of the page search when f.To does not.
func (s *Store) Alerts(ctx context.Context, f AlertFilter, offset, limit int, now time.Time) ([]string, uint64, error) {
	where, args := f.where()
	var total uint64
	if err := s.conn.QueryRow(pointQuery(ctx), "SELECT uniqExact(id) FROM alerts WHERE "+where, args...).Scan(&total); err != nil {
		return nil, 0, err
	}
	if total == 0 || offset >= int(total) {
		return nil, total, nil
	}
	if total <= directReadMax {
		page, err := s.alertPage(ctx, f, offset, limit)
		return page, total, err
	}
	// As for logins: 18.16 sorts every matching row before LIMIT, so look
	// for the page in a recent window first and widen it until it holds it.
	page, err := searchPage(windowStarts(f.From, f.To, now), limit, wholeReads(func(lo time.Time) ([]string, error) {
		wf := f
		wf.From = lo
		return s.alertPage(ctx, wf, offset, limit)
	}))
	return page, total, err
}

func (s *Store) alertPage(ctx context.Context, f AlertFilter, offset, limit int) ([]string, error) {
	where, args := f.where()
	return queryRows(ctx, s, func(r driver.Rows) (doc string, err error) {
		return doc, r.Scan(&doc)
	}, "SELECT alert FROM alerts WHERE "+where+pageOrderSQL, append(args, offset, limit)...)
}
