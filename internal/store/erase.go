package store

import (
	"context"
	"fmt"
	"time"
)

// Erased says what EraseUser removed: the span of the user's events (the
// rollup buckets to compute again) and, per table, how many rows it held.
type Erased struct {
	From, To time.Time // [From, To] of the user's login and token events; zero when none
	Rows     map[string]uint64
}

// userTables hold a user's rows: raw events and their by-time copies,
// alerts and the index that flags logins, profiles, the token ↔ user map.
var userTables = []string{
	"login_events", "login_events_by_time", "token_events", "token_events_by_time",
	"alerts", "alerts_by_event", "users", "token_users",
}

// EraseUser deletes every row of one user of a tenant (a privacy request)
// and waits until ClickHouse has applied the deletions. Deleting is a
// mutation: ClickHouse rewrites the parts holding the rows in the
// background, which is why this waits (up to wait) and why callers run it
// in the background. The rollups count events, not users; the caller
// computes the buckets of Erased.From–To again so the counts drop too.
func (s *Store) EraseUser(ctx context.Context, tenant, user string, wait time.Duration) (Erased, error) {
	out := Erased{Rows: map[string]uint64{}}
	var loFrom, loTo, tkFrom, tkTo time.Time
	var nLogins, nTokens uint64
	if err := s.conn.QueryRow(ctx, `SELECT count(), min(occurred_at), max(occurred_at) FROM login_events WHERE tenant_id = ? AND user_id = ?`,
		tenant, user).Scan(&nLogins, &loFrom, &loTo); err != nil {
		return out, fmt.Errorf("erase: span of logins: %w", err)
	}
	if err := s.conn.QueryRow(ctx, `SELECT count(), min(occurred_at), max(occurred_at) FROM token_events_by_time WHERE tenant_id = ? AND user_id = ?`,
		tenant, user).Scan(&nTokens, &tkFrom, &tkTo); err != nil {
		return out, fmt.Errorf("erase: span of token events: %w", err)
	}
	switch {
	case nLogins > 0 && nTokens > 0:
		out.From, out.To = earlier(loFrom, tkFrom), later(loTo, tkTo)
	case nLogins > 0:
		out.From, out.To = loFrom, loTo
	case nTokens > 0:
		out.From, out.To = tkFrom, tkTo
	}
	for _, t := range userTables {
		var n uint64
		if err := s.conn.QueryRow(ctx, "SELECT count() FROM "+t+" WHERE tenant_id = ? AND user_id = ?", tenant, user).Scan(&n); err != nil {
			return out, fmt.Errorf("erase: count %s: %w", t, err)
		}
		out.Rows[t] = n
		if n == 0 {
			continue
		}
		if err := s.conn.Exec(ctx, "ALTER TABLE "+t+" DELETE WHERE tenant_id = ? AND user_id = ?", tenant, user); err != nil {
			return out, fmt.Errorf("erase: %s: %w", t, err)
		}
	}
	deadline := time.Now().Add(wait)
	for {
		var pending uint64
		if err := s.conn.QueryRow(ctx, "SELECT count() FROM system.mutations WHERE database = ? AND is_done = 0", s.db).Scan(&pending); err != nil {
			return out, fmt.Errorf("erase: mutations: %w", err)
		}
		if pending == 0 {
			return out, nil
		}
		if time.Now().After(deadline) {
			return out, fmt.Errorf("erase: %d deletions still running after %s", pending, wait)
		}
		select {
		case <-ctx.Done():
			return out, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
