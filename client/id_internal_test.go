package client

import (
	"testing"
	"time"
)

// The time part of a ULID, checked against the ULID specification's
// example (1469918176385 ms is 01ARYZ6S41) and the extremes.
func TestULIDTimePart(t *testing.T) {
	for _, tt := range []struct {
		ms   int64
		want string
	}{
		{1469918176385, "01ARYZ6S41"},
		{0, "0000000000"},
		{1<<48 - 1, "7ZZZZZZZZZ"},
	} {
		if got := newULID(time.UnixMilli(tt.ms))[:10]; got != tt.want {
			t.Errorf("newULID(%d ms) starts %s, want %s", tt.ms, got, tt.want)
		}
	}
}
