// Package detect holds the detection rules of SPEC §4 as pure functions: an
// event and the state of its user, IP or token go in; verdicts come out and
// the state is updated in place. Nothing here does I/O or reads the clock,
// so the detector service and the backtest run the very same code.
package detect

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Rule names a detection rule.
type Rule string

// The rules of SPEC §4.
const (
	NewDevice           Rule = "new_device"
	NewCountry          Rule = "new_country"
	ImpossibleTravel    Rule = "impossible_travel"
	FailuresThenSuccess Rule = "failures_then_success"
	UnusualHour         Rule = "unusual_hour"
	IPLockout           Rule = "ip_lockout"
	PasswordSpray       Rule = "password_spray"
	TokenNewNetwork     Rule = "token_new_network"
)

// Rules lists every rule in a fixed order.
var Rules = []Rule{NewDevice, NewCountry, ImpossibleTravel, FailuresThenSuccess, UnusualHour, IPLockout, PasswordSpray, TokenNewNetwork}

// ValidRule says whether r names a rule.
func ValidRule(r string) bool {
	for _, x := range Rules {
		if string(x) == r {
			return true
		}
	}
	return false
}

// Severity of an alert: low < medium < high.
type Severity string

// Severities.
const (
	Low    Severity = "low"
	Medium Severity = "medium"
	High   Severity = "high"
)

// SeverityOf is each rule's severity (SPEC §4).
func SeverityOf(r Rule) Severity {
	switch r {
	case NewDevice, UnusualHour:
		return Low
	case NewCountry, TokenNewNetwork:
		return Medium
	default:
		return High
	}
}

// geoRules need coordinates or countries from a GeoIP database.
func geoRule(r Rule) bool { return r == NewCountry || r == ImpossibleTravel }

// Config is every threshold of SPEC §4, with its default in DefaultConfig.
type Config struct {
	Off map[Rule]bool // switched-off rules

	HabitWindow time.Duration // devices, countries and hours are remembered this long (90 days)

	TravelKmh   float64 // impossible_travel: speed above this …
	TravelMinKm float64 // … over more than this distance

	FailuresBeforeSuccess int           // failures_then_success: this many failures …
	FailureWindow         time.Duration // … within this long before the success

	UnusualHourShare float64 // unusual_hour: an hour holding under this share …
	UnusualHourMin   int     // … of at least this many earlier successes

	LockoutFailures int           // ip_lockout: this many failures from one IP …
	LockoutWindow   time.Duration // … within this long …
	LockoutFor      time.Duration // … lock it for this long

	SprayAccounts int           // password_spray: failures against this many accounts …
	SprayWindow   time.Duration // … within this long

	TokenNetworkWindow time.Duration // token_new_network: a network unseen this long …
	TokenGrace         time.Duration // … after the token's first day of use

	Allow []netip.Prefix // IPs never locked and exempt from both IP rules
	Geo   bool           // a GeoIP database is configured; geo rules are off without it
}

// DefaultConfig is SPEC §4's defaults, geo rules on.
func DefaultConfig() Config {
	return Config{
		Off:                   map[Rule]bool{},
		HabitWindow:           90 * 24 * time.Hour,
		TravelKmh:             900,
		TravelMinKm:           500,
		FailuresBeforeSuccess: 3,
		FailureWindow:         15 * time.Minute,
		UnusualHourShare:      0.05,
		UnusualHourMin:        20,
		LockoutFailures:       5,
		LockoutWindow:         15 * time.Minute,
		LockoutFor:            15 * time.Minute,
		SprayAccounts:         10,
		SprayWindow:           60 * time.Minute,
		TokenNetworkWindow:    30 * 24 * time.Hour,
		TokenGrace:            24 * time.Hour,
		Geo:                   true,
	}
}

// On says whether rule r runs under this configuration.
func (c *Config) On(r Rule) bool {
	if c.Off[r] {
		return false
	}
	return c.Geo || !geoRule(r)
}

// Allowed says whether ip is in the allowlist.
func (c *Config) Allowed(ip netip.Addr) bool {
	for _, p := range c.Allow {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// Env lists the environment variables FromEnv reads, with what each sets;
// the README's table is written from the same names.
var Env = []struct{ Name, Meaning string }{
	{"DETECT_DISABLE", "comma-separated rules to switch off"},
	{"DETECT_HISTORY_DAYS", "days devices, countries and login hours are remembered (90)"},
	{"DETECT_TRAVEL_KMH", "impossible_travel speed limit in km/h (900)"},
	{"DETECT_TRAVEL_MIN_KM", "impossible_travel minimum distance in km (500)"},
	{"DETECT_FAILURES_BEFORE_SUCCESS", "failures_then_success failure count (3)"},
	{"DETECT_FAILURE_WINDOW", "failures_then_success window (15m)"},
	{"DETECT_UNUSUAL_HOUR_SHARE", "unusual_hour share of earlier successes (0.05)"},
	{"DETECT_UNUSUAL_HOUR_MIN", "unusual_hour minimum earlier successes (20)"},
	{"DETECT_LOCKOUT_FAILURES", "ip_lockout failures from one IP (5)"},
	{"DETECT_LOCKOUT_WINDOW", "ip_lockout window (15m)"},
	{"DETECT_LOCKOUT_DURATION", "how long an IP stays locked (15m)"},
	{"DETECT_SPRAY_ACCOUNTS", "password_spray distinct accounts (10)"},
	{"DETECT_SPRAY_WINDOW", "password_spray window (60m)"},
	{"DETECT_TOKEN_NETWORK_DAYS", "token_new_network memory in days (30)"},
	{"DETECT_TOKEN_GRACE", "token_new_network quiet period after a token's first use (24h)"},
	{"LOCKOUT_ALLOW_CIDRS", "comma-separated CIDRs never locked out (SPEC §1)"},
}

// FromEnv reads the configuration from environment variables (see Env);
// unset ones keep their defaults. geo says whether a GeoIP database is
// configured. Every bad value is reported, naming its variable.
func FromEnv(getenv func(string) string, geo bool) (Config, error) {
	c := DefaultConfig()
	c.Geo = geo
	var errs []string
	bad := func(name, v, why string) { errs = append(errs, fmt.Sprintf("%s=%q: %s", name, v, why)) }
	for _, r := range splitList(getenv("DETECT_DISABLE")) {
		if !ValidRule(r) {
			bad("DETECT_DISABLE", r, "not a rule (one of "+ruleList()+")")
			continue
		}
		c.Off[Rule(r)] = true
	}
	days := func(name string, dst *time.Duration) {
		if v := getenv(name); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > 3650 {
				bad(name, v, "want whole days, 1–3650")
				return
			}
			*dst = time.Duration(n) * 24 * time.Hour
		}
	}
	dur := func(name string, dst *time.Duration) {
		if v := getenv(name); v != "" {
			d, err := time.ParseDuration(v)
			if err != nil || d <= 0 {
				bad(name, v, "want a positive duration such as 15m")
				return
			}
			*dst = d
		}
	}
	num := func(name string, dst *float64) {
		if v := getenv(name); v != "" {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil || f <= 0 {
				bad(name, v, "want a positive number")
				return
			}
			*dst = f
		}
	}
	count := func(name string, dst *int) {
		if v := getenv(name); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > 10000 {
				bad(name, v, "want a whole number, 1–10000")
				return
			}
			*dst = n
		}
	}
	days("DETECT_HISTORY_DAYS", &c.HabitWindow)
	num("DETECT_TRAVEL_KMH", &c.TravelKmh)
	num("DETECT_TRAVEL_MIN_KM", &c.TravelMinKm)
	count("DETECT_FAILURES_BEFORE_SUCCESS", &c.FailuresBeforeSuccess)
	dur("DETECT_FAILURE_WINDOW", &c.FailureWindow)
	num("DETECT_UNUSUAL_HOUR_SHARE", &c.UnusualHourShare)
	count("DETECT_UNUSUAL_HOUR_MIN", &c.UnusualHourMin)
	count("DETECT_LOCKOUT_FAILURES", &c.LockoutFailures)
	dur("DETECT_LOCKOUT_WINDOW", &c.LockoutWindow)
	dur("DETECT_LOCKOUT_DURATION", &c.LockoutFor)
	count("DETECT_SPRAY_ACCOUNTS", &c.SprayAccounts)
	dur("DETECT_SPRAY_WINDOW", &c.SprayWindow)
	days("DETECT_TOKEN_NETWORK_DAYS", &c.TokenNetworkWindow)
	dur("DETECT_TOKEN_GRACE", &c.TokenGrace)
	allow, err := ParseCIDRs(getenv("LOCKOUT_ALLOW_CIDRS"))
	if err != nil {
		bad("LOCKOUT_ALLOW_CIDRS", getenv("LOCKOUT_ALLOW_CIDRS"), err.Error())
	}
	c.Allow = allow
	if c.UnusualHourShare >= 1 {
		bad("DETECT_UNUSUAL_HOUR_SHARE", getenv("DETECT_UNUSUAL_HOUR_SHARE"), "want a share below 1")
	}
	if len(errs) > 0 {
		return c, fmt.Errorf("detector configuration: %s", strings.Join(errs, "; "))
	}
	return c, nil
}

// ParseCIDRs reads a comma-separated list of CIDRs; a bare address is taken
// as a single-address prefix.
func ParseCIDRs(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, item := range splitList(s) {
		if !strings.Contains(item, "/") {
			a, err := netip.ParseAddr(item)
			if err != nil {
				return nil, fmt.Errorf("%q is not a CIDR or an address", item)
			}
			out = append(out, netip.PrefixFrom(a, a.BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(item)
		if err != nil {
			return nil, fmt.Errorf("%q is not a CIDR", item)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

func splitList(s string) []string {
	var out []string
	for _, part := range strings.Split(s, ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}

func ruleList() string {
	names := make([]string, len(Rules))
	for i, r := range Rules {
		names[i] = string(r)
	}
	return strings.Join(names, ", ")
}
