package detect

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/authwatch/authwatch/event"
)

var (
	t0      = time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)
	chromeW = Device{"desktop", "Chrome", "Windows"}
	safariM = Device{"desktop", "Safari", "macOS"}
	iphone  = Device{"mobile", "Safari", "iOS"}
)

type place struct {
	country, city string
	lat, lon      float64
}

var (
	newYork = place{"US", "New York", 40.71, -74.01}
	boston  = place{"US", "Boston", 42.36, -71.06}
	paris   = place{"FR", "Paris", 48.86, 2.35}
	nowhere = place{}
)

var seq int

// login builds a login of alice at t0+offset.
func login(offset time.Duration, status event.Status, d Device, p place) Login {
	seq++
	return Login{TenantID: "acme", UserID: "alice", ID: fmt.Sprintf("e%d", seq), IP: "203.0.113.7", Status: status,
		At: t0.Add(offset), Device: d, Country: p.country, City: p.city, Lat: p.lat, Lon: p.lon, Located: p.country != ""}
}

func ok(offset time.Duration, d Device, p place) Login {
	return login(offset, event.StatusSuccess, d, p)
}
func bad(offset time.Duration) Login { return login(offset, event.StatusFailed, chromeW, newYork) }

// rulesFired runs events through User and returns the rules each fired, per event.
func rulesFired(c Config, st *UserState, events ...Login) [][]Rule {
	out := make([][]Rule, len(events))
	for i, l := range events {
		for _, v := range c.User(st, l) {
			out[i] = append(out[i], v.Rule)
		}
	}
	return out
}

// lastFired is what the last event fired.
func lastFired(c Config, events ...Login) []Rule {
	var st UserState
	got := rulesFired(c, &st, events...)
	return got[len(got)-1]
}

func TestUserRules(t *testing.T) {
	day := 24 * time.Hour
	tests := []struct {
		name   string
		off    []Rule // switched off for the case
		events []Login
		want   []Rule // fired by the last event
	}{
		// new_device
		{"first login from anything is quiet", nil, []Login{ok(0, iphone, paris)}, nil},
		{"new device after a known one", []Rule{UnusualHour}, []Login{ok(0, chromeW, newYork), ok(time.Hour, safariM, newYork)}, []Rule{NewDevice}},
		{"same device, new browser version, is known", nil, []Login{ok(0, chromeW, newYork), ok(day, chromeW, newYork)}, nil},
		{"device unseen for 91 days is new again", []Rule{UnusualHour, NewCountry}, []Login{ok(0, chromeW, newYork), ok(time.Hour, safariM, newYork), ok(91*day, chromeW, newYork)}, []Rule{NewDevice}},
		{"device seen 89 days ago is known", []Rule{UnusualHour}, []Login{ok(0, chromeW, newYork), ok(time.Hour, safariM, newYork), ok(89*day, chromeW, newYork)}, nil},
		{"a failure from a new device is not a device", nil, []Login{ok(0, chromeW, newYork), login(time.Hour, event.StatusFailed, safariM, newYork)}, nil},
		{"new_device switched off", []Rule{NewDevice}, []Login{ok(0, chromeW, newYork), ok(time.Hour, safariM, newYork)}, nil},

		// new_country
		{"new country", nil, []Login{ok(0, chromeW, newYork), ok(30*day, chromeW, paris)}, []Rule{NewCountry}},
		{"same country, other city", nil, []Login{ok(0, chromeW, newYork), ok(day, chromeW, boston)}, nil},
		{"unknown place is no country", nil, []Login{ok(0, chromeW, newYork), ok(day, chromeW, nowhere)}, nil},
		{"first login abroad is quiet", nil, []Login{ok(0, chromeW, paris)}, nil},

		// impossible_travel (New York → Paris is about 5,840 km)
		{"New York to Paris in an hour", nil, []Login{ok(0, chromeW, newYork), ok(time.Hour, chromeW, paris)}, []Rule{NewCountry, ImpossibleTravel}},
		{"New York to Paris in eight hours is a flight", []Rule{NewCountry}, []Login{ok(0, chromeW, newYork), ok(8*time.Hour, chromeW, paris)}, nil},
		{"New York to Boston (306 km) at once is under 500 km", nil, []Login{ok(0, chromeW, newYork), ok(time.Minute, chromeW, boston)}, nil},
		{"geo rules off without GeoIP", []Rule{}, []Login{ok(0, chromeW, newYork), ok(time.Hour, chromeW, paris)}, nil},

		// failures_then_success
		{"three failures then success", nil, []Login{ok(-day, chromeW, newYork), bad(0), bad(time.Minute), bad(2 * time.Minute), ok(3*time.Minute, chromeW, newYork)}, []Rule{FailuresThenSuccess}},
		{"two failures then success", nil, []Login{bad(0), bad(time.Minute), ok(3*time.Minute, chromeW, newYork)}, nil},
		{"three failures 16 minutes before", nil, []Login{bad(0), bad(time.Minute), bad(2 * time.Minute), ok(18*time.Minute, chromeW, newYork)}, nil},
		{"fires on a first success too", nil, []Login{bad(0), bad(time.Minute), login(2*time.Minute, event.Status2FAFailed, chromeW, newYork), ok(3*time.Minute, chromeW, newYork)}, []Rule{FailuresThenSuccess}},
		{"failures are spent by the success", nil, []Login{bad(0), bad(time.Minute), bad(2 * time.Minute), ok(3*time.Minute, chromeW, newYork), ok(4*time.Minute, chromeW, newYork)}, nil},
		{"blocked attempts are not failures", nil, []Login{login(0, event.StatusBlocked, chromeW, newYork), login(time.Minute, event.StatusBlocked, chromeW, newYork), login(2*time.Minute, event.StatusBlocked, chromeW, newYork), ok(3*time.Minute, chromeW, newYork)}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig()
			if strings.Contains(tc.name, "without GeoIP") {
				c.Geo = false
			}
			for _, r := range tc.off {
				c.Off[r] = true
			}
			got := lastFired(c, tc.events...)
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("fired %v, want %v", got, tc.want)
			}
		})
	}
}

func TestUnusualHour(t *testing.T) {
	day := 24 * time.Hour
	// 20 earlier successes at 12:00 UTC on 20 days, then one at 03:00.
	var habit []Login
	for i := range 20 {
		habit = append(habit, ok(time.Duration(i)*day, chromeW, newYork))
	}
	night := ok(20*day-9*time.Hour, chromeW, newYork) // 03:00
	noon := ok(20*day+30*time.Minute, chromeW, newYork)

	with := func(extra ...Login) []Login { return append(slices.Clone(habit), extra...) }
	if got := lastFired(DefaultConfig(), with(night)...); fmt.Sprint(got) != "[unusual_hour]" {
		t.Errorf("03:00 after 20 noons: fired %v", got)
	}
	if got := lastFired(DefaultConfig(), with(noon)...); got != nil {
		t.Errorf("noon after 20 noons: fired %v", got)
	}
	if got := lastFired(DefaultConfig(), append(slices.Clone(habit[:19]), night)...); got != nil {
		t.Errorf("19 earlier successes are too few to judge: fired %v", got)
	}
	// One earlier 03:00 success of 21 is 4.8 %: still under 5 %.
	withOne := with(ok(-9*time.Hour-day, chromeW, newYork), night)
	if got := lastFired(DefaultConfig(), withOne...); fmt.Sprint(got) != "[unusual_hour]" {
		t.Errorf("1 of 21 at 03:00: fired %v", got)
	}
	// Two of 22 are 9 %: usual enough.
	withTwo := with(ok(-9*time.Hour-day, chromeW, newYork), ok(-9*time.Hour-2*day, chromeW, newYork), night)
	if got := lastFired(DefaultConfig(), withTwo...); got != nil {
		t.Errorf("2 of 22 at 03:00: fired %v", got)
	}
}

func TestOneAlertPerDay(t *testing.T) {
	c := DefaultConfig()
	c.Off[UnusualHour] = true
	var st UserState
	got := rulesFired(c, &st,
		ok(0, chromeW, newYork),
		ok(time.Hour, safariM, newYork),               // new device
		ok(2*time.Hour, iphone, newYork),              // another new device: its own subject
		ok(30*time.Hour, chromeW, newYork),            // known
		ok(30*time.Hour+time.Minute, iphone, newYork), // known by now
	)
	want := "[[] [new_device] [new_device] [] []]"
	if fmt.Sprint(got) != want {
		t.Errorf("fired %v, want %s", got, want)
	}
	// The same event again (a redelivery) gets the same verdicts, so alerts
	// lost in a crash go out again (with the same ids), and changes nothing.
	before, _ := json.Marshal(st)
	redelivered := ok(3*time.Hour, safariM, paris)
	first := c.User(&st, redelivered)
	mid, _ := json.Marshal(st)
	second := c.User(&st, redelivered)
	if len(first) == 0 || fmt.Sprint(second) != fmt.Sprint(first) {
		t.Errorf("redelivered event got %v, first time %v", second, first)
	}
	after, _ := json.Marshal(st)
	if string(mid) != string(after) || string(before) == string(mid) {
		t.Errorf("redelivery changed the state")
	}
}

func TestReasonsNameTheEvidence(t *testing.T) {
	c := DefaultConfig()
	var st UserState
	c.User(&st, ok(0, safariM, newYork))
	v := c.User(&st, ok(time.Hour, chromeW, paris))
	text := fmt.Sprint(v)
	for _, want := range []string{"Chrome on Windows (desktop)", "Safari on macOS (desktop), last seen 2026-03-02 12:00 UTC", "Paris, FR", "New York, US", "km/h"} {
		if !strings.Contains(text, want) {
			t.Errorf("reasons %q lack %q", text, want)
		}
	}
}

// failAt is a failed login from ip against account at t0+offset.
func failAt(offset time.Duration, ip, user, identifier string) Login {
	seq++
	return Login{TenantID: "acme", UserID: user, Identifier: identifier, ID: fmt.Sprintf("f%d", seq), IP: ip, Status: event.StatusFailed, At: t0.Add(offset)}
}

func TestIPLockout(t *testing.T) {
	const ip = "198.51.100.9"
	run := func(c Config, events ...Login) (fired []string, locks []*Lock, st IPState) {
		for _, l := range events {
			v, lock := c.IP(&st, l)
			for _, x := range v {
				fired = append(fired, fmt.Sprintf("%s@%s", x.Rule, l.ID))
			}
			if lock != nil {
				locks = append(locks, lock)
			}
		}
		return fired, locks, st
	}
	five := func(start time.Duration, step time.Duration) []Login {
		var out []Login
		for i := range 5 {
			out = append(out, failAt(start+time.Duration(i)*step, ip, fmt.Sprintf("u%d", i%2), ""))
		}
		return out
	}

	t.Run("fifth failure in 15 minutes locks for 15 minutes", func(t *testing.T) {
		ev := five(0, 3*time.Minute)
		fired, locks, _ := run(DefaultConfig(), ev...)
		if len(fired) != 1 || fired[0] != "ip_lockout@"+ev[4].ID {
			t.Fatalf("fired %v", fired)
		}
		if want := ev[4].At.Add(15 * time.Minute); !locks[0].Until.Equal(want) || locks[0].Attempts != 5 {
			t.Errorf("lock %+v, want until %s after 5 attempts", locks[0], want)
		}
	})
	t.Run("five failures over 16 minutes do not", func(t *testing.T) {
		fired, _, _ := run(DefaultConfig(), five(0, 4*time.Minute)...)
		if len(fired) != 0 {
			t.Errorf("fired %v", fired)
		}
	})
	t.Run("failures while locked neither extend nor count", func(t *testing.T) {
		ev := five(0, time.Minute)
		ev = append(ev, five(5*time.Minute, time.Minute)...)      // while locked
		ev = append(ev, five(20*time.Minute, time.Minute)[:4]...) // after: 4 are not 5
		fired, locks, st := run(DefaultConfig(), ev...)
		if len(fired) != 1 || len(locks) != 1 {
			t.Errorf("fired %v locks %d", fired, len(locks))
		}
		if st.LockedUntil != t0.Add(19*time.Minute).Unix() {
			t.Errorf("locked until %s", time.Unix(st.LockedUntil, 0).UTC())
		}
	})
	t.Run("allowlisted IP is never locked", func(t *testing.T) {
		c := DefaultConfig()
		c.Allow = []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24")}
		fired, locks, st := run(c, five(0, time.Minute)...)
		if len(fired)+len(locks) != 0 || len(st.Failures) != 0 {
			t.Errorf("fired %v locks %v state %+v", fired, locks, st)
		}
	})
	t.Run("a failure arriving late still completes the count, by time", func(t *testing.T) {
		ev := five(0, time.Minute)
		late := []Login{ev[0], ev[1], ev[3], ev[4], ev[2]} // the 3rd comes back after a crash
		fired, locks, _ := run(DefaultConfig(), late...)
		if len(fired) != 1 || fired[0] != "ip_lockout@"+ev[2].ID || len(locks) != 1 {
			t.Fatalf("fired %v locks %v", fired, locks)
		}
		if want := ev[4].At.Add(15 * time.Minute); !locks[0].Until.Equal(want) || locks[0].Attempts != 5 {
			t.Errorf("lock %+v, want until %s (15 minutes from the 5th failure by time)", locks[0], want)
		}
	})
	t.Run("a redelivered fifth failure gets the same lock", func(t *testing.T) {
		c := DefaultConfig()
		ev := five(0, time.Minute)
		_, locks, st := run(c, ev...)
		v, lock := c.IP(&st, ev[4])
		if len(v) != 1 || v[0].Rule != IPLockout || lock == nil || !lock.Until.Equal(locks[0].Until) || lock.Attempts != 5 {
			t.Errorf("redelivery: %v %+v", v, lock)
		}
	})
	t.Run("redelivered failures count once", func(t *testing.T) {
		ev := five(0, time.Minute)
		fired, _, _ := run(DefaultConfig(), ev[0], ev[1], ev[1], ev[2], ev[2], ev[3])
		if len(fired) != 0 {
			t.Errorf("fired %v", fired)
		}
	})
	t.Run("unlock forgets the lock and the count", func(t *testing.T) {
		c := DefaultConfig()
		_, _, st := run(c, five(0, time.Minute)...)
		st.Unlock(t0.Add(5 * time.Minute))
		v, lock := c.IP(&st, failAt(6*time.Minute, ip, "u1", ""))
		if v != nil || lock != nil || len(st.Failures) != 1 {
			t.Errorf("after unlock: %v %v %+v", v, lock, st)
		}
	})
}

func TestPasswordSpray(t *testing.T) {
	const ip = "192.0.2.50"
	spray := func(n int, step time.Duration) []Login {
		var out []Login
		for i := range n {
			user, identifier := fmt.Sprintf("user%d", i), ""
			if i%3 == 0 { // unknown accounts count by the name tried
				user, identifier = "", fmt.Sprintf("guess%d", i)
			}
			out = append(out, failAt(time.Duration(i)*step, ip, user, identifier))
		}
		return out
	}
	count := func(c Config, events []Login) (n int, at string) {
		var st IPState
		for _, l := range events {
			v, _ := c.IP(&st, l)
			for _, x := range v {
				if x.Rule == PasswordSpray {
					n++
					at = l.ID
				}
			}
		}
		return n, at
	}
	c := DefaultConfig()
	c.Off[IPLockout] = true
	ev := spray(12, 5*time.Minute)
	if n, at := count(c, ev); n != 1 || at != ev[9].ID {
		t.Errorf("12 accounts in 55 minutes: %d alerts at %s, want 1 at the 10th (%s)", n, at, ev[9].ID)
	}
	if n, _ := count(c, spray(9, time.Minute)); n != 0 {
		t.Errorf("9 accounts: %d alerts", n)
	}
	if n, _ := count(c, spray(10, 7*time.Minute)); n != 0 {
		t.Errorf("10 accounts over 63 minutes: %d alerts", n)
	}
	late := spray(10, 5*time.Minute)
	late = append(late[:3:3], append(late[4:], late[3])...) // the 4th account's failure comes back last
	if n, at := count(c, late); n != 1 || at != late[9].ID {
		t.Errorf("10 accounts, one arriving late: %d alerts at %s, want 1 at the late one", n, at)
	}
	same := []Login{}
	for i := range 20 {
		same = append(same, failAt(time.Duration(i)*time.Minute, ip, "alice", ""))
	}
	if n, _ := count(c, same); n != 0 {
		t.Errorf("one account 20 times: %d alerts", n)
	}
}

func TestTokenNewNetwork(t *testing.T) {
	use := func(offset time.Duration, ip string, action event.TokenAction) TokenUse {
		seq++
		return TokenUse{TenantID: "acme", TokenID: "tok_1", ID: fmt.Sprintf("t%d", seq), IP: ip, Action: action, At: t0.Add(offset)}
	}
	day := 24 * time.Hour
	tests := []struct {
		name   string
		events []TokenUse
		want   int
	}{
		{"new network on day 3", []TokenUse{use(0, "203.0.113.5", "authenticated"), use(2*day, "198.51.100.1", "authenticated")}, 1},
		{"same /24", []TokenUse{use(0, "203.0.113.5", "authenticated"), use(2*day, "203.0.113.200", "authenticated")}, 0},
		{"within the first 24 hours", []TokenUse{use(0, "203.0.113.5", "authenticated"), use(23*time.Hour, "198.51.100.1", "authenticated")}, 0},
		{"a failed use is not a use", []TokenUse{use(0, "203.0.113.5", "authenticated"), use(2*day, "198.51.100.1", "failed")}, 0},
		{"network unseen for 31 days", []TokenUse{use(0, "203.0.113.5", "authenticated"), use(32*day, "203.0.113.5", "authenticated")}, 1},
		{"network seen 29 days ago", []TokenUse{use(0, "203.0.113.5", "authenticated"), use(29*day, "203.0.113.5", "authenticated")}, 0},
		{"IPv6 /48", []TokenUse{use(0, "2001:db8:1:1::1", "authenticated"), use(2*day, "2001:db8:1:ffff::1", "authenticated"), use(3*day, "2001:db8:2::1", "authenticated")}, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig()
			var st TokenState
			n := 0
			for _, u := range tc.events {
				n += len(c.Token(&st, u))
			}
			if n != tc.want {
				t.Errorf("%d alerts, want %d", n, tc.want)
			}
		})
	}
}

func TestFromEnv(t *testing.T) {
	env := map[string]string{"DETECT_DISABLE": "unusual_hour, new_device", "DETECT_LOCKOUT_FAILURES": "8", "DETECT_SPRAY_WINDOW": "2h",
		"LOCKOUT_ALLOW_CIDRS": "10.0.0.0/8, 192.0.2.1"}
	c, err := FromEnv(func(k string) string { return env[k] }, false)
	if err != nil {
		t.Fatal(err)
	}
	if c.On(UnusualHour) || c.On(NewDevice) || c.On(NewCountry) || !c.On(IPLockout) || c.LockoutFailures != 8 || c.SprayWindow != 2*time.Hour {
		t.Errorf("config %+v", c)
	}
	if !c.Allowed(netip.MustParseAddr("10.1.2.3")) || !c.Allowed(netip.MustParseAddr("192.0.2.1")) || c.Allowed(netip.MustParseAddr("192.0.2.2")) {
		t.Errorf("allowlist %v", c.Allow)
	}
	bad := map[string]string{"DETECT_DISABLE": "new_devise", "DETECT_LOCKOUT_WINDOW": "soon", "LOCKOUT_ALLOW_CIDRS": "10.0.0.0/33"}
	_, err = FromEnv(func(k string) string { return bad[k] }, true)
	for _, name := range []string{"DETECT_DISABLE", "DETECT_LOCKOUT_WINDOW", "LOCKOUT_ALLOW_CIDRS"} {
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("error %v does not name %s", err, name)
		}
	}
}

func TestAlertIDAndJSON(t *testing.T) {
	if AlertID("acme", "e1", NewDevice) != AlertID("acme", "e1", NewDevice) || AlertID("acme", "e1", NewDevice) == AlertID("acme", "e1", NewCountry) ||
		AlertID("acme", "e1", NewDevice) == AlertID("globex", "e1", NewDevice) {
		t.Error("alert ids must be stable per (tenant, event, rule) and differ otherwise")
	}
	a := NewAlert("acme", "", "e1", "198.51.100.9", "", t0.Add(123*time.Millisecond), t0.Add(time.Second), Verdict{Rule: IPLockout, Reasons: []string{"x"}})
	b, err := a.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	want := `{"id":"` + a.ID + `","tenant_id":"acme","user_id":null,"event_id":"e1","rule":"ip_lockout","severity":"high","reasons":["x"],"ip_address":"198.51.100.9","country":null,"occurred_at":"2026-03-02T12:00:00Z","detected_at":"2026-03-02T12:00:01Z"}`
	if string(b) != want {
		t.Errorf("alert JSON\n got %s\nwant %s", b, want)
	}
}
