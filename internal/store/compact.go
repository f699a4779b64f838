package store

import (
	"context"
	"fmt"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// compacted are the tables whose closed months CompactClosed merges: the
// raw events, their copies and the per-token days, which the API reads
// over 30 to 90 days. Every read opens each part of each month it touches,
// so a month in one part instead of three or four costs a third as much to
// open (measured on 18.16 at c=8: a heavy user's login stats 206–230 →
// 287 req/s, a user's token stats 55 → 71), and the copies redelivery
// left behind (2 % in the benchmark) are gone from it.
var compacted = []string{"login_events", "login_events_by_time", "token_events", "token_events_by_time", "token_rollup_daily_by_token"}

const (
	// compactAfter is how long after its end a month is left alone: the
	// rollup job recomputes its days that long, and late events come first.
	compactAfter = defaultDayLateness
	// compactMinParts is how many parts a closed month needs to be merged
	// again: a late event or two adds a small part, which is not worth
	// rewriting a month for; a third is. MergeSummaries uses the same
	// threshold for its tables.
	compactMinParts = 3
	// compactTimeout bounds one month's merge, which ClickHouse runs while
	// the statement waits.
	compactTimeout = time.Hour
)

// Compacted is one closed month CompactClosed merged.
type Compacted struct {
	Table     string
	Partition string // YYYYMM
	Parts     uint64 // how many it had (on the server that had most)
}

// CompactClosed merges every closed month (partition) of the compacted
// tables that has at least compactMinParts parts into one part
// (OPTIMIZE … PARTITION … FINAL), one month at a time. ClickHouse's own
// merges leave a month in a few parts of different sizes; a month no
// longer written to is best read as one. Idempotent, and safe from several
// processes at once (a month already merged has one part; a merge already
// under way makes the second a no-op). On a cluster the parts are counted
// per server and the merge runs ON CLUSTER on the local tables.
func (s *Store) CompactClosed(ctx context.Context, now time.Time) ([]Compacted, error) {
	var out []Compacted
	for _, table := range compacted {
		months, err := s.monthsToCompact(ctx, table, now)
		if err != nil {
			return out, err
		}
		for _, m := range months {
			if err := s.optimize(ctx, table, m.Partition); err != nil {
				return out, fmt.Errorf("compact: %w", err)
			}
			out = append(out, m)
		}
	}
	return out, nil
}

// optimize merges table's partition (all of it when partition is empty)
// into one part: OPTIMIZE … FINAL, ON CLUSTER on the local tables of a
// cluster, waiting at most compactTimeout. partition is a value read from
// system.parts, never user input.
func (s *Store) optimize(ctx context.Context, table, partition string) error {
	q, what := "OPTIMIZE TABLE "+inPlace(table, s.cluster), table
	if partition != "" {
		q += " PARTITION " + partition
		what += " partition " + partition
	}
	ctx, cancel := context.WithTimeout(ctx, compactTimeout)
	defer cancel()
	if err := s.conn.Exec(ctx, q+" FINAL"); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

// monthsToCompact lists the months of table that CompactClosed merges at
// now: closed for compactAfter, with compactMinParts parts or more on
// some server.
func (s *Store) monthsToCompact(ctx context.Context, table string, now time.Time) ([]Compacted, error) {
	months, err := s.partsByPartition(ctx, table)
	if err != nil {
		return nil, fmt.Errorf("compact: %w", err)
	}
	var out []Compacted
	for _, m := range months {
		if end, ok := partitionEnd(m.Partition, false); ok && !end.After(now.Add(-compactAfter)) && m.Parts >= compactMinParts {
			out = append(out, m)
		}
	}
	return out, nil
}

// partsByPartition counts the active parts of each partition of table, on
// the server that has most of them.
func (s *Store) partsByPartition(ctx context.Context, table string) ([]Compacted, error) {
	parts, err := queryRows(ctx, s, func(r driver.Rows) (m Compacted, err error) {
		m.Table = table
		return m, r.Scan(&m.Partition, &m.Parts)
	}, `SELECT partition, max(n) FROM (
		SELECT hostName() AS host, partition, count() AS n FROM `+everyServer("parts", s.cluster)+`
		WHERE database = ? AND table = ? AND active GROUP BY host, partition)
		GROUP BY partition ORDER BY partition`, s.db, localName(table, s.cluster))
	if err != nil {
		return nil, fmt.Errorf("parts of %s: %w", table, err)
	}
	return parts, nil
}

// summaries are the small tables whose size follows the tenants' tokens,
// IP addresses, users and alerts rather than their events: every token
// route, the tenant pages' profiles and the lists' rules read them by key.
// Their rows are states or versions that reads combine per key, so a
// table in five parts is read five times over (measured on 18.16 at c=8
// with the seed's five parts merged into one: a big tenant's token stats
// 28 → 62 req/s, a heavy user's 71 → 90, top tokens 99 → 139).
var summaries = []string{"token_summary", "token_use_ips", "token_users", "user_profiles", "alerts_by_event"}

// MergeSummaries merges each summary table that has compactMinParts parts
// or more on some server into one part (OPTIMIZE … FINAL; ON CLUSTER on a
// cluster), which also folds each key's rows into one. It rewrites the
// whole table, whose size follows the number of tokens, IPs and users, so
// it runs every few minutes, not after every insert. Idempotent and safe
// from several processes at once, as CompactClosed.
func (s *Store) MergeSummaries(ctx context.Context) ([]Compacted, error) {
	tables, err := s.summariesToMerge(ctx)
	if err != nil {
		return nil, err
	}
	var out []Compacted
	for _, t := range tables {
		if err := s.optimize(ctx, t.Table, ""); err != nil {
			return out, fmt.Errorf("merge summaries: %w", err)
		}
		out = append(out, t)
	}
	return out, nil
}

// summariesToMerge lists the summary tables MergeSummaries merges now:
// those with compactMinParts parts or more on some server.
func (s *Store) summariesToMerge(ctx context.Context) ([]Compacted, error) {
	var out []Compacted
	for _, table := range summaries {
		parts, err := s.partsByPartition(ctx, table)
		if err != nil {
			return nil, fmt.Errorf("merge summaries: %w", err)
		}
		for _, p := range parts { // one: the tables are not partitioned
			if p.Parts >= compactMinParts {
				out = append(out, p)
			}
		}
	}
	return out, nil
}
