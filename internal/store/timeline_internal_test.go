package store

import (
	"testing"
	"time"
)

func TestSeekPage(t *testing.T) {
	h0 := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	hour := func(i int) time.Time { return h0.Add(-time.Duration(i) * time.Hour) }
	// Newest first: 12:00 holds 3 matching rows (of 4), 11:00 none (of 1),
	// 10:00 5 (of 9), 09:00 2 (of 2).
	hours := []hourCount{{hour(0), 3, 4}, {hour(1), 0, 1}, {hour(2), 5, 9}, {hour(3), 2, 2}}
	for _, c := range []struct {
		name           string
		offset, limit  uint64
		lo, hi         time.Time
		skip           uint64
		toStart, found bool
		rows           uint64 // of any status in [lo, hi)
	}{
		{"first page inside the newest hour", 0, 2, hour(0), hour(0).Add(time.Hour), 0, false, true, 4},
		{"first page across an empty hour", 0, 4, hour(2), hour(0).Add(time.Hour), 0, false, true, 14},
		{"page starting at an hour's first row", 3, 5, hour(2), hour(2).Add(time.Hour), 0, false, true, 9},
		{"page starting inside an hour", 5, 2, hour(2), hour(2).Add(time.Hour), 2, false, true, 9},
		{"page ending exactly at the last row", 8, 2, hour(3), hour(3).Add(time.Hour), 0, false, true, 2},
		{"page running past the counted hours", 7, 10, hour(3), hour(2).Add(time.Hour), 4, true, true, 11},
		{"offset past every counted row", 10, 5, time.Time{}, time.Time{}, 0, false, false, 0},
	} {
		lo, hi, skip, toStart, found := seekPage(hours, c.offset, c.limit)
		if !lo.Equal(c.lo) || !hi.Equal(c.hi) || skip != c.skip || toStart != c.toStart || found != c.found {
			t.Errorf("%s: got [%s, %s) skip %d toStart %v found %v; want [%s, %s) skip %d toStart %v found %v", c.name,
				lo.Format("15:04"), hi.Format("15:04"), skip, toStart, found, c.lo.Format("15:04"), c.hi.Format("15:04"), c.skip, c.toStart, c.found)
		}
		if n := spanRows(hours, lo, hi); n != c.rows {
			t.Errorf("%s: %d rows in [%s, %s), want %d", c.name, n, lo.Format("15:04"), hi.Format("15:04"), c.rows)
		}
	}
}

// A new rollup version makes the entries read under older ones unreachable:
// they are dropped, and the cache's size follows.
func TestReadCacheDropsOlderVersions(t *testing.T) {
	c := newReadCache()
	rows := map[int64][]uint64{1: {1}, 2: {2}}
	c.rolled[rolledKey{kind: "logins", version: 1}] = rows
	c.rolled[rolledKey{kind: "logins", version: 2}] = rows
	c.rolled[rolledKey{kind: "tokens", version: 1}] = rows
	c.counts[countKey{kind: "logins", what: "older", version: 1}] = 7
	c.held = 3*(len(rows)+1) + 1
	c.dropOlder("logins", 2)
	if _, ok := c.rolled[rolledKey{kind: "logins", version: 2}]; !ok || len(c.rolled) != 2 || len(c.counts) != 0 {
		t.Errorf("after dropping logins before version 2: rolled %v, counts %v", c.rolled, c.counts)
	}
	if c.held != 2*(len(rows)+1) {
		t.Errorf("held = %d, want %d", c.held, 2*(len(rows)+1))
	}
}
