package store

import (
	"testing"
	"time"
)

func TestFirstWindow(t *testing.T) {
	now := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	starts := windowStarts(time.Time{}, time.Time{}, now) // 1 h, 24 h, 7 d, 35 d, everything
	day := 24 * time.Hour
	for _, c := range []struct {
		name   string
		oldest time.Time
		total  uint64
		need   uint64
		want   int
	}{
		{"oldest unknown: start narrow", time.Time{}, 1_000_000, 20, 0},
		{"240 a day, first page: the last hour is not enough, a day is", now.Add(-90 * day), 21_600, 20, 1},
		{"24,000 an hour: the last hour", now.Add(-10 * day), 5_760_000, 20, 0},
		{"deep page of a heavy user: 35 days", now.Add(-90 * day), 19_000, 4_000, 3},
		{"deeper than 35 days hold: everything", now.Add(-90 * day), 19_000, 10_000, 4},
		{"all rows newer than an hour: the last hour", now.Add(-30 * time.Minute), 500, 100, 0},
	} {
		if got := firstWindow(starts, time.Time{}, now, c.oldest, c.total, c.need); got != c.want {
			t.Errorf("%s: window %d, want %d", c.name, got, c.want)
		}
	}
}

func TestExpectedRows(t *testing.T) {
	now := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	oldest := now.Add(-100 * time.Hour)
	for _, c := range []struct {
		name   string
		lo, to time.Time
		oldest time.Time
		want   uint64
	}{
		{"a tenth of the span", now.Add(-10 * time.Hour), time.Time{}, oldest, 100},
		{"from before the oldest: all", now.Add(-200 * time.Hour), time.Time{}, oldest, 1000},
		{"unbounded: all", time.Time{}, time.Time{}, oldest, 1000},
		{"oldest unknown", now.Add(-10 * time.Hour), time.Time{}, time.Time{}, 0},
		{"to in the future counts as now", now.Add(-10 * time.Hour), now.Add(48 * time.Hour), oldest, 100},
		{"window ending before it starts", now.Add(-10 * time.Hour), now.Add(-20 * time.Hour), oldest, 0},
	} {
		if got := expectedRows(c.lo, c.to, now, c.oldest, 1000); got != c.want {
			t.Errorf("%s: %d, want %d", c.name, got, c.want)
		}
	}
}

func TestWindowsEnd(t *testing.T) {
	now := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	yesterday := now.Add(-24 * time.Hour)
	for _, c := range []struct {
		name       string
		to, newest time.Time
		want       time.Time
	}{
		{"nothing known: now", time.Time{}, time.Time{}, now},
		{"rows up to now: now", time.Time{}, now.Add(-time.Second), now},
		{"last row yesterday: just after it", time.Time{}, yesterday, yesterday.Add(time.Second)},
		{"a row stamped ahead of now: now", time.Time{}, now.Add(time.Hour), now},
		{"to in the past, rows up to it: to", yesterday, yesterday.Add(-time.Second), yesterday},
		{"to in the past, last row earlier: just after it", yesterday, yesterday.Add(-time.Hour), yesterday.Add(-time.Hour + time.Second)},
		{"to ahead of now: now", now.Add(48 * time.Hour), time.Time{}, now},
	} {
		if got := windowsEnd(c.to, now, c.newest); !got.Equal(c.want) {
			t.Errorf("%s: %s, want %s", c.name, got, c.want)
		}
	}
}
