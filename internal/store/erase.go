package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Erased says what EraseUser removed: the span of the user's events (the
// rollup buckets to compute again) and, per table, how many rows it held.
type Erased struct {
	From, To time.Time // [From, To] of the user's login and token events; zero when none
	Rows     map[string]uint64
}

// userTables hold a user's rows: raw events and their by-time copies,
// alerts and the index that flags logins, profiles and their copy. The
// token ↔ user map (token_users) holds them too; EraseUser deletes it last.
var userTables = []string{
	"login_events", "login_events_by_time", "token_events", "token_events_by_time",
	"alerts", "alerts_by_event", "users", "user_profiles",
}

// EraseUser deletes every row of one user of a tenant (a privacy request)
// and waits until ClickHouse has applied the deletions. Deleting is a
// mutation: ClickHouse rewrites the parts holding the rows in the
// background, which is why this waits (up to wait) and why callers run it
// in the background. Token summaries (owner, name, type) of the tokens the
// user's events named are built again from the events left, and their
// per-token daily rows of the span (which list IPs) are deleted. The other
// rollups count events, not users; the caller computes the buckets of
// Erased.From–To again so the counts drop too (and the per-token rows come
// back from the events left). That span is recorded in
// audit_log (user_erase_span, by actor) before anything is deleted: an
// erasure asked again after one that deleted the rows but stopped before
// the rollups finds no events left, and gets the recorded span instead.
func (s *Store) EraseUser(ctx context.Context, tenant, user, actor string, wait time.Duration) (Erased, error) {
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
	if out.From.IsZero() {
		var err error
		if out.From, out.To, err = s.recordedEraseSpan(ctx, tenant, user); err != nil {
			return out, err
		}
	} else {
		span, _ := json.Marshal(eraseSpan{From: out.From, To: out.To})
		if err := s.InsertAudit(ctx, AuditEntry{TenantID: tenant, At: time.Now(), Actor: actor, Action: "user_erase_span",
			Target: user, Detail: string(span)}); err != nil {
			return out, fmt.Errorf("erase: record the span: %w", err)
		}
	}
	// The tokens whose events name the user: their summaries (owner, name,
	// type) are built again from the events that remain.
	tokens, err := queryRows(ctx, s, scanString, "SELECT DISTINCT token_id FROM token_users WHERE tenant_id = ? AND user_id = ?", tenant, user)
	if err != nil {
		return out, fmt.Errorf("erase: tokens of the user: %w", err)
	}
	deadline := time.Now().Add(wait)
	for _, t := range userTables {
		var n uint64
		if err := s.conn.QueryRow(ctx, "SELECT count() FROM "+t+" WHERE tenant_id = ? AND user_id = ?", tenant, user).Scan(&n); err != nil {
			return out, fmt.Errorf("erase: count %s: %w", t, err)
		}
		out.Rows[t] = n
		if n == 0 {
			continue
		}
		if err := s.conn.Exec(ctx, "ALTER TABLE "+inPlace(t, s.cluster)+" DELETE WHERE tenant_id = ? AND user_id = ?", tenant, user); err != nil {
			return out, fmt.Errorf("erase: %s: %w", t, err)
		}
	}
	if err := s.waitMutations(ctx, deadline); err != nil {
		return out, err
	}
	for rest := tokens; len(rest) > 0; {
		chunk := rest[:min(len(rest), 1000)]
		rest = rest[len(chunk):]
		n, err := s.rebuildTokenSummaries(ctx, tenant, user, chunk, deadline)
		if err != nil {
			return out, err
		}
		out.Rows["token_summary"] += n
		if !out.From.IsZero() {
			n, err := s.deleteTokenDays(ctx, tenant, chunk, out.From, out.To, deadline)
			if err != nil {
				return out, err
			}
			out.Rows[tokenDays.table] += n
		}
	}
	// The map goes last: until the summaries are rebuilt, a retry finds the
	// tokens in it.
	if len(tokens) > 0 {
		out.Rows["token_users"] = uint64(len(tokens))
		if err := s.conn.Exec(ctx, "ALTER TABLE "+inPlace("token_users", s.cluster)+" DELETE WHERE tenant_id = ? AND user_id = ?", tenant, user); err != nil {
			return out, fmt.Errorf("erase: token_users: %w", err)
		}
		if err := s.waitMutations(ctx, deadline); err != nil {
			return out, err
		}
	}
	return out, nil
}

// rebuildTokenSummaries replaces the token_summary rows of the given tokens
// with ones aggregated from their events as they are now, with the
// migration's own backfill statement (tokenSummaryRebuild), and returns how
// many summary rows it removed. The erased user's events are left out by
// name too, so a replica that has not applied the deletion yet (a cluster)
// cannot bring them back. An event of those tokens stored meanwhile may be
// aggregated twice: only use_rows, an upper bound by design (see topUses),
// can then be too high.
func (s *Store) rebuildTokenSummaries(ctx context.Context, tenant, user string, tokens []string, deadline time.Time) (uint64, error) {
	in := tokenInList(tokens)
	var n uint64
	if err := s.conn.QueryRow(ctx, "SELECT count() FROM token_summary WHERE tenant_id = ? AND token_id IN ?", tenant, in).Scan(&n); err != nil {
		return 0, fmt.Errorf("erase: count token_summary: %w", err)
	}
	if err := s.conn.Exec(ctx, "ALTER TABLE "+inPlace("token_summary", s.cluster)+" DELETE WHERE tenant_id = ? AND token_id IN ?", tenant, in); err != nil {
		return 0, fmt.Errorf("erase: token_summary: %w", err)
	}
	if err := s.waitMutations(ctx, deadline); err != nil {
		return 0, err
	}
	rebuild, err := tokenSummaryRebuild()
	if err != nil {
		return 0, err
	}
	err = s.conn.Exec(ctx, rebuild, tenant, in, user)
	if err != nil {
		return 0, fmt.Errorf("erase: rebuild token_summary: %w", err)
	}
	return n, nil
}

// waitMutations waits until every mutation of the database (on every shard
// of a cluster) is done, or the deadline passes.
func (s *Store) waitMutations(ctx context.Context, deadline time.Time) error {
	for {
		var pending uint64
		if err := s.conn.QueryRow(ctx, "SELECT count() FROM "+everyServer("mutations", s.cluster)+" WHERE database = ? AND is_done = 0", s.db).Scan(&pending); err != nil {
			return fmt.Errorf("erase: mutations: %w", err)
		}
		if pending == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("erase: %d deletions still running past the deadline", pending)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
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

// deleteTokenDays deletes the per-token daily rows of the given tokens of a
// tenant for the days of [from, to], and returns how many there were. They
// hold the erased user's IPs (use_ips): deleted, not only outnumbered by
// newer versions; the caller's Recompute of the span writes them again
// from the events left.
func (s *Store) deleteTokenDays(ctx context.Context, tenant string, tokens []string, from, to, deadline time.Time) (uint64, error) {
	const where = " WHERE tenant_id = ? AND token_id IN ? AND bucket >= toDateTime(?) AND bucket <= toDateTime(?)"
	args := []any{tenant, tokenInList(tokens), Daily.Truncate(from).Unix(), to.Unix()}
	var n uint64
	if err := s.conn.QueryRow(ctx, "SELECT count() FROM "+tokenDays.table+where, args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("erase: count %s: %w", tokenDays.table, err)
	}
	if err := s.conn.Exec(ctx, "ALTER TABLE "+inPlace(tokenDays.table, s.cluster)+" DELETE"+where, args...); err != nil {
		return 0, fmt.Errorf("erase: %s: %w", tokenDays.table, err)
	}
	return n, s.waitMutations(ctx, deadline)
}

// tokenSummaryRebuild is the backfill statement of 0003_tokens.sql (the
// expressions of token_summary_mv) narrowed to some tokens of one tenant:
// its placeholders are the tenant, the token list and a user whose events
// are left out. The SQL stays in the migration, in one place.
func tokenSummaryRebuild() (string, error) {
	migs, err := Migrations()
	if err != nil {
		return "", err
	}
	const from = "\nFROM token_events\n"
	for _, m := range migs {
		for _, stmt := range m.Statements {
			if strings.HasPrefix(stmt, "INSERT INTO token_summary ") && strings.Count(stmt, from) == 1 {
				return strings.Replace(stmt, from, "\nFROM token_events WHERE tenant_id = ? AND token_id IN ? AND user_id != ?\n", 1), nil
			}
		}
	}
	return "", errors.New("erase: the migrations hold no token_summary backfill to rebuild summaries with")
}

// eraseSpan is the detail of a user_erase_span audit row.
type eraseSpan struct {
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
}

// recordedEraseSpan is the span the latest erasure of the user recorded;
// zero when none did.
func (s *Store) recordedEraseSpan(ctx context.Context, tenant, user string) (from, to time.Time, err error) {
	details, err := queryRows(ctx, s, scanString, `SELECT detail FROM audit_log
		WHERE tenant_id = ? AND action = 'user_erase_span' AND target = ? ORDER BY at DESC LIMIT 1`, tenant, user)
	if err != nil || len(details) == 0 {
		return time.Time{}, time.Time{}, err
	}
	var sp eraseSpan
	if err := json.Unmarshal([]byte(details[0]), &sp); err != nil {
		return time.Time{}, time.Time{}, fmt.Errorf("erase: recorded span %q: %w", details[0], err)
	}
	return sp.From, sp.To, nil
}
