package store

import (
	"context"
	"time"
)

// SetDirectReadMax lets the external tests force the window path of
// newest-first pages; it returns a function restoring the default.
func SetDirectReadMax(n uint64) (restore func()) {
	old := directReadMax
	directReadMax = n
	return func() { directReadMax = old }
}

// SetFullRowsMax lets the external tests choose between reading a page's
// window whole and reading its keys first; it returns a function restoring
// the default.
func SetFullRowsMax(n uint64) (restore func()) {
	old := fullRowsMax
	fullRowsMax = n
	return func() { fullRowsMax = old }
}

// SetRolledUsesMin lets the external tests choose how /tokens/top counts:
// 0 reads the per-token rollup always, a huge value never.
func SetRolledUsesMin(n uint64) (restore func()) {
	old := rolledUsesMin
	rolledUsesMin = n
	return func() { rolledUsesMin = old }
}

// SetClosedDaysMaxAge lets the external tests shorten how long closed
// days' token counts are kept without a new rollup version.
func SetClosedDaysMaxAge(d time.Duration) (restore func()) {
	old := closedDaysMaxAge
	closedDaysMaxAge = d
	return func() { closedDaysMaxAge = old }
}

// MonthsToCompact lets the external tests see which months CompactClosed
// would merge.
func (s *Store) MonthsToCompact(ctx context.Context, table string, now time.Time) ([]Compacted, error) {
	return s.monthsToCompact(ctx, table, now)
}

// SummariesToMerge lets the external tests see which summary tables
// MergeSummaries would merge.
func (s *Store) SummariesToMerge(ctx context.Context) ([]Compacted, error) {
	return s.summariesToMerge(ctx)
}

// AnalyticsCountsOnly lets the external tests read the per-value counts the
// lists' timelines use.
func (s *Store) AnalyticsCountsOnly(ctx context.Context, tenant string, iv Interval, from, to time.Time) ([]LoginBucket, []TokenBucket, error) {
	logins, err := s.loginAnalytics(ctx, tenant, iv, from, to, true)
	if err != nil {
		return nil, nil, err
	}
	tokens, err := s.tokenAnalytics(ctx, tenant, iv, from, to, true)
	return logins, tokens, err
}

// SetKeptListMin lets the external tests keep the closed part of lists of
// any size; it returns a function restoring the default.
func SetKeptListMin(n uint64) (restore func()) {
	old := keptListMin
	keptListMin = n
	return func() { keptListMin = old }
}
