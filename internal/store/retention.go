package store

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// Retention is how long each kind of data is kept; zero keeps it forever.
// Raw rows go first; the hourly and daily rollups, which analysts keep far
// longer, have their own periods, so counts outlive the rows they count.
type Retention struct {
	Logins       time.Duration // login_events and its by-time copy
	Tokens       time.Duration // token_events, its by-time copy and the per-token daily counts
	Alerts       time.Duration // alerts (and alerts_by_event, which flags logins); webhook deliveries too
	HourlyRollup time.Duration // login_rollup_hourly, token_rollup_hourly
	DailyRollup  time.Duration // login_rollup_daily, token_rollup_daily
}

// DefaultRetention keeps raw events a year, alerts two, hourly counts 400
// days and daily counts five years.
func DefaultRetention() Retention {
	day := 24 * time.Hour
	return Retention{Logins: 365 * day, Tokens: 365 * day, Alerts: 730 * day, HourlyRollup: 400 * day, DailyRollup: 1825 * day}
}

// Dropped is one partition a retention run removed.
type Dropped struct {
	Table     string
	Partition string // as ClickHouse names it: 202601 (a month) or 2026 (a year)
}

// partitioned is every table retention applies to, with how its partitions
// are cut (0001–0004: months, except the daily rollups: years).
var partitioned = []struct {
	table  string
	kind   func(Retention) time.Duration
	yearly bool
}{
	{"login_events", func(r Retention) time.Duration { return r.Logins }, false},
	{"login_events_by_time", func(r Retention) time.Duration { return r.Logins }, false},
	{"token_events", func(r Retention) time.Duration { return r.Tokens }, false},
	{"token_events_by_time", func(r Retention) time.Duration { return r.Tokens }, false},
	{"alerts", func(r Retention) time.Duration { return r.Alerts }, false},
	{"webhook_deliveries", func(r Retention) time.Duration { return r.Alerts }, false},
	{"login_rollup_hourly", func(r Retention) time.Duration { return r.HourlyRollup }, false},
	{"token_rollup_hourly", func(r Retention) time.Duration { return r.HourlyRollup }, false},
	{"login_rollup_daily", func(r Retention) time.Duration { return r.DailyRollup }, true},
	{"token_rollup_daily", func(r Retention) time.Duration { return r.DailyRollup }, true},
	// per-token days count "all time" for /tokens/top: kept with the raw rows
	{"token_rollup_daily_by_token", func(r Retention) time.Duration { return r.Tokens }, false},
	// by ingest month; read only for the last minutes, kept with the raw rows
	{"late_arrivals", func(r Retention) time.Duration {
		if r.Logins == 0 || r.Tokens == 0 {
			return 0
		}
		return max(r.Logins, r.Tokens)
	}, false},
}

// ApplyRetention drops every whole partition that ended before now minus
// its table's retention: dropping a partition is instant and works the same
// on 18.16 and current servers (no TTL needed). A partition is kept while
// any of it is young enough, so data lives up to one partition (a month; a
// year for the daily rollups) longer than its period. Rows of
// alerts_by_event (not partitioned: it is keyed by user for is_suspicious)
// older than the alerts kept are deleted in one mutation when an alerts
// partition goes. Safe to run from several processes at once. On a cluster
// (Config.Cluster) the partitions are those of the local tables on one
// replica of every shard, and they are dropped ON CLUSTER (dropping a
// partition a server does not have does nothing).
func (s *Store) ApplyRetention(ctx context.Context, r Retention, now time.Time) ([]Dropped, error) {
	var out []Dropped
	for _, p := range partitioned {
		keep := p.kind(r)
		if keep <= 0 {
			continue
		}
		cutoff := now.Add(-keep)
		parts, err := queryRows(ctx, s, scanString,
			`SELECT DISTINCT partition FROM `+everyServer("parts", s.cluster)+` WHERE database = ? AND table = ? AND active`,
			s.db, localName(p.table, s.cluster))
		if err != nil {
			return out, fmt.Errorf("retention: partitions of %s: %w", p.table, err)
		}
		for _, part := range parts {
			end, ok := partitionEnd(part, p.yearly)
			if !ok || end.After(cutoff) {
				continue
			}
			// The partition value is a number we just read from the server.
			if err := s.conn.Exec(ctx, fmt.Sprintf("ALTER TABLE %s DROP PARTITION %s", inPlace(p.table, s.cluster), part)); err != nil {
				return out, fmt.Errorf("retention: drop %s partition %s: %w", p.table, part, err)
			}
			out = append(out, Dropped{Table: p.table, Partition: part})
			if p.table == "alerts" {
				if err := s.conn.Exec(ctx, "ALTER TABLE "+inPlace("alerts_by_event", s.cluster)+" DELETE WHERE occurred_at < toDateTime(?)", end.Unix()); err != nil {
					return out, fmt.Errorf("retention: alerts_by_event: %w", err)
				}
			}
		}
	}
	return out, nil
}

// partitionEnd is when a partition's span ends: YYYYMM → the first of the
// next month, YYYY → the next 1 January (UTC).
func partitionEnd(part string, yearly bool) (time.Time, bool) {
	n, err := strconv.Atoi(part)
	if err != nil {
		return time.Time{}, false
	}
	if yearly {
		return time.Date(n+1, 1, 1, 0, 0, 0, 0, time.UTC), n > 1970
	}
	y, m := n/100, n%100
	if y < 1970 || m < 1 || m > 12 {
		return time.Time{}, false
	}
	return time.Date(y, time.Month(m)+1, 1, 0, 0, 0, 0, time.UTC), true
}

func scanString(r driver.Rows) (string, error) {
	var v string
	return v, r.Scan(&v)
}
