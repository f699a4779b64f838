package store

import (
	"context"
	"strings"
	"time"

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
	rows, err := s.conn.Query(pointQuery(ctx), q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}
