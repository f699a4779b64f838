package store

import (
	"context"
	"fmt"
	"io/fs"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/authwatch/authwatch/schemas"
)

// Migration is one numbered .sql file of schemas/clickhouse.
type Migration struct {
	Version    uint32
	Name       string
	Statements []string
}

// Migrations returns the embedded migrations in order.
func Migrations() ([]Migration, error) {
	return loadMigrations(schemas.ClickHouse, "clickhouse")
}

func loadMigrations(fsys fs.FS, dir string) ([]Migration, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, err
	}
	var out []Migration
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".sql") {
			continue
		}
		num, _, ok := strings.Cut(name, "_")
		v, err := strconv.ParseUint(num, 10, 32)
		if !ok || err != nil {
			return nil, fmt.Errorf("migration %s: name must be NNNN_what.sql", name)
		}
		body, err := fs.ReadFile(fsys, dir+"/"+name)
		if err != nil {
			return nil, err
		}
		out = append(out, Migration{Version: uint32(v), Name: name, Statements: SplitStatements(string(body))})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	for i := 1; i < len(out); i++ {
		if out[i].Version == out[i-1].Version {
			return nil, fmt.Errorf("migrations %s and %s share a number", out[i-1].Name, out[i].Name)
		}
	}
	return out, nil
}

// SplitStatements splits a .sql file at each ';' that ends a line, dropping
// comment lines; the same rule ../shared/tools/chcheck applies.
func SplitStatements(sql string) []string {
	var out []string
	var cur strings.Builder
	for _, line := range strings.Split(sql, "\n") {
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "--") || (trimmed == "" && cur.Len() == 0) {
			continue
		}
		cur.WriteString(line)
		cur.WriteByte('\n')
		if strings.HasSuffix(trimmed, ";") {
			stmt := strings.TrimSuffix(strings.TrimSpace(cur.String()), ";")
			if stmt != "" {
				out = append(out, stmt)
			}
			cur.Reset()
		}
	}
	if stmt := strings.TrimSpace(cur.String()); stmt != "" {
		out = append(out, stmt)
	}
	return out
}

// migrate applies every migration not recorded in schema_migrations. Every
// statement is idempotent (IF NOT EXISTS), so services starting together, or
// one that died half way, converge on the same schema.
func (s *Store) migrate(ctx context.Context) error {
	migs, err := Migrations()
	if err != nil {
		return err
	}
	if err := s.conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations
		(version UInt32, name String, applied_at DateTime DEFAULT now())
		ENGINE = MergeTree ORDER BY version`); err != nil {
		return fmt.Errorf("migrations table: %w", err)
	}
	applied := map[uint32]bool{}
	rows, err := s.conn.Query(ctx, "SELECT DISTINCT version FROM schema_migrations")
	if err != nil {
		return fmt.Errorf("read migrations: %w", err)
	}
	for rows.Next() {
		var v uint32
		if err := rows.Scan(&v); err != nil {
			rows.Close()
			return err
		}
		applied[v] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, m := range migs {
		if applied[m.Version] {
			continue
		}
		for i, stmt := range m.Statements {
			if err := s.conn.Exec(ctx, stmt); err != nil {
				return fmt.Errorf("migration %s statement %d: %w", m.Name, i+1, err)
			}
		}
		// Inserts go through a native batch: 18.16 does not take VALUES with bound parameters.
		if err := s.insertColumns(ctx, "INSERT INTO schema_migrations (version, name)", []any{[]uint32{m.Version}, []string{m.Name}}); err != nil {
			return fmt.Errorf("record migration %s: %w", m.Name, err)
		}
	}
	return nil
}

// checkSchema reports an error unless every migration of this binary is
// recorded as applied (by deploy/clickhouse/cluster.sql, on a cluster).
func (s *Store) checkSchema(ctx context.Context) error {
	migs, err := Migrations()
	if err != nil {
		return err
	}
	applied, err := s.AppliedMigrations(ctx)
	if err != nil {
		return fmt.Errorf("CLICKHOUSE_MIGRATE=false and no schema_migrations table (apply deploy/clickhouse/cluster.sql): %w", err)
	}
	var missing []string
	for _, m := range migs {
		if !slices.Contains(applied, m.Version) {
			missing = append(missing, m.Name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("CLICKHOUSE_MIGRATE=false and the schema lacks %s: apply the newer deploy/clickhouse/cluster.sql", strings.Join(missing, ", "))
	}
	return nil
}

// AppliedMigrations lists the versions recorded as applied.
func (s *Store) AppliedMigrations(ctx context.Context) ([]uint32, error) {
	var out []uint32
	rows, err := s.conn.Query(ctx, "SELECT DISTINCT version FROM schema_migrations ORDER BY version")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var v uint32
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}
