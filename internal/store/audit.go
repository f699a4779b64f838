package store

import (
	"context"
	"fmt"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// AuditEntry is one administrative action taken through the API.
type AuditEntry struct {
	TenantID string
	At       time.Time
	Actor    string // the token's sub
	Action   string // e.g. "lockout_delete"
	Target   string // what was acted on, e.g. an IP
	Detail   string // free text or JSON; "" when there is nothing to add
}

const insertAudit = `INSERT INTO audit_log (tenant_id, at, actor, action, target, detail)`

// InsertAudit records one action. Actions are rare (a person clicking), so
// one small insert each is fine.
func (s *Store) InsertAudit(ctx context.Context, e AuditEntry) error {
	cols := []any{[]string{e.TenantID}, []time.Time{e.At.UTC().Truncate(time.Second)}, []string{e.Actor},
		[]string{e.Action}, []string{e.Target}, []string{e.Detail}}
	if err := s.insertColumns(ctx, insertAudit, cols); err != nil {
		return fmt.Errorf("insert audit_log: %w", err)
	}
	return nil
}

// AuditLog returns a tenant's recorded actions, newest first.
func (s *Store) AuditLog(ctx context.Context, tenant string) ([]AuditEntry, error) {
	return queryRows(ctx, s, func(r driver.Rows) (e AuditEntry, err error) {
		return e, r.Scan(&e.TenantID, &e.At, &e.Actor, &e.Action, &e.Target, &e.Detail)
	}, `SELECT tenant_id, at, actor, action, target, detail FROM audit_log WHERE tenant_id = ? ORDER BY at DESC`, tenant)
}
