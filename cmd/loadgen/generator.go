package main

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/authwatch/authwatch/event"
)

// Attack patterns the generator can mix in, named as on the command line.
const (
	attackBruteforce  = "bruteforce"
	attackSpray       = "spray"
	attackTravel      = "travel"
	attackNewDevice   = "newdevice"
	attackLeakedToken = "leakedtoken"
)

var attackNames = []string{attackBruteforce, attackSpray, attackTravel, attackNewDevice, attackLeakedToken}

// Attacks are paced by time, as real ones are, but also by events, so that
// a run as fast as possible (thousands of events a second, over in
// seconds) still carries them. Whichever comes first: a new attack after
// AttackEvery or attackEveryEvents events; its next step after the step's
// delay or stepEvents events (travelStepEvents for the second login of
// the travel attack, so that at a steady rate it still comes minutes later).
const (
	attackEveryEvents = 5000
	stepEvents        = 200
	travelStepEvents  = 20000
)

// genConfig shapes the simulated population.
type genConfig struct {
	Tenants     int
	Users       int     // per tenant
	Tokens      int     // per tenant
	TokenShare  float64 // fraction of events that are token events
	Attacks     []string
	AttackEvery time.Duration // how often an attack starts, round robin over Attacks
	Seed        uint64
}

// generator turns a seeded random source and the current time into a
// stream of realistic events. It does no I/O: the same config, seed and
// sequence of times give the same events.
type generator struct {
	cfg     genConfig
	rng     *rand.Rand
	tenants []*tenant

	count           int64     // events generated so far
	nextAttack      time.Time // zero: start the first attack on the first call
	nextAttackCount int64
	attackIdx       int
	active          []*attack
}

type tenant struct {
	id     string
	users  []*user
	tokens []*token

	byHour  [24][]*user // users whose routine includes this UTC hour
	busiest int         // the most users any hour has
}

type user struct {
	id, name, email string
	home            *region
	devices         []*device
	ips             []string // usual addresses, in home's /24
	habits          []int    // the local hours this user logs in at: people have routines
	logins          int
	lastFailure     time.Time
	seen            bool // has succeeded at least once in this run
}

type token struct {
	id, name string
	typ      event.TokenType
	env      event.Environment
	owner    *user
	network  *region  // where it is normally used from: one /24
	ips      []string // in network
	ua       string
	fresh    bool // just created: its next event is "created"
	used     bool // has had an authenticated event in this run
}

// attack is a scripted sequence of events, each due some time (or some
// events) after the one before it.
type attack struct {
	due      time.Time
	dueCount int64
	steps    []attackStep
}

type attackStep struct {
	after       time.Duration // after the previous step
	afterEvents int64         // or after this many events; 0 means stepEvents
	event       func(now time.Time) *event.Event
}

func (s attackStep) events() int64 {
	if s.afterEvents > 0 {
		return s.afterEvents
	}
	return stepEvents
}

func newGenerator(cfg genConfig) (*generator, error) {
	if cfg.Tenants < 1 || cfg.Users < 1 || cfg.Tokens < 0 {
		return nil, fmt.Errorf("need at least one tenant and one user per tenant, and no negative token count")
	}
	if cfg.TokenShare < 0 || cfg.TokenShare > 1 {
		return nil, fmt.Errorf("token share %v: want a fraction between 0 and 1", cfg.TokenShare)
	}
	for _, a := range cfg.Attacks {
		if !slices.Contains(attackNames, a) {
			return nil, fmt.Errorf("unknown attack %q: want some of %s", a, strings.Join(attackNames, ","))
		}
	}
	if len(cfg.Attacks) > 0 && cfg.AttackEvery <= 0 {
		return nil, fmt.Errorf("attack interval %v: want more than 0", cfg.AttackEvery)
	}
	g := &generator{
		cfg: cfg,
		// Two words of state from one seed; the constant only makes them differ.
		rng: rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15)),
	}
	for i := range cfg.Tenants {
		g.tenants = append(g.tenants, g.newTenant(i))
	}
	return g, nil
}

func (g *generator) newTenant(i int) *tenant {
	id := fmt.Sprintf("tenant-%d", i+1)
	if i < len(tenantNames) {
		id = tenantNames[i]
	}
	t := &tenant{id: id}
	for range g.cfg.Users {
		u := g.newUser(t)
		t.users = append(t.users, u)
		for _, h := range u.habits {
			utc := ((h-u.home.utcOffset)%24 + 24) % 24
			t.byHour[utc] = append(t.byHour[utc], u)
		}
	}
	for _, users := range t.byHour {
		t.busiest = max(t.busiest, len(users))
	}
	for range g.cfg.Tokens {
		t.tokens = append(t.tokens, g.newToken(t, false))
	}
	return t
}

func (g *generator) newUser(t *tenant) *user {
	first, last := pick(g.rng, firstNames), pick(g.rng, lastNames)
	home := &regions[g.weightedRegion()]
	u := &user{
		id:    "usr_" + g.randomString(12),
		name:  first + " " + last,
		email: fmt.Sprintf("%s.%s%d@%s.example", asciiLower(first), asciiLower(last), g.rng.IntN(100), t.id),
		home:  home,
	}
	// Start of the working day and the evening: a routine. An hour outside
	// it is what unusual_hour is for, so benign traffic keeps to it (a real
	// user strays now and then; that is the rule's business).
	u.habits = []int{7 + g.rng.IntN(3), 19 + g.rng.IntN(3)}
	// One to three devices: a laptop, often a phone, sometimes a tablet.
	order := g.rng.Perm(len(devices))
	for _, d := range order[:1+g.rng.IntN(3)] {
		u.devices = append(u.devices, &devices[d])
	}
	// Home and, for some, a second address (the other ISP, the office).
	for range 1 + g.rng.IntN(2) {
		u.ips = append(u.ips, g.ipIn(home))
	}
	return u
}

func (g *generator) newToken(t *tenant, fresh bool) *token {
	owner := pick(g.rng, t.users)
	tk := &token{
		id:    "tok_" + g.randomString(16),
		name:  pick(g.rng, tokenNames),
		owner: owner,
		fresh: fresh,
	}
	switch r := g.rng.Float64(); {
	case r < 0.6:
		tk.typ = event.TokenSecret
	case r < 0.85:
		tk.typ = event.TokenPublishable
	default:
		tk.typ = event.TokenRestricted
	}
	tk.env = event.EnvLive
	if g.rng.Float64() < 0.3 {
		tk.env = event.EnvTest
	}
	if tk.typ == event.TokenPublishable {
		// Publishable keys live in web pages and apps: their owner's users.
		tk.ua = pick(g.rng, pick(g.rng, devices).userAgents)
	} else {
		tk.ua = pick(g.rng, apiClients)
	}
	// A server, or two behind one load balancer: one /24.
	tk.network = &regions[g.weightedRegion()]
	for range 1 + g.rng.IntN(2) {
		tk.ips = append(tk.ips, g.ipIn(tk.network))
	}
	return tk
}

// Next returns the event to send at now: an attack step when one is due,
// otherwise ordinary traffic.
func (g *generator) Next(now time.Time) *event.Event {
	now = now.UTC().Truncate(time.Millisecond)
	g.count++
	if ev := g.nextAttackStep(now); ev != nil {
		return ev
	}
	t := pick(g.rng, g.tenants)
	if len(t.tokens) > 0 && g.rng.Float64() < g.cfg.TokenShare {
		return g.tokenEvent(now, t)
	}
	return g.loginEvent(now, t)
}

// loginEvent is an ordinary login: mostly successes from a user's own
// devices and addresses, during the user's day.
func (g *generator) loginEvent(now time.Time, t *tenant) *event.Event {
	r := g.rng.Float64()
	if r < 0.01 {
		// Someone trying an account that does not exist.
		ip := g.ipIn(&regions[g.weightedRegion()])
		return g.unknownAccountFailure(now, t, ip, pick(g.rng, pick(g.rng, devices).userAgents))
	}
	u := g.activeUser(now, t)
	if u == nil {
		if len(t.tokens) > 0 {
			return g.tokenEvent(now, t)
		}
		ip := g.ipIn(&regions[g.weightedRegion()])
		return g.unknownAccountFailure(now, t, ip, pick(g.rng, pick(g.rng, devices).userAgents))
	}
	// A user signs in from each of their devices early on, then from any.
	d := u.devices[u.logins%len(u.devices)]
	if u.logins >= len(u.devices) {
		d = pick(g.rng, u.devices)
	}
	u.logins++
	ev := g.userLogin(now, t, u, pick(g.rng, u.ips), d)
	switch {
	case r < 0.87:
		ev.Status = event.StatusSuccess
	case r < 0.94:
		ev.Status, ev.FailureReason = event.StatusFailed, "invalid_password"
	case r < 0.98:
		ev.Status = event.Status2FARequired
	case r < 0.995:
		ev.Status, ev.FailureReason = event.Status2FAFailed, "invalid_totp_code"
	default:
		ev.Status, ev.FailureReason = event.StatusBlocked, "account_disabled"
	}
	// A real user who mistyped gets it right on the next try: failures
	// come singly, never in the runs an attacker makes.
	if failed := ev.Status == event.StatusFailed || ev.Status == event.Status2FAFailed; failed {
		if now.Sub(u.lastFailure) < 15*time.Minute {
			ev.Status, ev.FailureReason = event.StatusSuccess, ""
		} else {
			u.lastFailure = now
		}
	}
	if ev.Status == event.StatusSuccess {
		u.seen = true
	}
	return ev
}

// activeUser picks a user of t whose routine includes now's hour, or nil:
// logins follow the users, so an hour holding half as many users in their
// routine gets half the logins (the slot goes to API traffic instead), and
// each user logs in about as often in each of their hours.
func (g *generator) activeUser(now time.Time, t *tenant) *user {
	users := t.byHour[now.UTC().Hour()]
	if len(users) == 0 || g.rng.Float64()*float64(t.busiest) >= float64(len(users)) {
		return nil
	}
	return pick(g.rng, users)
}

func (u *user) awake(now time.Time) bool {
	local := ((now.Hour()+u.home.utcOffset)%24 + 24) % 24
	return slices.Contains(u.habits, local)
}

// userLogin is the common part of a login by a known user; the caller sets
// the status.
func (g *generator) userLogin(now time.Time, t *tenant, u *user, ip string, d *device) *event.Event {
	method := "password"
	if g.rng.Float64() < 0.15 {
		method = "passkey"
	}
	return &event.Event{
		ID:         g.newID(now),
		Kind:       event.KindLogin,
		TenantID:   t.id,
		UserID:     u.id,
		OccurredAt: now,
		IPAddress:  ip,
		UserAgent:  pick(g.rng, d.userAgents),
		Metadata:   map[string]string{"client": d.client, "auth_method": method},
		User:       &event.UserProfile{Name: u.name, Email: u.email},
	}
}

func (g *generator) unknownAccountFailure(now time.Time, t *tenant, ip, ua string) *event.Event {
	identifier := pick(g.rng, unknownIdentifiers)
	if strings.Contains(identifier, "%s") {
		identifier = fmt.Sprintf(identifier, t.id)
	}
	return &event.Event{
		ID:            g.newID(now),
		Kind:          event.KindLogin,
		TenantID:      t.id,
		OccurredAt:    now,
		IPAddress:     ip,
		UserAgent:     ua,
		Status:        event.StatusFailed,
		FailureReason: "unknown_account",
		Identifier:    identifier,
	}
}

// tokenEvent is an ordinary API-token event: mostly authenticated calls,
// a few refusals, and now and then the token's life cycle.
func (g *generator) tokenEvent(now time.Time, t *tenant) *event.Event {
	i := g.rng.IntN(len(t.tokens))
	tk := t.tokens[i]
	action := event.TokenCreated
	if !tk.fresh {
		action = g.tokenAction()
	}
	tk.fresh = false
	ev := g.tokenUse(now, t, tk, pick(g.rng, tk.ips), action)
	if action == event.TokenAuthenticated {
		tk.used = true
	}
	if action == event.TokenRevoked {
		// Its owner makes a replacement, announced by a "created" event.
		t.tokens[i] = g.newToken(t, true)
	}
	return ev
}

// tokenAction draws what happened with a token in use; "created" comes
// only from replacing a revoked token.
func (g *generator) tokenAction() event.TokenAction {
	switch r := g.rng.Float64(); {
	case r < 0.88:
		return event.TokenAuthenticated
	case r < 0.91:
		return event.TokenFailed
	case r < 0.925:
		return event.TokenExpired
	case r < 0.94:
		return event.TokenIPBlocked
	case r < 0.95:
		return event.TokenDomainBlocked
	case r < 0.985:
		return event.TokenRateLimited
	case r < 0.995:
		return event.TokenRotated
	default:
		return event.TokenRevoked
	}
}

func (g *generator) tokenUse(now time.Time, t *tenant, tk *token, ip string, action event.TokenAction) *event.Event {
	ev := &event.Event{
		ID:          g.newID(now),
		Kind:        event.KindToken,
		TenantID:    t.id,
		UserID:      tk.owner.id,
		OccurredAt:  now,
		IPAddress:   ip,
		UserAgent:   tk.ua,
		TokenID:     tk.id,
		TokenName:   tk.name,
		TokenType:   tk.typ,
		Environment: tk.env,
		Action:      action,
	}
	switch action {
	case event.TokenCreated, event.TokenRotated, event.TokenRevoked:
		// Managed from the dashboard, by the owner.
		d := tk.owner.devices[0]
		ev.IPAddress, ev.UserAgent = tk.owner.ips[0], d.userAgents[0]
		ev.Metadata = map[string]string{"via": "dashboard"}
	default:
		method, path, _ := strings.Cut(pick(g.rng, apiEndpoints), " ")
		ev.Metadata = map[string]string{"method": method, "path": path}
	}
	return ev
}

// nextAttackStep returns the next due step of a running attack, starting
// a new attack when it is time to.
func (g *generator) nextAttackStep(now time.Time) *event.Event {
	if len(g.cfg.Attacks) == 0 {
		return nil
	}
	if !now.Before(g.nextAttack) || g.count >= g.nextAttackCount {
		name := g.cfg.Attacks[g.attackIdx%len(g.cfg.Attacks)]
		g.attackIdx++
		g.nextAttack = now.Add(g.cfg.AttackEvery)
		g.nextAttackCount = g.count + attackEveryEvents
		if a := g.newAttack(name, now); a != nil {
			g.active = append(g.active, a)
		}
	}
	for i, a := range g.active {
		if now.Before(a.due) && g.count < a.dueCount {
			continue
		}
		step := a.steps[0]
		a.steps = a.steps[1:]
		if len(a.steps) == 0 {
			g.active = slices.Delete(g.active, i, i+1)
		} else {
			a.due = now.Add(a.steps[0].after)
			a.dueCount = g.count + a.steps[0].events()
		}
		return step.event(now)
	}
	return nil
}

// newAttack scripts one attack of the given kind against a random tenant.
// The patterns match SPEC §4's rules with room to spare.
func (g *generator) newAttack(name string, now time.Time) *attack {
	t := pick(g.rng, g.tenants)
	var steps []attackStep
	switch name {
	case attackBruteforce:
		// One address, one account, eight wrong passwords in about 20 s
		// (ip_lockout wants 5 in 15 min), and half the time it gets in
		// (failures_then_success).
		ip := g.ipIn(&regions[regionChangchun])
		ua := pick(g.rng, attackClients)
		victim := pick(g.rng, t.users)
		for range 8 {
			steps = append(steps, attackStep{after: 2500 * time.Millisecond, event: func(now time.Time) *event.Event {
				ev := g.userLogin(now, t, victim, ip, &devices[0])
				ev.UserAgent = ua
				ev.Status, ev.FailureReason = event.StatusFailed, "invalid_password"
				return ev
			}})
		}
		if g.rng.IntN(2) == 0 {
			steps = append(steps, attackStep{after: 2 * time.Second, event: func(now time.Time) *event.Event {
				ev := g.userLogin(now, t, victim, ip, &devices[0])
				ev.UserAgent = ua
				ev.Status = event.StatusSuccess
				return ev
			}})
		}
	case attackSpray:
		// One address, one common password, twelve accounts (known and
		// not) in about 25 s: password_spray wants 10 in an hour.
		ip := g.ipIn(&regions[regionPhilippine])
		ua := pick(g.rng, attackClients)
		order := g.rng.Perm(len(t.users))
		for i := range 12 {
			steps = append(steps, attackStep{after: 2 * time.Second, event: func(now time.Time) *event.Event {
				if i%3 == 2 || i >= len(order) {
					ev := g.unknownAccountFailure(now, t, ip, ua)
					// Distinct per step: a spray tries each name once.
					ev.Identifier = fmt.Sprintf("%s%d", ev.Identifier, i)
					return ev
				}
				ev := g.userLogin(now, t, t.users[order[i]], ip, &devices[0])
				ev.UserAgent = ua
				ev.Status, ev.FailureReason = event.StatusFailed, "invalid_password"
				return ev
			}})
		}
	case attackTravel:
		// A success from London, then minutes later one from Sydney: some
		// 17,000 km, impossible_travel (and new_country for Sydney).
		u := g.userFrom("GB", t)
		d := u.devices[0]
		london, sydney := g.ipIn(&regions[regionLondon]), g.ipIn(&regions[regionSydney])
		for _, step := range []struct {
			after time.Duration
			ip    string
		}{{0, london}, {3 * time.Minute, sydney}} {
			steps = append(steps, attackStep{after: step.after, afterEvents: travelStepEvents, event: func(now time.Time) *event.Event {
				ev := g.userLogin(now, t, u, step.ip, d)
				ev.Status = event.StatusSuccess
				u.seen = true
				return ev
			}})
		}
	case attackNewDevice:
		// A user who has logged in before succeeds from a browser and
		// platform they never used, from home: new_device.
		u := g.knownUser(t)
		var unused []*device
		for i := range devices {
			if !slices.Contains(u.devices, &devices[i]) {
				unused = append(unused, &devices[i])
			}
		}
		d := pick(g.rng, unused)
		steps = append(steps, attackStep{event: func(now time.Time) *event.Event {
			ev := g.userLogin(now, t, u, u.ips[0], d)
			ev.Status = event.StatusSuccess
			u.seen = true
			return ev
		}})
	case attackLeakedToken:
		// A token in use turns up from a network it never used, a few
		// times. token_new_network fires only once the token is a day old
		// in the detector's memory, so on a fresh system this is just
		// unusual traffic.
		if len(t.tokens) == 0 {
			return nil
		}
		tk := g.usedToken(t)
		leak := &regions[regionBhutan]
		if tk.network == leak {
			leak = &regions[regionChangchun]
		}
		ip := g.ipIn(leak)
		for range 3 {
			steps = append(steps, attackStep{after: 5 * time.Second, event: func(now time.Time) *event.Event {
				ev := g.tokenUse(now, t, tk, ip, event.TokenAuthenticated)
				ev.UserAgent = "python-requests/2.31.0"
				return ev
			}})
		}
	}
	return &attack{due: now, dueCount: g.count, steps: steps}
}

// userFrom picks a user of t living in country, or any user if none does.
func (g *generator) userFrom(country string, t *tenant) *user {
	var from []*user
	for _, u := range t.users {
		if u.home.country == country {
			from = append(from, u)
		}
	}
	if len(from) == 0 {
		return pick(g.rng, t.users)
	}
	return pick(g.rng, from)
}

// knownUser picks a user of t who has succeeded before, if any: the habit
// rules never fire on a first login.
func (g *generator) knownUser(t *tenant) *user {
	var seen []*user
	for _, u := range t.users {
		if u.seen {
			seen = append(seen, u)
		}
	}
	if len(seen) == 0 {
		return pick(g.rng, t.users)
	}
	return pick(g.rng, seen)
}

func (g *generator) usedToken(t *tenant) *token {
	var used []*token
	for _, tk := range t.tokens {
		if tk.used {
			used = append(used, tk)
		}
	}
	if len(used) == 0 {
		return pick(g.rng, t.tokens)
	}
	return pick(g.rng, used)
}

func (g *generator) weightedRegion() int {
	total := 0
	for _, r := range regions {
		total += r.weight
	}
	n := g.rng.IntN(total)
	for i, r := range regions {
		if n < r.weight {
			return i
		}
		n -= r.weight
	}
	return len(regions) - 1
}

func (g *generator) ipIn(r *region) string {
	return fmt.Sprintf("%d.%d.%d.%d", r.prefix[0], r.prefix[1], r.prefix[2], 1+g.rng.IntN(254))
}

// crockford is Crockford's base 32 alphabet, as ULIDs use.
const crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// newID is ULID-shaped: 10 characters of millisecond time, so ids sort by
// time, then 16 random ones (80 bits), so they do not collide.
func (g *generator) newID(now time.Time) string {
	var b [26]byte
	ms := uint64(now.UnixMilli())
	for i := 9; i >= 0; i-- {
		b[i] = crockford[ms&31]
		ms >>= 5
	}
	for i := 10; i < len(b); i++ {
		b[i] = crockford[g.rng.IntN(32)]
	}
	return string(b[:])
}

const lowerAlnum = "abcdefghijklmnopqrstuvwxyz0123456789"

func (g *generator) randomString(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = lowerAlnum[g.rng.IntN(len(lowerAlnum))]
	}
	return string(b)
}

func pick[T any](rng *rand.Rand, from []T) T {
	return from[rng.IntN(len(from))]
}

// asciiLower makes a name usable in an email address.
func asciiLower(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		switch {
		case r >= 'a' && r <= 'z':
			b.WriteRune(r)
		case r == 'é', r == 'ë':
			b.WriteByte('e')
		case r == 'ü':
			b.WriteString("ue")
		}
	}
	return b.String()
}
