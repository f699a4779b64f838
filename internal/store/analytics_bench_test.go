package store_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/authwatch/authwatch/internal/store"
)

// BenchmarkAnalytics measures the analytics reads of the largest tenant of
// an existing database, live (rollup emptied first) and then through the
// rollup after one job run:
//
//	AUTHWATCH_BENCH_DB=mydb go test ./internal/store/ -run '^$' -bench Analytics -benchtime 20x
//
// It truncates that database's rollup tables (they are recomputable), so
// never point it at production. Skipped without the variable.
func BenchmarkAnalytics(b *testing.B) {
	db := os.Getenv("AUTHWATCH_BENCH_DB")
	if db == "" {
		b.Skip("set AUTHWATCH_BENCH_DB to a database holding events")
	}
	ctx := context.Background()
	cfg, err := store.ConfigFromEnv(os.Getenv)
	if err != nil {
		b.Fatal(err)
	}
	cfg.Database = db
	st, err := store.Open(ctx, cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	for _, t := range []string{"login_rollup_hourly", "login_rollup_daily", "token_rollup_hourly", "token_rollup_daily", "rollup_state"} {
		if err := st.Conn().Exec(ctx, "TRUNCATE TABLE "+t); err != nil {
			b.Fatal(err)
		}
	}
	var tenant string
	var last uint32
	var rows uint64
	if err := st.Conn().QueryRow(ctx, `SELECT tenant_id, toUInt32(max(occurred_at)), count() AS n FROM login_events_by_time
		GROUP BY tenant_id ORDER BY n DESC LIMIT 1`).Scan(&tenant, &last, &rows); err != nil {
		b.Fatal(err)
	}
	now := time.Unix(int64(last), 0).UTC().Add(time.Hour)
	today := store.Daily.Truncate(now).Add(24 * time.Hour)
	b.Logf("tenant %s: %d rows, now %s", tenant, rows, now.Format(time.RFC3339))
	reads := []struct {
		name string
		iv   store.Interval
		days int
	}{
		{"7d-by-hour", store.Hourly, 7},
		{"31d-by-hour", store.Hourly, 31},
		{"90d-by-day", store.Daily, 90},
		{"400d-by-day", store.Daily, 400},
	}
	bench := func(prefix string) {
		for _, r := range reads {
			b.Run(prefix+"/"+r.name, func(b *testing.B) {
				from := today.AddDate(0, 0, -r.days)
				for b.Loop() {
					if _, err := st.LoginAnalytics(ctx, tenant, r.iv, from, today); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
	bench("live")
	start := time.Now()
	job := store.NewRollup(st, store.RollupConfig{})
	if err := job.RunOnce(ctx, now); err != nil {
		b.Fatal(err)
	}
	b.Logf("first job run (backfill of everything): %s", time.Since(start))
	start = time.Now()
	if err := job.RunOnce(ctx, now.Add(time.Minute)); err != nil {
		b.Fatal(err)
	}
	b.Logf("steady-state job run: %s", time.Since(start))
	// The backfill left a part per chunk; a running system has merged them.
	for _, t := range []string{"login_rollup_hourly", "login_rollup_daily", "rollup_state"} {
		if err := st.Conn().Exec(ctx, "OPTIMIZE TABLE "+t+" FINAL"); err != nil {
			b.Fatal(err)
		}
	}
	bench("rollup")
}
