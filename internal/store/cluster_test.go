package store_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/authwatch/authwatch/internal/store"
	"github.com/authwatch/authwatch/internal/testenv"
)

// deploy/clickhouse/cluster.sql is what the generator makes of the
// migrations, so the cluster schema never drifts from the single-server one.
func TestClusterDDLIsUpToDate(t *testing.T) {
	want, err := store.ClusterDDL("authwatch", "authwatch")
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join("..", "..", "deploy", "clickhouse", "cluster.sql"))
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Error("deploy/clickhouse/cluster.sql is stale: go run ./internal/tools/clusterddl > deploy/clickhouse/cluster.sql")
	}
	migs, err := store.Migrations()
	if err != nil {
		t.Fatal(err)
	}
	// Every table of the migrations is there twice: replicated and distributed.
	for _, m := range migs {
		for _, stmt := range m.Statements {
			if !strings.HasPrefix(stmt, "CREATE TABLE IF NOT EXISTS ") {
				continue
			}
			name := strings.Fields(stmt)[5]
			if !strings.Contains(want, "authwatch."+name+"_local ON CLUSTER") || !strings.Contains(want, "Distributed('authwatch', 'authwatch', '"+name+"_local'") {
				t.Errorf("%s: table %s lacks its replicated or distributed form", m.Name, name)
			}
		}
	}
}

// Every Distributed table of cluster.sql shards by columns its table has:
// ClickHouse refuses to create one whose key names another column (as the
// key of rollup_state once did). Checked on this server's one-shard test
// cluster, over the tables the migrations made here.
func TestClusterShardingKeysExist(t *testing.T) {
	st, cfg := testenv.OpenStore(t)
	ctx := context.Background()
	var clusters uint64
	if err := st.Conn().QueryRow(ctx, "SELECT count() FROM system.clusters WHERE cluster = 'test_shard_localhost'").Scan(&clusters); err != nil {
		t.Fatal(err)
	}
	if clusters == 0 {
		t.Skip("this ClickHouse has no test_shard_localhost cluster (Debian's packaged config has)")
	}
	ddl, err := store.ClusterDDL("authwatch", "authwatch")
	if err != nil {
		t.Fatal(err)
	}
	dist := regexp.MustCompile(`ENGINE = Distributed\('authwatch', 'authwatch', '(\w+)_local', (.+)\);`)
	found := dist.FindAllStringSubmatch(ddl, -1)
	if len(found) < 10 {
		t.Fatalf("%d Distributed tables in cluster.sql", len(found))
	}
	for _, m := range found {
		table, key := m[1], m[2]
		q := fmt.Sprintf("CREATE TABLE %[1]s.dist_check_%[2]s AS %[1]s.%[2]s ENGINE = Distributed('test_shard_localhost', '%[1]s', '%[2]s', %[3]s)",
			cfg.Database, table, key)
		if err := st.Conn().Exec(ctx, q); err != nil {
			t.Errorf("%s sharded by %s: %v", table, key, err)
			continue
		}
		if err := st.Conn().Exec(ctx, fmt.Sprintf("DROP TABLE %s.dist_check_%s", cfg.Database, table)); err != nil {
			t.Fatal(err)
		}
	}
}

// With CLICKHOUSE_MIGRATE=false a service applies nothing and refuses a
// schema that lacks migrations it needs.
func TestNoMigrateChecksTheSchema(t *testing.T) {
	_, cfg := testenv.OpenStore(t) // a database with every migration applied
	cfg.NoMigrate = true
	st, err := store.Open(context.Background(), cfg)
	if err != nil {
		t.Fatalf("complete schema refused: %v", err)
	}
	defer st.Close()
	if err := st.Conn().Exec(context.Background(), "ALTER TABLE schema_migrations DELETE WHERE version = 2"); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 10*time.Second, "the record of 0002 deleted", func() bool {
		v, err := st.AppliedMigrations(context.Background())
		return err == nil && len(v) > 0 && v[1] != 2
	})
	if _, err := store.Open(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), "0002_alerts.sql") {
		t.Errorf("schema without 0002: %v, want an error naming it", err)
	}
}
