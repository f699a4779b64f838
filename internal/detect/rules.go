package detect

import (
	"cmp"
	"fmt"
	"math"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/authwatch/authwatch/event"
)

// Device is what a user agent says (see internal/enrich): type, browser
// family and platform, never a version and never the IP.
type Device struct{ Type, Browser, Platform string }

// Key is how a device is remembered.
func (d Device) Key() string { return d.Type + "|" + d.Browser + "|" + d.Platform }

// String names a device for a person: "Chrome on Windows (desktop)".
func (d Device) String() string { return deviceName(d.Key()) }

func deviceName(key string) string {
	parts := strings.SplitN(key, "|", 3)
	for len(parts) < 3 {
		parts = append(parts, "")
	}
	browser, platform, typ := parts[1], parts[2], parts[0]
	if browser == "" {
		browser = "an unknown browser"
	}
	if platform == "" {
		platform = "an unknown platform"
	}
	if typ == "" {
		typ = "unknown"
	}
	return fmt.Sprintf("%s on %s (%s)", browser, platform, typ)
}

// Login is a login event as the rules see it: the event plus what
// enrichment derived from it.
type Login struct {
	TenantID, UserID, ID string
	Identifier           string
	IP                   string
	Status               event.Status
	At                   time.Time
	Device               Device
	Country, City        string
	Lat, Lon             float64
	Located              bool
}

// TokenUse is a token event as the rules see it.
type TokenUse struct {
	TenantID, TokenID, ID, UserID string
	IP                            string
	Action                        event.TokenAction
	At                            time.Time
	Country                       string
}

// Verdict is one rule firing on one event.
type Verdict struct {
	Rule    Rule
	Reasons []string
}

// Lock is an IP lockout decided by ip_lockout.
type Lock struct {
	Until    time.Time
	Attempts int
}

func failure(s event.Status) bool { return s == event.StatusFailed || s == event.Status2FAFailed }

// User applies a login event to its user's state and returns the verdicts
// of the user rules. A login without a user_id has no user state; an event
// already applied (a redelivery) changes nothing and gets the verdicts it
// got then.
func (c *Config) User(st *UserState, l Login) []Verdict {
	if l.UserID == "" {
		return nil
	}
	if applied(st.Recent, l.ID) {
		vs, _ := again(st.Records, l.ID)
		return vs
	}
	out := c.user(st, l)
	done(&st.Recent, &st.Records, &st.Fired, l.ID, l.At.Unix(), out, nil)
	return out
}

func (c *Config) user(st *UserState, l Login) []Verdict {
	at := l.At.Unix()
	switch {
	case failure(l.Status):
		st.Failures = addFailure(st.Failures, Failure{At: at, ID: l.ID}, at-secs(c.FailureWindow))
		return nil
	case l.Status != event.StatusSuccess:
		return nil
	}
	var out []Verdict
	// Reasons are written only for an alert that is not a repeat of the day's.
	add := func(r Rule, subject string, reasons func() []string) {
		if fire(&st.Fired, r, subject, l.At) {
			out = append(out, Verdict{Rule: r, Reasons: reasons()})
		}
	}
	dev := l.Device.Key()
	habit := at - secs(c.HabitWindow)

	if c.On(FailuresThenSuccess) {
		var recent []Failure
		for _, f := range st.Failures {
			if f.At <= at && f.At >= at-secs(c.FailureWindow) {
				recent = append(recent, f)
			}
		}
		if len(recent) >= c.FailuresBeforeSuccess {
			add(FailuresThenSuccess, dev, func() []string {
				return []string{fmt.Sprintf("succeeded after %d failed attempts in the %s before it (first at %s, last at %s)",
					len(recent), span(c.FailureWindow), stamp(recent[0].At), stamp(recent[len(recent)-1].At))}
			})
		}
	}
	// The habit rules learn from earlier successes and stay quiet on the first.
	if st.Successes > 0 {
		if c.On(NewDevice) {
			if known := find(st.Devices, dev); known == nil || known.Last < habit {
				add(NewDevice, dev, func() []string {
					return []string{fmt.Sprintf("first successful login from %s in %s", l.Device, span(c.HabitWindow)),
						"known devices: " + seenList(st.Devices, habit, deviceName)}
				})
			}
		}
		if c.On(NewCountry) && l.Country != "" {
			if known := find(st.Countries, l.Country); known == nil || known.Last < habit {
				add(NewCountry, l.Country, func() []string {
					return []string{fmt.Sprintf("first successful login from %s in %s", placeName(l.Country, l.City), span(c.HabitWindow)),
						"countries seen: " + seenList(st.Countries, habit, func(s string) string { return s })}
				})
			}
		}
		if c.On(ImpossibleTravel) && l.Located && st.Last != nil && st.Last.Located {
			p := st.Last
			km := distanceKm(p.Lat, p.Lon, l.Lat, l.Lon)
			dt := time.Duration(abs(at-p.At)) * time.Second
			hours := dt.Hours()
			if km > c.TravelMinKm && (hours == 0 || km/hours > c.TravelKmh) {
				add(ImpossibleTravel, l.Country, func() []string {
					speed := "at once"
					if hours > 0 {
						speed = fmt.Sprintf("%.0f km/h", km/hours)
					}
					return []string{fmt.Sprintf("%.0f km from %s to %s in %s (%s; the limit is %.0f km/h)",
						km, placeName(p.Country, p.City), placeName(l.Country, l.City), span(dt), speed, c.TravelKmh),
						fmt.Sprintf("previous success at %s from %s", stamp(p.At), p.IP)}
				})
			}
		}
		if c.On(UnusualHour) {
			hour := hourOf(at)
			total, same := st.Hours.counts(c.habitWeeks(at), weekOf(at), hour)
			if total >= c.UnusualHourMin && float64(same) < c.UnusualHourShare*float64(total) {
				add(UnusualHour, strconv.Itoa(hour), func() []string {
					return []string{fmt.Sprintf("success at %02d:00–%02d:59 UTC, an hour that holds %d of the user's %d successes in %s (%.1f %%, under %.0f %%)",
						hour, hour, same, total, span(c.HabitWindow), 100*float64(same)/float64(total), 100*c.UnusualHourShare)}
				})
			}
		}
	}

	st.Successes++
	st.Devices = see(st.Devices, dev, at, habit, maxSeen)
	if l.Country != "" {
		st.Countries = see(st.Countries, l.Country, at, habit, maxSeen)
	}
	if st.Last == nil || at >= st.Last.At {
		st.Last = &Place{At: at, Country: l.Country, City: l.City, Lat: l.Lat, Lon: l.Lon, Located: l.Located, Device: dev, IP: l.IP}
	}
	st.Hours.add(at, c.habitWeeks(at))
	// Failures before a success are spent: the next success does not count them again.
	st.Failures = slices.DeleteFunc(st.Failures, func(f Failure) bool { return f.At <= at })
	return out
}

// IP applies a login event to its IP's state (in its tenant) and returns
// the verdicts of the IP rules and, when ip_lockout fires, the lockout.
// Only failures count; allowlisted IPs are exempt from both rules.
func (c *Config) IP(st *IPState, l Login) ([]Verdict, *Lock) {
	if !failure(l.Status) {
		return nil, nil
	}
	if addr, err := netip.ParseAddr(l.IP); err != nil || c.Allowed(addr.Unmap()) {
		return nil, nil
	}
	if applied(st.Recent, l.ID) {
		return again(st.Records, l.ID)
	}
	out, lock := c.ip(st, l)
	done(&st.Recent, &st.Records, &st.Fired, l.ID, l.At.Unix(), out, lock)
	return out, lock
}

func (c *Config) ip(st *IPState, l Login) ([]Verdict, *Lock) {
	at := l.At.Unix()
	var out []Verdict
	var lock *Lock

	account := l.UserID
	if account == "" {
		account = l.Identifier
	}
	if c.On(PasswordSpray) && account != "" {
		horizon := at - secs(c.SprayWindow)
		st.Accounts = see(st.Accounts, account, at, horizon, maxAccounts)
		// By occurred_at, not arrival: the accounts of a window of
		// SprayWindow that holds this failure (late arrivals count too).
		names := sprayWindow(st.Accounts, at, secs(c.SprayWindow), c.SprayAccounts)
		if len(names) >= c.SprayAccounts && fire(&st.Fired, PasswordSpray, "", l.At) {
			out = append(out, Verdict{Rule: PasswordSpray, Reasons: []string{
				fmt.Sprintf("failed logins for %d distinct accounts from %s within %s", len(names), l.IP, span(c.SprayWindow)),
				"accounts: " + listSome(names, 10),
			}})
		}
	}
	// Failures from a locked IP neither extend the lockout nor count toward the next.
	if c.On(IPLockout) && at >= st.LockedUntil {
		st.Failures = addFailure(st.Failures, Failure{At: at, ID: l.ID}, at-secs(c.LockoutWindow)+1)
		if first, fifth, n, ok := lockWindow(st.Failures, at, secs(c.LockoutWindow), c.LockoutFailures); ok {
			until := time.Unix(fifth, 0).Add(c.LockoutFor).UTC()
			st.LockedUntil = until.Unix()
			st.Failures = nil
			lock = &Lock{Until: until, Attempts: n}
			out = append(out, Verdict{Rule: IPLockout, Reasons: []string{
				fmt.Sprintf("%d failed login attempts from %s within %s (first at %s)", n, l.IP, span(c.LockoutWindow), stamp(first)),
				fmt.Sprintf("locked until %s", until.Format(time.RFC3339)),
			}})
		}
	}
	return out, lock
}

// lockWindow looks, in time order, for a window shorter than window that
// holds at least need failures, at among them. Events can arrive out of
// order (a batch redelivered after a crash comes back late), so the count
// is by occurred_at, not by arrival. It returns the window's first
// failure, the one that completed the count (the lock runs from it), and
// how many the window holds.
func lockWindow(failures []Failure, at, window int64, need int) (first, last int64, n int, ok bool) {
	for i := range failures {
		if failures[i].At > at || at-failures[i].At >= window {
			continue
		}
		j := i + need - 1
		if j >= len(failures) || failures[j].At-failures[i].At >= window || failures[j].At < at {
			continue
		}
		n = need
		for k := j + 1; k < len(failures) && failures[k].At-failures[i].At < window; k++ {
			n++
		}
		return failures[i].At, failures[j].At, n, true
	}
	return 0, 0, 0, false
}

// sprayWindow returns the accounts (each by its latest failure) of the
// first window shorter than window, holding at, with at least need of
// them; or those up to at when there is none.
func sprayWindow(accounts []Seen, at, window int64, need int) []string {
	if len(accounts) < need { // no window can hold enough: skip the sort
		return accountsUpTo(accounts, at)
	}
	sorted := slices.Clone(accounts)
	slices.SortFunc(sorted, func(a, b Seen) int { return cmp.Compare(a.Last, b.Last) })
	for i := range sorted {
		if sorted[i].Last > at || at-sorted[i].Last >= window {
			continue
		}
		var names []string
		for k := i; k < len(sorted) && sorted[k].Last-sorted[i].Last < window; k++ {
			names = append(names, sorted[k].Key)
		}
		if len(names) >= need && sorted[i+len(names)-1].Last >= at {
			return names
		}
	}
	return accountsUpTo(sorted, at)
}

// accountsUpTo names the accounts whose latest failure is not after at.
func accountsUpTo(accounts []Seen, at int64) []string {
	var names []string
	for _, a := range accounts {
		if a.Last <= at {
			names = append(names, a.Key)
		}
	}
	return names
}

// Unlock ends an IP's lockout in force at now (an admin unlocked it): the
// failures counted so far are forgotten too. A lockout already over is
// left alone, so failures counted since it ended still count.
func (st *IPState) Unlock(now time.Time) {
	if st.LockedUntil > now.Unix() {
		st.LockedUntil = 0
		st.Failures = nil
	}
}

// Token applies a token event to its token's state and returns the verdict
// of token_new_network, the one rule on token events.
func (c *Config) Token(st *TokenState, t TokenUse) []Verdict {
	if t.Action != event.TokenAuthenticated {
		return nil
	}
	if applied(st.Recent, t.ID) {
		vs, _ := again(st.Records, t.ID)
		return vs
	}
	out := c.token(st, t)
	done(&st.Recent, &st.Records, &st.Fired, t.ID, t.At.Unix(), out, nil)
	return out
}

func (c *Config) token(st *TokenState, t TokenUse) []Verdict {
	network, ok := Network(t.IP)
	if !ok {
		return nil
	}
	at := t.At.Unix()
	if st.First == 0 || at < st.First {
		st.First = at
	}
	horizon := at - secs(c.TokenNetworkWindow)
	var out []Verdict
	if c.On(TokenNewNetwork) && at-st.First >= secs(c.TokenGrace) {
		if known := find(st.Networks, network); known == nil || known.Last < horizon {
			if fire(&st.Fired, TokenNewNetwork, network, t.At) {
				out = append(out, Verdict{Rule: TokenNewNetwork, Reasons: []string{
					fmt.Sprintf("token %s authenticated from %s (%s), a network not seen for it in %s", t.TokenID, network, t.IP, span(c.TokenNetworkWindow)),
					fmt.Sprintf("token first used %s; known networks: %s", stamp(st.First), seenList(st.Networks, horizon, func(s string) string { return s })),
				}})
			}
		}
	}
	st.Networks = see(st.Networks, network, at, horizon, 2*maxSeen)
	return out
}

// Network is the /24 (IPv4) or /48 (IPv6) an address belongs to.
func Network(ip string) (string, bool) {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return "", false
	}
	a = a.Unmap()
	bits := 48
	if a.Is4() {
		bits = 24
	}
	p, _ := a.Prefix(bits)
	return p.String(), true
}

// distanceKm is the great-circle distance between two points.
func distanceKm(lat1, lon1, lat2, lon2 float64) float64 {
	const earthKm = 6371.0
	rad := math.Pi / 180
	dLat, dLon := (lat2-lat1)*rad, (lon2-lon1)*rad
	h := math.Sin(dLat/2)*math.Sin(dLat/2) + math.Cos(lat1*rad)*math.Cos(lat2*rad)*math.Sin(dLon/2)*math.Sin(dLon/2)
	return 2 * earthKm * math.Asin(math.Min(1, math.Sqrt(h)))
}

// habitWeeks is the first week the hour histogram looks at for an event
// at unix time at: HabitWindow in whole weeks, this one included.
func (c *Config) habitWeeks(at int64) uint16 {
	n := int64((c.HabitWindow + 7*24*time.Hour - 1) / (7 * 24 * time.Hour))
	return uint16(max(int64(weekOf(at))-n+1, 0))
}

// hourOf is the UTC hour of day of a unix time.
func hourOf(unix int64) int { return int(((unix % 86400) + 86400) % 86400 / 3600) }

func secs(d time.Duration) int64 { return int64(d / time.Second) }

func abs(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}

func stamp(unix int64) string { return time.Unix(unix, 0).UTC().Format("2006-01-02 15:04 UTC") }

// span writes a duration the way people say it: "90 days", "15 minutes", "2h5m".
func span(d time.Duration) string {
	switch {
	case d >= 48*time.Hour && d%(24*time.Hour) == 0:
		return fmt.Sprintf("%d days", d/(24*time.Hour))
	case d >= time.Hour && d%time.Hour == 0:
		return fmt.Sprintf("%d hours", d/time.Hour)
	case d >= time.Minute && d%time.Minute == 0 && d < time.Hour:
		return fmt.Sprintf("%d minutes", d/time.Minute)
	default:
		return d.Round(time.Second).String()
	}
}

func placeName(country, city string) string {
	switch {
	case country == "":
		return "an unknown place"
	case city == "":
		return country
	default:
		return city + ", " + country
	}
}

// seenList names what is known (newest first) with when it was last seen.
func seenList(list []Seen, horizon int64, name func(string) string) string {
	var known []Seen
	for _, s := range list {
		if s.Last >= horizon {
			known = append(known, s)
		}
	}
	if len(known) == 0 {
		return "none"
	}
	slices.SortFunc(known, func(a, b Seen) int { return int(b.Last - a.Last) })
	parts := make([]string, 0, min(len(known), 5))
	for _, s := range known[:min(len(known), 5)] {
		parts = append(parts, fmt.Sprintf("%s, last seen %s", name(s.Key), stamp(s.Last)))
	}
	if len(known) > 5 {
		parts = append(parts, fmt.Sprintf("and %d more", len(known)-5))
	}
	return strings.Join(parts, "; ")
}

func listSome(names []string, n int) string {
	if len(names) <= n {
		return strings.Join(names, ", ")
	}
	return strings.Join(names[:n], ", ") + fmt.Sprintf(" and %d more", len(names)-n)
}

// NewAlert builds the alert of a verdict on an event.
func NewAlert(tenantID, userID, eventID, ip, country string, occurred, detected time.Time, v Verdict) Alert {
	return Alert{
		ID:         AlertID(tenantID, eventID, v.Rule),
		TenantID:   tenantID,
		UserID:     optional(userID),
		EventID:    eventID,
		Rule:       v.Rule,
		Severity:   SeverityOf(v.Rule),
		Reasons:    v.Reasons,
		IPAddress:  ip,
		Country:    optional(country),
		OccurredAt: occurred,
		DetectedAt: detected,
	}
}
