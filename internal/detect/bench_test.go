package detect

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/authwatch/authwatch/event"
)

// BenchmarkRules evaluates a realistic mix (85 % successes, 15 % failures)
// over 10,000 users and 2,000 IPs whose states have been warmed with 30
// successes each: every user and IP rule runs on every event.
func BenchmarkRules(b *testing.B) {
	c := DefaultConfig()
	const users, ips = 10_000, 2_000
	us := make([]UserState, users)
	is := make([]IPState, ips)
	devices := []Device{chromeW, safariM, iphone}
	places := []place{newYork, boston, paris}
	mk := func(i int, at time.Time) Login {
		st := event.StatusSuccess
		if i%7 == 0 {
			st = event.StatusFailed
		}
		p := places[(i%users)%3] // users stay where they are
		if i%50 == 0 {
			p = places[(i/users)%3] // and travel now and then
		}
		return Login{TenantID: "acme", UserID: fmt.Sprintf("u%d", i%users), ID: fmt.Sprintf("e%d", i), IP: fmt.Sprintf("10.0.%d.%d", (i/256)%8, i%256),
			Status: st, At: at, Device: devices[(i%users)%2], Country: p.country, City: p.city, Lat: p.lat, Lon: p.lon, Located: true}
	}
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range users * 30 {
		l := mk(i, start.Add(time.Duration(i)*7*time.Second))
		c.User(&us[i%users], l)
	}
	events := make([]Login, 100_000)
	base := start.Add(time.Duration(users*30) * 7 * time.Second)
	for i := range events {
		events[i] = mk(users*30+i, base.Add(time.Duration(i)*time.Second))
	}
	ids := make([]string, 1_000_000)
	for i := range ids {
		ids[i] = fmt.Sprint("b", i) // fresh ids: a redelivery would be skipped
	}
	b.ResetTimer()
	for i := range b.N {
		l := events[i%len(events)]
		l.ID = ids[i%len(ids)]
		c.User(&us[i%users], l)
		c.IP(&is[i%ips], l)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// TestStateSize reports the encoded size of a busy user's state: 100
// successes over 90 days from 3 devices in 2 countries, with failures.
func TestStateSize(t *testing.T) {
	c := DefaultConfig()
	var st UserState
	start := time.Date(2026, 1, 1, 8, 0, 0, 0, time.UTC)
	for i := range 120 {
		l := ok(0, []Device{chromeW, safariM, iphone}[i%3], []place{newYork, boston}[i%2])
		l.At = start.Add(time.Duration(i) * 18 * time.Hour)
		if i%6 == 0 {
			l.Status = event.StatusFailed
		}
		c.User(&st, l)
	}
	b, _ := json.Marshal(st)
	if len(b) > 4096 {
		t.Errorf("a busy user's state is %d bytes; the budget is 1 KiB on average and 4 KiB for a busy user", len(b))
	}
	t.Logf("busy user state: %d bytes", len(b))
}
