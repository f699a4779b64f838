package store

import (
	"testing"
	"time"
)

func TestPartitionEnd(t *testing.T) {
	tests := []struct {
		part   string
		yearly bool
		want   time.Time
		ok     bool
	}{
		{"202601", false, time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC), true},
		{"202612", false, time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC), true},
		{"2026", true, time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC), true},
		{"202613", false, time.Time{}, false},
		{"tuple()", false, time.Time{}, false},
	}
	for _, tc := range tests {
		got, ok := partitionEnd(tc.part, tc.yearly)
		if ok != tc.ok || !got.Equal(tc.want) {
			t.Errorf("partitionEnd(%q, %v) = %s, %v; want %s, %v", tc.part, tc.yearly, got, ok, tc.want, tc.ok)
		}
	}
}
