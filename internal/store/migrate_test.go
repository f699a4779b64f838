package store_test

import (
	"context"
	"reflect"
	"testing"

	"github.com/authwatch/authwatch/internal/store"
	"github.com/authwatch/authwatch/internal/testenv"
)

func TestSplitStatements(t *testing.T) {
	tests := []struct {
		name string
		sql  string
		want []string
	}{
		{"one", "SELECT 1;\n", []string{"SELECT 1"}},
		{"comments dropped", "-- hello\nSELECT 1;\n-- bye\n", []string{"SELECT 1"}},
		{"multi-line", "CREATE TABLE t\n(a UInt8)\nENGINE = Memory;\n\nSELECT 2;", []string{"CREATE TABLE t\n(a UInt8)\nENGINE = Memory", "SELECT 2"}},
		{"semicolon inside a line stays", "SELECT ';' AS x;\n", []string{"SELECT ';' AS x"}},
		{"no trailing semicolon", "SELECT 3", []string{"SELECT 3"}},
		{"empty", "\n-- only a comment\n", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := store.SplitStatements(tt.sql); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("SplitStatements = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestMigrationsNumberedInOrder(t *testing.T) {
	migs, err := store.Migrations()
	if err != nil {
		t.Fatal(err)
	}
	if len(migs) == 0 {
		t.Fatal("no migrations embedded")
	}
	for i, m := range migs {
		if m.Version != uint32(i+1) {
			t.Errorf("migration %s has number %d, want %d (no gaps)", m.Name, m.Version, i+1)
		}
		if len(m.Statements) == 0 {
			t.Errorf("migration %s has no statements", m.Name)
		}
	}
}

// Services start together and restart often: opening an already migrated
// database applies nothing twice and keeps the data.
func TestOpenIsIdempotent(t *testing.T) {
	s, cfg := testenv.OpenStore(t)
	ctx := context.Background()
	if err := s.Conn().Exec(ctx, "CREATE TABLE keep_me (x UInt8) ENGINE = Memory"); err != nil {
		t.Fatal(err)
	}
	again, err := store.Open(ctx, cfg)
	if err != nil {
		t.Fatalf("second open: %v", err)
	}
	defer again.Close()
	applied, err := again.AppliedMigrations(ctx)
	if err != nil {
		t.Fatal(err)
	}
	migs, _ := store.Migrations()
	if len(applied) != len(migs) {
		t.Errorf("applied %v, want %d migrations", applied, len(migs))
	}
	var rows uint64
	if err := again.Conn().QueryRow(ctx, "SELECT count() FROM schema_migrations").Scan(&rows); err != nil || rows != uint64(len(migs)) {
		t.Errorf("schema_migrations has %d rows (%v), want %d: a migration was recorded twice", rows, err, len(migs))
	}
	var n uint64
	if err := again.Conn().QueryRow(ctx, "SELECT count() FROM system.tables WHERE database = ? AND name = 'keep_me'", cfg.Database).Scan(&n); err != nil || n != 1 {
		t.Errorf("reopening lost a table: %d, %v", n, err)
	}
}
