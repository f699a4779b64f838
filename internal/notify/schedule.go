package notify

import (
	"fmt"
	"strings"
	"time"
)

// Schedule says when a failed attempt is tried again: Delays[n-1] after
// attempt n failed (the last delay repeats), for as long as the next
// attempt falls within For of the first one.
type Schedule struct {
	Delays []time.Duration
	For    time.Duration
}

// DefaultSchedule is SPEC §3's: after about 10 s, 30 s, 1 min, 5 min,
// 15 min and then hourly, for 24 h (29 attempts in all).
func DefaultSchedule() Schedule {
	return Schedule{
		Delays: []time.Duration{10 * time.Second, 30 * time.Second, time.Minute, 5 * time.Minute, 15 * time.Minute, time.Hour},
		For:    24 * time.Hour,
	}
}

// ParseDelays reads a comma-separated list of positive durations
// ("10s,30s,1m,5m,15m,1h").
func ParseDelays(s string) ([]time.Duration, error) {
	var out []time.Duration
	for _, part := range strings.Split(s, ",") {
		d, err := time.ParseDuration(strings.TrimSpace(part))
		if err != nil || d <= 0 {
			return nil, fmt.Errorf("%q: want positive durations separated by commas, such as 10s,30s,1m,5m,15m,1h", s)
		}
		out = append(out, d)
	}
	return out, nil
}

// Next is when attempt+1 is due after attempt (from 1) failed at failedAt,
// the first attempt having been made at first; ok is false when that is
// past the schedule's span: the delivery has failed for good.
func (s Schedule) Next(attempt int, first, failedAt time.Time) (next time.Time, ok bool) {
	if len(s.Delays) == 0 || attempt < 1 {
		return time.Time{}, false
	}
	next = failedAt.Add(s.Delays[min(attempt, len(s.Delays))-1])
	if next.Sub(first) > s.For {
		return time.Time{}, false
	}
	return next, true
}
