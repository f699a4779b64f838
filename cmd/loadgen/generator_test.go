package main

import (
	"encoding/json"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/authwatch/authwatch/event"
)

// simulate drives g with a clock that starts at noon UTC and advances by
// step per event, as a paced run would.
func simulate(t *testing.T, g *generator, n int, step time.Duration) []*event.Event {
	t.Helper()
	now := time.Date(2025, 6, 2, 12, 0, 0, 0, time.UTC)
	evs := make([]*event.Event, 0, n)
	for range n {
		evs = append(evs, g.Next(now))
		now = now.Add(step)
	}
	return evs
}

func testConfig(seed uint64, attacks ...string) genConfig {
	return genConfig{
		Tenants: 5, Users: 200, Tokens: 50, TokenShare: 0.4,
		Attacks: attacks, AttackEvery: 15 * time.Second, Seed: seed,
	}
}

func mustGenerator(t *testing.T, cfg genConfig) *generator {
	t.Helper()
	g, err := newGenerator(cfg)
	if err != nil {
		t.Fatalf("new generator: %v", err)
	}
	return g
}

var idPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

func TestGeneratedEventsAreValidAndVaried(t *testing.T) {
	g := mustGenerator(t, testConfig(7, attackNames...))
	evs := simulate(t, g, 20000, 20*time.Millisecond)

	ids := map[string]bool{}
	statuses := map[event.Status]int{}
	actions := map[event.TokenAction]int{}
	types := map[event.TokenType]int{}
	envs := map[event.Environment]int{}
	var tokens, unknown int
	for _, ev := range evs {
		if err := ev.Validate(); err != nil {
			t.Fatalf("invalid event %+v: %v", ev, err)
		}
		if ids[ev.ID] {
			t.Fatalf("duplicate id %s", ev.ID)
		}
		ids[ev.ID] = true
		if !idPattern.MatchString(ev.ID) {
			t.Fatalf("id %q has characters outside [A-Za-z0-9_-]", ev.ID)
		}
		if ev.OccurredAt.Location() != time.UTC || !ev.OccurredAt.Equal(ev.OccurredAt.Truncate(time.Millisecond)) {
			t.Fatalf("occurred_at %v is not UTC at millisecond precision", ev.OccurredAt)
		}
		if data, err := json.Marshal(ev); err != nil || len(data) > event.MaxPayloadBytes {
			t.Fatalf("event marshals to %d bytes (%v)", len(data), err)
		}
		switch ev.Kind {
		case event.KindLogin:
			statuses[ev.Status]++
			if ev.UserID == "" {
				unknown++
				if ev.Identifier == "" {
					t.Errorf("unknown-account failure without identifier: %+v", ev)
				}
			}
		case event.KindToken:
			tokens++
			actions[ev.Action]++
			types[ev.TokenType]++
			envs[ev.Environment]++
		}
	}

	// Logins follow the users' routine hours (fewer at quiet hours, the slot
	// going to API traffic), so token events are at least the share asked for.
	if share := float64(tokens) / float64(len(evs)); share < 0.35 || share > 0.8 {
		t.Errorf("token share %.2f, want 0.4 or more (quiet hours), and logins still common", share)
	}
	for _, s := range event.Statuses {
		if statuses[s] == 0 {
			t.Errorf("no login with status %s", s)
		}
	}
	if logins := len(evs) - tokens; float64(statuses[event.StatusSuccess])/float64(logins) < 0.75 {
		t.Errorf("only %d of %d logins succeed; real traffic is mostly successes", statuses[event.StatusSuccess], logins)
	}
	if unknown == 0 {
		t.Error("no failures on unknown accounts")
	}
	for _, a := range event.TokenActions {
		if actions[a] == 0 {
			t.Errorf("no token event %s", a)
		}
	}
	if float64(actions[event.TokenAuthenticated])/float64(tokens) < 0.8 {
		t.Errorf("only %d of %d token events authenticate; most should", actions[event.TokenAuthenticated], tokens)
	}
	for _, tt := range event.TokenTypes {
		if types[tt] == 0 {
			t.Errorf("no token of type %s", tt)
		}
	}
	for _, e := range event.Environments {
		if envs[e] == 0 {
			t.Errorf("no token in environment %s", e)
		}
	}
}

func TestGeneratorIsDeterministic(t *testing.T) {
	encode := func(seed uint64) string {
		g := mustGenerator(t, testConfig(seed, attackNames...))
		data, err := json.Marshal(simulate(t, g, 2000, 50*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		return string(data)
	}
	if encode(42) != encode(42) {
		t.Error("same seed, different events")
	}
	if encode(42) == encode(43) {
		t.Error("different seeds, same events")
	}
}

func TestUsersKeepToTheirDevicesAndDaytime(t *testing.T) {
	g := mustGenerator(t, testConfig(3))
	users := map[string]*user{}
	for _, tn := range g.tenants {
		for _, u := range tn.users {
			users[u.id] = u
		}
	}
	evs := simulate(t, g, 5000, 10*time.Millisecond)
	var logins, awake int
	for _, ev := range evs {
		if ev.Kind != event.KindLogin || ev.UserID == "" {
			continue
		}
		u := users[ev.UserID]
		logins++
		if u.awake(ev.OccurredAt) {
			awake++
		}
		if !slices.ContainsFunc(u.devices, func(d *device) bool { return slices.Contains(d.userAgents, ev.UserAgent) }) {
			t.Fatalf("user %s logged in with %q, not one of their devices", u.id, ev.UserAgent)
		}
		if !slices.Contains(u.ips, ev.IPAddress) {
			t.Fatalf("user %s logged in from %s, not one of their addresses %v", u.id, ev.IPAddress, u.ips)
		}
	}
	if logins == 0 || awake != logins {
		t.Errorf("%d of %d logins in the user's routine hours, want all", awake, logins)
	}
}

// Each attack must produce the pattern its detector rule looks for
// (SPEC §4), and ordinary traffic must not.
func TestAttacksProduceTheirPatterns(t *testing.T) {
	tests := []struct {
		attacks []string
		found   func(g *generator, evs []*event.Event) bool
		want    bool
	}{
		{[]string{attackBruteforce}, bruteforceSeen, true},
		{nil, bruteforceSeen, false},
		{[]string{attackSpray}, spraySeen, true},
		{nil, spraySeen, false},
		{[]string{attackTravel}, travelSeen, true},
		{nil, travelSeen, false},
		{[]string{attackNewDevice}, newDeviceSeen, true},
		{nil, newDeviceSeen, false},
		{[]string{attackLeakedToken}, leakedTokenSeen, true},
		{nil, leakedTokenSeen, false},
	}
	for _, tt := range tests {
		name := strings.Join(tt.attacks, ",")
		if name == "" {
			name = "none"
		}
		for seed := uint64(1); seed <= 3; seed++ {
			g := mustGenerator(t, testConfig(seed, tt.attacks...))
			// Five minutes at 10 events/s: long enough for the travel
			// attack's second login, slow enough for ordinary failures to
			// stay spread out.
			evs := simulate(t, g, 3000, 100*time.Millisecond)
			if got := tt.found(g, evs); got != tt.want {
				t.Errorf("attacks %s, seed %d: pattern found %v, want %v", name, seed, got, tt.want)
			}
		}
	}
}

// As fast as possible the clock hardly moves; attacks must still come,
// paced by events.
func TestAttacksComeWhenTheClockStandsStill(t *testing.T) {
	g := mustGenerator(t, testConfig(11, attackNames...))
	evs := simulate(t, g, 40000, 0)
	for name, found := range map[string]func(*generator, []*event.Event) bool{
		attackBruteforce:  bruteforceSeen,
		attackSpray:       spraySeen,
		attackTravel:      travelSeen,
		attackNewDevice:   newDeviceSeen,
		attackLeakedToken: leakedTokenSeen,
	} {
		if !found(g, evs) {
			t.Errorf("no %s pattern in 40000 events at one instant", name)
		}
	}
}

func isFailure(ev *event.Event) bool {
	return ev.Kind == event.KindLogin && (ev.Status == event.StatusFailed || ev.Status == event.Status2FAFailed)
}

// bruteforceSeen: one IP failing 6 or more times within a minute.
func bruteforceSeen(_ *generator, evs []*event.Event) bool {
	failures := map[string][]time.Time{}
	for _, ev := range evs {
		if !isFailure(ev) {
			continue
		}
		times := append(failures[ev.IPAddress], ev.OccurredAt)
		failures[ev.IPAddress] = times
		if len(times) >= 6 && ev.OccurredAt.Sub(times[len(times)-6]) <= time.Minute {
			return true
		}
	}
	return false
}

// spraySeen: one IP failing against 12 distinct accounts.
func spraySeen(_ *generator, evs []*event.Event) bool {
	accounts := map[string]map[string]bool{}
	for _, ev := range evs {
		if !isFailure(ev) {
			continue
		}
		account := ev.UserID
		if account == "" {
			account = "identifier:" + ev.Identifier
		}
		if accounts[ev.IPAddress] == nil {
			accounts[ev.IPAddress] = map[string]bool{}
		}
		accounts[ev.IPAddress][account] = true
		if len(accounts[ev.IPAddress]) >= 12 {
			return true
		}
	}
	return false
}

// travelSeen: a user succeeding from London's range, then from Sydney's
// within ten minutes.
func travelSeen(_ *generator, evs []*event.Event) bool {
	london := map[string]time.Time{}
	for _, ev := range evs {
		if ev.Kind != event.KindLogin || ev.Status != event.StatusSuccess {
			continue
		}
		switch {
		case strings.HasPrefix(ev.IPAddress, "81.2.69."):
			london[ev.UserID] = ev.OccurredAt
		case strings.HasPrefix(ev.IPAddress, "203.0.113."):
			if at, ok := london[ev.UserID]; ok && ev.OccurredAt.Sub(at) < 10*time.Minute {
				return true
			}
		}
	}
	return false
}

// newDeviceSeen: a user who succeeded before succeeds on a device that is
// not one of theirs.
func newDeviceSeen(g *generator, evs []*event.Event) bool {
	users := map[string]*user{}
	for _, tn := range g.tenants {
		for _, u := range tn.users {
			users[u.id] = u
		}
	}
	succeeded := map[string]bool{}
	for _, ev := range evs {
		if ev.Kind != event.KindLogin || ev.Status != event.StatusSuccess {
			continue
		}
		u := users[ev.UserID]
		own := slices.ContainsFunc(u.devices, func(d *device) bool { return slices.Contains(d.userAgents, ev.UserAgent) })
		if !own && succeeded[ev.UserID] {
			return true
		}
		succeeded[ev.UserID] = true
	}
	return false
}

// leakedTokenSeen: a token that authenticated before authenticates from a
// /24 it has not been used from.
func leakedTokenSeen(_ *generator, evs []*event.Event) bool {
	networks := map[string]map[string]bool{}
	for _, ev := range evs {
		if ev.Kind != event.KindToken || ev.Action != event.TokenAuthenticated {
			continue
		}
		network := ev.IPAddress[:strings.LastIndexByte(ev.IPAddress, '.')]
		seen := networks[ev.TokenID]
		if len(seen) > 0 && !seen[network] {
			return true
		}
		if seen == nil {
			seen = map[string]bool{}
			networks[ev.TokenID] = seen
		}
		seen[network] = true
	}
	return false
}

func TestNewGeneratorRejectsBadConfig(t *testing.T) {
	for name, cfg := range map[string]genConfig{
		"no tenants":     {Tenants: 0, Users: 1},
		"no users":       {Tenants: 1, Users: 0},
		"share above 1":  {Tenants: 1, Users: 1, TokenShare: 1.5},
		"unknown attack": {Tenants: 1, Users: 1, Attacks: []string{"ddos"}, AttackEvery: time.Second},
	} {
		if _, err := newGenerator(cfg); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestBar(t *testing.T) {
	for _, tt := range []struct {
		done, total int64
		want        string
	}{
		{0, 10, "[------------------------------]   0%"},
		{5, 10, "[###############---------------]  50%"},
		{12, 10, "[##############################] 100%"},
	} {
		if got := bar(tt.done, tt.total); got != tt.want {
			t.Errorf("bar(%d, %d) = %q, want %q", tt.done, tt.total, got, tt.want)
		}
	}
}
