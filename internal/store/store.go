// Package store is authwatch's ClickHouse adapter: it opens the connection,
// creates the database and applies the embedded migrations, and writes and
// reads rows. SQL lives here and in schemas/clickhouse, nowhere else.
package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// Config says where ClickHouse is (SPEC §1 variables).
type Config struct {
	Addrs    []string // native protocol, host:port
	Database string
	User     string
	Password string
	// NoMigrate leaves the schema to the operator (a cluster, where
	// deploy/clickhouse/cluster.sql creates replicated tables): Open then
	// only checks that every migration this binary knows is recorded.
	NoMigrate bool
	// Cluster names the cluster of deploy/clickhouse/cluster.sql, whose
	// tables are Distributed over <name>_local ones: what changes stored
	// rows in place (retention's partition drops, an erasure's deletions)
	// then goes to the local tables of every server, ON CLUSTER.
	Cluster string
}

// ConfigFromEnv reads CLICKHOUSE_ADDR, CLICKHOUSE_DATABASE, CLICKHOUSE_USER,
// CLICKHOUSE_PASSWORD, CLICKHOUSE_MIGRATE and CLICKHOUSE_CLUSTER with the
// defaults of SPEC §1; a value it cannot read is an error naming it.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	c := Config{
		Addrs:    splitList(getenv("CLICKHOUSE_ADDR")),
		Database: getenv("CLICKHOUSE_DATABASE"),
		User:     getenv("CLICKHOUSE_USER"),
		Password: getenv("CLICKHOUSE_PASSWORD"),
		Cluster:  getenv("CLICKHOUSE_CLUSTER"),
	}
	var errs []error
	if v := getenv("CLICKHOUSE_MIGRATE"); v != "" {
		// false: the schema is the operator's (a cluster).
		migrate, err := strconv.ParseBool(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("CLICKHOUSE_MIGRATE=%q: want true or false", v))
		}
		c.NoMigrate = err == nil && !migrate
	}
	if c.Cluster != "" && !validIdent(c.Cluster) {
		errs = append(errs, fmt.Errorf("CLICKHOUSE_CLUSTER=%q: use letters, digits and _", c.Cluster))
	}
	if c.Cluster != "" && !c.NoMigrate {
		errs = append(errs, errors.New("CLICKHOUSE_CLUSTER is set: the cluster's schema comes from deploy/clickhouse/cluster.sql, so set CLICKHOUSE_MIGRATE=false too"))
	}
	if len(c.Addrs) == 0 {
		c.Addrs = []string{"127.0.0.1:9000"}
	}
	if c.Database == "" {
		c.Database = "authwatch"
	}
	if c.User == "" {
		c.User = "default"
	}
	return c, errors.Join(errs...)
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// Store is an open, migrated ClickHouse database.
type Store struct {
	conn    driver.Conn
	db      string
	cluster string // Config.Cluster
	cache   *readCache
}

// Open connects, creates the database if needed and applies every pending
// migration. It fails fast; callers that must ride out an outage retry it.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	if !cfg.NoMigrate {
		if err := createDatabase(ctx, cfg); err != nil {
			return nil, err
		}
	}
	conn, err := dial(cfg, cfg.Database)
	if err != nil {
		return nil, err
	}
	s := &Store{conn: conn, db: cfg.Database, cluster: cfg.Cluster, cache: newReadCache()}
	check := s.migrate
	if cfg.NoMigrate {
		check = s.checkSchema
	}
	if err := check(ctx); err != nil {
		conn.Close()
		return nil, err
	}
	return s, nil
}

func dial(cfg Config, database string) (driver.Conn, error) {
	conn, err := clickhouse.Open(&clickhouse.Options{
		Addr:             cfg.Addrs,
		Auth:             clickhouse.Auth{Database: database, Username: cfg.User, Password: cfg.Password},
		DialTimeout:      5 * time.Second,
		ReadTimeout:      60 * time.Second,
		MaxOpenConns:     8,
		MaxIdleConns:     8,
		ConnMaxLifetime:  time.Hour,
		ConnOpenStrategy: clickhouse.ConnOpenRoundRobin,
		Compression:      &clickhouse.Compression{Method: clickhouse.CompressionLZ4},
	})
	if err != nil {
		return nil, fmt.Errorf("clickhouse: %w", err)
	}
	return conn, nil
}

func createDatabase(ctx context.Context, cfg Config) error {
	if !validIdent(cfg.Database) {
		return fmt.Errorf("clickhouse: database name %q: use letters, digits and _", cfg.Database)
	}
	conn, err := dial(cfg, "default")
	if err != nil {
		return err
	}
	defer conn.Close()
	if err := conn.Exec(ctx, "CREATE DATABASE IF NOT EXISTS "+cfg.Database); err != nil {
		return fmt.Errorf("clickhouse: create database %s: %w", cfg.Database, err)
	}
	return nil
}

func validIdent(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i, r := range s {
		ok := r == '_' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (i > 0 && r >= '0' && r <= '9')
		if !ok {
			return false
		}
	}
	return true
}

// Ping checks that the server answers.
func (s *Store) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	return s.conn.Ping(ctx)
}

// Conn exposes the driver connection to the other adapters of this package's
// family (query API, detector); they keep their SQL in this package too.
func (s *Store) Conn() driver.Conn { return s.conn }

// Database is the database this store writes to.
func (s *Store) Database() string { return s.db }

// Close closes the connection pool.
func (s *Store) Close() error { return s.conn.Close() }

// IsTransient reports whether err is worth retrying (server gone, timeout),
// as opposed to a statement the server will never accept.
func IsTransient(err error) bool {
	if err == nil {
		return false
	}
	var ex *clickhouse.Exception
	if errors.As(err, &ex) {
		// Server-side exceptions about the statement itself will not heal;
		// the rest (too many parts, memory limit, readonly replica) do.
		switch ex.Code {
		case 62, 47, 60, 16, 53, 27, 6, 41, 117: // syntax, unknown identifier/table/column, type mismatch, parse errors
			return false
		}
	}
	return true
}

func sprintf(format string, a ...any) string { return fmt.Sprintf(format, a...) }

type errUnknownTable string

func (e errUnknownTable) Error() string { return "unknown table " + string(e) }

// pointQuery marks a read that touches few rows: one thread and the
// uncompressed cache halve tail latency under concurrency (see README).
func pointQuery(ctx context.Context) context.Context {
	return clickhouse.Context(ctx, clickhouse.WithSettings(clickhouse.Settings{
		"max_threads":            1,
		"use_uncompressed_cache": 1,
	}))
}

// inPlace names a table for a statement that changes its stored rows in
// place (ALTER … DROP PARTITION, ALTER … DELETE): the table itself on one
// server; on a cluster its local tables on every server.
func inPlace(table, cluster string) string {
	if cluster == "" {
		return table
	}
	return table + "_local ON CLUSTER '" + cluster + "'"
}

// everyServer names a system table so that a query reads it on one server,
// or on one replica of every shard of the cluster (with the local tables'
// names).
func everyServer(system, cluster string) string {
	if cluster == "" {
		return "system." + system
	}
	return "cluster('" + cluster + "', system." + system + ")"
}

// localName is how a table is called in system tables of the servers that
// hold its rows.
func localName(table, cluster string) string {
	if cluster == "" {
		return table
	}
	return table + "_local"
}
