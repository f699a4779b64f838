package store

import "context"

// EventCounts says how many rows each event table holds and how many
// distinct events they are; rows > events means redelivered copies that
// merges have not collapsed yet (reads count each id once regardless).
type EventCounts struct {
	LoginRows, Logins uint64
	TokenRows, Tokens uint64
}

// CountEvents counts rows and distinct events of one tenant ("" = all).
func (s *Store) CountEvents(ctx context.Context, tenant string) (EventCounts, error) {
	var c EventCounts
	q := `SELECT count(), uniqExact(tenant_id, id) FROM %s WHERE (? = '' OR tenant_id = ?)`
	if err := s.conn.QueryRow(ctx, sprintf(q, "login_events"), tenant, tenant).Scan(&c.LoginRows, &c.Logins); err != nil {
		return c, err
	}
	if err := s.conn.QueryRow(ctx, sprintf(q, "token_events"), tenant, tenant).Scan(&c.TokenRows, &c.Tokens); err != nil {
		return c, err
	}
	return c, nil
}

// EventIDs lists the stored event ids of a tenant in one table, read as the
// API reads: LIMIT 1 BY id over the raw rows, so a redelivered copy is not
// listed twice.
func (s *Store) EventIDs(ctx context.Context, tenant, table string) ([]string, error) {
	if table != "login_events" && table != "token_events" {
		return nil, errUnknownTable(table)
	}
	rows, err := s.conn.Query(ctx, sprintf(`SELECT id FROM %s WHERE tenant_id = ? LIMIT 1 BY id`, table), tenant)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	return out, rows.Err()
}
