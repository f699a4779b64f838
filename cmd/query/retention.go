package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/authwatch/authwatch/internal/config"
	"github.com/authwatch/authwatch/internal/store"
)

// retentionFromEnv reads RETENTION_*_DAYS (0 keeps forever).
func retentionFromEnv(env *config.Env) store.Retention {
	r := store.DefaultRetention()
	days := func(name string, d *time.Duration) {
		*d = time.Duration(env.Int(name, int(*d/(24*time.Hour)))) * 24 * time.Hour
	}
	days("RETENTION_LOGIN_DAYS", &r.Logins)
	days("RETENTION_TOKEN_DAYS", &r.Tokens)
	days("RETENTION_ALERT_DAYS", &r.Alerts)
	days("RETENTION_HOURLY_ROLLUP_DAYS", &r.HourlyRollup)
	days("RETENTION_DAILY_ROLLUP_DAYS", &r.DailyRollup)
	return r
}

// runRetention applies the retention now and then every period until ctx
// ends, and then, when compact is set, merges the closed months; a failed
// run is logged and tried again next time.
func runRetention(ctx context.Context, st *store.Store, r store.Retention, compact bool, every time.Duration, log *slog.Logger) {
	repeat(ctx, every, func() {
		dropped, err := st.ApplyRetention(ctx, r, time.Now())
		for _, d := range dropped {
			log.Info("retention: dropped a partition", "table", d.Table, "partition", d.Partition)
		}
		if err != nil && ctx.Err() == nil {
			log.Warn("retention", "err", err)
		}
		if !compact || ctx.Err() != nil {
			return
		}
		merged, err := st.CompactClosed(ctx, time.Now())
		for _, m := range merged {
			log.Info("compaction: merged a closed month", "table", m.Table, "partition", m.Partition, "parts", m.Parts)
		}
		if err != nil && ctx.Err() == nil {
			log.Warn("compaction", "err", err)
		}
	})
}

// runSummaryMerges merges the summary tables left in several parts now and
// then every period until ctx ends; a failed run is logged and tried again
// next time.
func runSummaryMerges(ctx context.Context, st *store.Store, every time.Duration, log *slog.Logger) {
	repeat(ctx, every, func() {
		merged, err := st.MergeSummaries(ctx)
		for _, m := range merged {
			log.Debug("summary merge", "table", m.Table, "parts", m.Parts)
		}
		if err != nil && ctx.Err() == nil {
			log.Warn("summary merge", "err", err)
		}
	})
}

// repeat runs fn now and then every period until ctx ends.
func repeat(ctx context.Context, every time.Duration, fn func()) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		fn()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
