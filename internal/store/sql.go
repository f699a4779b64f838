package store

import (
	"context"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// conds builds a WHERE clause from conditions joined by AND, with every
// value bound as a parameter, never spliced into the SQL.
type conds struct {
	b    strings.Builder
	args []any
}

// and adds one condition with the values of its placeholders.
func (c *conds) and(cond string, args ...any) {
	if c.b.Len() > 0 {
		c.b.WriteString(" AND ")
	}
	c.b.WriteString(cond)
	c.args = append(c.args, args...)
}

// span adds occurred_at >= from and < to, each only when set.
func (c *conds) span(from, to time.Time) {
	if !from.IsZero() {
		c.and("occurred_at >= toDateTime(?)", from.Unix())
	}
	if !to.IsZero() {
		c.and("occurred_at < toDateTime(?)", to.Unix())
	}
}

func (c *conds) sql() (string, []any) { return c.b.String(), c.args }

// queryRows runs a point query and scans each row with scan.
func queryRows[T any](ctx context.Context, s *Store, scan func(driver.Rows) (T, error), q string, args ...any) ([]T, error) {
	var out []T
	err := s.eachRow(pointQuery(ctx), func(r driver.Rows) error {
		v, err := scan(r)
		out = append(out, v)
		return err
	}, q, args...)
	if err != nil {
		return nil, err
	}
	return out, nil
}

// eachRow runs q with ctx as it is (its settings included) and calls scan
// on every row until one fails.
// eachRowCounted is eachRow for a query with a LIMIT that also returns how
// many rows the server had before the LIMIT (ok false when it did not
// say). For a GROUP BY those are its groups, exactly (on 18.16 and on
// current releases), so a page of groups comes with the count of all of
// them and needs no count statement of its own.
func (s *Store) eachRowCounted(ctx context.Context, scan func(driver.Rows) error, q string, args ...any) (before uint64, ok bool, err error) {
	ctx = clickhouse.Context(ctx, clickhouse.WithProfileInfo(func(p *clickhouse.ProfileInfo) {
		if p.AppliedLimit {
			before, ok = p.RowsBeforeLimit, true
		}
	}))
	err = s.eachRow(ctx, scan, q, args...)
	return before, ok && err == nil, err
}

func (s *Store) eachRow(ctx context.Context, scan func(driver.Rows) error, q string, args ...any) error {
	rows, err := s.conn.Query(ctx, q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := scan(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}
