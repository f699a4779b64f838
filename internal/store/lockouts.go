package store

import (
	"context"
	"time"
)

// LoginFailuresFromIP counts the login failures (failed, 2fa_failed) from
// ip in a tenant with occurred_at at or after since, each event once. ip is
// compared as stored, which is its canonical form (event.Decode).
func (s *Store) LoginFailuresFromIP(ctx context.Context, tenant, ip string, since time.Time) (uint64, error) {
	var n uint64
	err := s.conn.QueryRow(pointQuery(ctx), `SELECT uniqExact(id) FROM login_events_by_time
		WHERE tenant_id = ? AND occurred_at >= toDateTime(?) AND ip_address = ? AND status IN ('failed', '2fa_failed')`,
		tenant, since.Unix(), ip).Scan(&n)
	return n, err
}
