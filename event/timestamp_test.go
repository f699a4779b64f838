package event

import (
	"strings"
	"testing"
	"time"
)

func TestParseTimestamp(t *testing.T) {
	tests := []struct {
		in   string
		want string // RFC 3339 in UTC, or "" when in must be refused
	}{
		{"2025-12-27T20:57:29Z", "2025-12-27T20:57:29Z"},
		{"2025-12-27T20:57:29.123Z", "2025-12-27T20:57:29.123Z"},
		{"2025-12-27T20:57:29.000000001Z", "2025-12-27T20:57:29.000000001Z"},
		{"2025-12-27T20:57:29.1234567890Z", ""},
		{"2025-12-27T20:57:29.Z", ""},
		{"2025-12-27t20:57:29z", "2025-12-27T20:57:29Z"},
		{"2025-12-28T02:27:29+05:30", "2025-12-27T20:57:29Z"},
		{"2025-12-27T15:57:29-05:00", "2025-12-27T20:57:29Z"},
		{"2025-12-27T20:57:29-00:00", "2025-12-27T20:57:29Z"},
		{"2025-12-31T23:30:00-23:59", "2026-01-01T23:29:00Z"},
		{"2025-12-27T20:57:29+24:00", ""},
		{"2025-12-27T20:57:29+05:60", ""},
		{"2025-12-27T20:57:29+0530", ""},
		{"2025-12-27T20:57:29+05", ""},
		{"2025-12-27T20:57:29", ""},
		{"2025-12-27T20:57:29ZZ", ""},
		{"2025-12-27 20:57:29Z", ""},
		{"2024-02-29T00:00:00Z", "2024-02-29T00:00:00Z"},
		{"2000-02-29T00:00:00Z", "2000-02-29T00:00:00Z"},
		{"2100-02-29T00:00:00Z", ""},
		{"2025-02-29T00:00:00Z", ""},
		{"2025-04-31T00:00:00Z", ""},
		{"2025-13-01T00:00:00Z", ""},
		{"2025-00-01T00:00:00Z", ""},
		{"2025-01-00T00:00:00Z", ""},
		{"2025-01-01T24:00:00Z", ""},
		{"2025-01-01T23:60:00Z", ""},
		{"2016-12-31T23:59:60Z", ""},
		{"2025-1-01T00:00:00Z", ""},
		{"-025-01-01T00:00:00Z", ""},
		{"2025-01-01T00:00:00.-1Z", ""},
		{"", ""},
	}
	for _, tt := range tests {
		got, _, ok := parseTimestamp([]byte(tt.in))
		if tt.want == "" {
			if ok {
				t.Errorf("parseTimestamp(%q) = %v, want refused", tt.in, got)
			}
			continue
		}
		if !ok {
			t.Errorf("parseTimestamp(%q) refused, want %s", tt.in, tt.want)
			continue
		}
		if s := got.Format(time.RFC3339Nano); s != tt.want || got.Location() != time.UTC {
			t.Errorf("parseTimestamp(%q) = %s, want %s in UTC", tt.in, s, tt.want)
		}
	}
}

// FuzzParseTimestamp holds parseTimestamp to time.Parse: whatever it accepts,
// time.Parse accepts as the same instant. (time.Parse also takes more than 9
// fraction digits; parseTimestamp refuses them by design.)
func FuzzParseTimestamp(f *testing.F) {
	for _, s := range []string{"2025-12-27T20:57:29.123Z", "2025-12-28T02:27:29+05:30", "1970-01-01T00:00:00Z", "2016-12-31T23:59:60Z"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, _, ok := parseTimestamp([]byte(s))
		// time.Parse wants upper case; RFC 3339 allows both.
		want, err := time.Parse(time.RFC3339Nano, strings.ToUpper(s))
		if err != nil {
			if ok {
				t.Fatalf("parseTimestamp(%q) = %v, time.Parse: %v", s, got, err)
			}
			return
		}
		if !ok {
			// time.Parse takes more than 9 fraction digits and ","; a
			// time.Parse-valid input is refused only for those.
			return
		}
		if !got.Equal(want) {
			t.Fatalf("parseTimestamp(%q) = %v, time.Parse = %v", s, got, want)
		}
	})
}

func TestDaysSinceEpoch(t *testing.T) {
	for day := time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC); day.Year() < 2401; day = day.AddDate(0, 0, 1) {
		want := day.Unix() / 86400
		if got := daysSinceEpoch(day.Year(), int(day.Month()), day.Day()); got != want {
			t.Fatalf("daysSinceEpoch(%s) = %d, want %d", day.Format(time.DateOnly), got, want)
		}
	}
}
