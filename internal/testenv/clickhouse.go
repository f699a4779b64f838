package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"
	"time"

	"github.com/authwatch/authwatch/internal/store"
)

// ClickHouseConfig returns a store config for a database of its own on the
// ClickHouse server that scripts/clickhouse.sh runs (CLICKHOUSE_ADDR, default
// 127.0.0.1:9000), and drops that database when the test ends. The database
// is created by store.Open, as services do.
func ClickHouseConfig(t testing.TB) store.Config {
	t.Helper()
	cfg, err := store.ConfigFromEnv(os.Getenv)
	if err != nil {
		t.Fatal(err)
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	cfg.Database = "awtest_" + hex.EncodeToString(b[:])
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		s, err := store.Open(ctx, cfg)
		if err != nil {
			return
		}
		defer s.Close()
		_ = s.Conn().Exec(ctx, "DROP DATABASE IF EXISTS "+cfg.Database)
	})
	return cfg
}

// OpenStore opens (creating and migrating) a fresh database for the test.
// A test that needs ClickHouse fails, not skips, when it is not there:
// `make test` starts it.
func OpenStore(t testing.TB) (*store.Store, store.Config) {
	t.Helper()
	cfg := ClickHouseConfig(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	s, err := store.Open(ctx, cfg)
	if err != nil {
		t.Fatalf("clickhouse at %v (run scripts/clickhouse.sh start): %v", cfg.Addrs, err)
	}
	t.Cleanup(func() { s.Close() })
	return s, cfg
}
