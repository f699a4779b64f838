package event

import (
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// Validate checks every rule of SPEC §2 that can be checked on the struct and
// returns the first broken one as an *Error with Reason ReasonInvalid. It is
// pure, and it is what client.Publisher runs before publishing; whatever it
// accepts marshals (encoding/json) into a payload that Decode accepts, as long
// as the payload stays within MaxPayloadBytes.
//
// Beyond the JSON rules it refuses a few states only a Go caller can build:
// strings that are not valid UTF-8 (encoding/json would silently replace the
// bad bytes), fields of the other kind (they would be dropped on the wire),
// and a time zone offset that is not whole minutes (RFC 3339 cannot write it).
// A user agent longer than MaxUserAgentBytes is accepted: Decode cuts it.
func (e *Event) Validate() error {
	return e.validate(known{})
}

// known is what Decode has made sure of while reading an event, so that
// validate need not check it again: the checks would otherwise be a good
// part of Decode's time. Validate knows nothing.
type known struct {
	text     bool // every string is valid UTF-8 and free of NUL
	ip       bool // ip_address is a valid address without a zone
	metadata bool // metadata is within MaxMetadataKeys and MaxMetadataBytes
}

func (e *Event) validate(k known) error {
	c := checker{text: !k.text}
	if err := checkID("id", e.ID); err != nil {
		return err
	}
	if e.Kind != KindLogin && e.Kind != KindToken {
		if e.Kind == "" {
			return invalid("kind", "is required")
		}
		return invalid("kind", quote(string(e.Kind))+" is not login or token")
	}
	if err := checkID("tenant_id", e.TenantID); err != nil {
		return err
	}
	if err := e.checkUserID(c); err != nil {
		return err
	}
	if err := checkTime(e.OccurredAt); err != nil {
		return err
	}
	if !k.ip {
		if err := checkIP(e.IPAddress); err != nil {
			return err
		}
	}
	if err := c.check("user_agent", e.UserAgent, 0); err != nil {
		return err
	}
	if !k.metadata {
		if err := c.metadata(e.Metadata); err != nil {
			return err
		}
	}
	if e.Kind == KindLogin {
		return e.checkLogin(c)
	}
	return e.checkToken(c)
}

func (e *Event) checkUserID(c checker) error {
	if e.UserID == "" {
		// A failed login may name an account that does not exist; the
		// attempted name then goes in identifier.
		if e.Kind == KindLogin && e.Status == StatusFailed {
			return nil
		}
		return invalid("user_id", "is required (only a failed login may leave it out)")
	}
	return c.check("user_id", e.UserID, MaxUserIDLen)
}

func (e *Event) checkLogin(c checker) error {
	if !isOneOf(e.Status, Statuses) {
		if e.Status == "" {
			return invalid("status", "is required")
		}
		return invalid("status", quote(string(e.Status))+" is not one of success, failed, blocked, 2fa_required, 2fa_failed")
	}
	if err := c.check("failure_reason", e.FailureReason, MaxReasonLen); err != nil {
		return err
	}
	if err := c.check("identifier", e.Identifier, MaxTextLen); err != nil {
		return err
	}
	if e.User != nil {
		if err := c.check("user.name", e.User.Name, MaxTextLen); err != nil {
			return err
		}
		if err := c.check("user.email", e.User.Email, MaxTextLen); err != nil {
			return err
		}
	}
	if e.TokenID != "" || e.TokenName != "" || e.TokenType != "" || e.Environment != "" || e.Action != "" {
		return e.otherKind(KindToken)
	}
	return nil
}

func (e *Event) checkToken(c checker) error {
	if e.TokenID == "" {
		return invalid("token_id", "is required")
	}
	if err := c.check("token_id", e.TokenID, MaxTokenIDLen); err != nil {
		return err
	}
	if err := c.check("token_name", e.TokenName, MaxTextLen); err != nil {
		return err
	}
	if !isOneOf(e.TokenType, TokenTypes) {
		if e.TokenType == "" {
			return invalid("token_type", "is required")
		}
		return invalid("token_type", quote(string(e.TokenType))+" is not sk, pk or rk")
	}
	if !isOneOf(e.Environment, Environments) {
		if e.Environment == "" {
			return invalid("environment", "is required")
		}
		return invalid("environment", quote(string(e.Environment))+" is not test or live")
	}
	if !isOneOf(e.Action, TokenActions) {
		if e.Action == "" {
			return invalid("event", "is required")
		}
		return invalid("event", quote(string(e.Action))+" is not one of authenticated, failed, expired, ip_blocked, domain_blocked, rate_limited, created, rotated, revoked")
	}
	if e.Status != "" || e.FailureReason != "" || e.Identifier != "" || e.User != nil {
		return e.otherKind(KindLogin)
	}
	return nil
}

// otherKind reports the first field of the given kind set on an event of the
// other kind: JSON would carry it, but Decode ignores it there.
func (e *Event) otherKind(kind Kind) error {
	fields := []struct {
		name string
		set  bool
	}{
		{"status", e.Status != ""},
		{"failure_reason", e.FailureReason != ""},
		{"identifier", e.Identifier != ""},
		{"user", e.User != nil},
	}
	if kind == KindToken {
		fields = []struct {
			name string
			set  bool
		}{
			{"token_id", e.TokenID != ""},
			{"token_name", e.TokenName != ""},
			{"token_type", e.TokenType != ""},
			{"environment", e.Environment != ""},
			{"event", e.Action != ""},
		}
	}
	for _, f := range fields {
		if f.set {
			return invalid(f.name, "belongs to "+string(kind)+" events, not "+string(e.Kind)+" events")
		}
	}
	return nil
}

// checkID checks id and tenant_id: 1–64 of A-Z a-z 0-9 _ -, which keeps them
// safe as NATS subject tokens, KV keys and log fields.
func checkID(field, s string) error {
	if s == "" {
		return invalid(field, "is required")
	}
	if len(s) > MaxIDLen {
		return invalid(field, fmt.Sprintf("%s is longer than %d characters", quote(s), MaxIDLen))
	}
	for i := 0; i < len(s); i++ {
		if !idChar[s[i]] {
			return invalid(field, quote(s)+" may hold only A-Z a-z 0-9 _ -")
		}
	}
	return nil
}

// ValidID says whether s is a valid id or tenant_id: 1–64 of A-Z a-z 0-9
// _ -. Such a string is safe as a NATS subject token, a KV key and a log
// field, which is why the API (tenant ids of tokens), webhook ids and the
// gateway SDK check with it too.
func ValidID(s string) bool { return checkID("id", s) == nil }

var idChar = func() (t [256]bool) {
	for c := range t {
		t[c] = 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-'
	}
	return t
}()

// checker checks free-text fields.
type checker struct {
	text bool // check UTF-8 and NUL, not only the length
}

// check checks a free-text field; see problem.
func (c checker) check(field, s string, max int) error {
	if problem := c.problem(s, max); problem != "" {
		return invalid(field, problem)
	}
	return nil
}

// problem says what is wrong with a free-text value, or "" when nothing is:
// it must be valid UTF-8, hold no NUL character and, when max > 0, have at
// most max characters (Unicode code points, as JSON Schema's maxLength
// counts them). NUL is refused because it has no business in these fields
// and cuts or hides text in the C-string tools and terminals audit data ends
// up in ("admin\u0000x" prints as "admin").
func (c checker) problem(s string, max int) string {
	if s == "" {
		return ""
	}
	if c.text {
		if !utf8.ValidString(s) {
			return quote(s) + " is not valid UTF-8"
		}
		if strings.IndexByte(s, 0) >= 0 {
			return quote(s) + " contains a NUL character"
		}
	}
	// The byte length bounds the character count, so most values skip counting.
	if max > 0 && len(s) > max {
		if n := utf8.RuneCountInString(s); n > max {
			return fmt.Sprintf("is %d characters long, over the limit of %d", n, max)
		}
	}
	return ""
}

func checkTime(t time.Time) error {
	if t.IsZero() {
		return invalid("occurred_at", "is required")
	}
	// The instant is checked in UTC (what storage holds) and, when the time
	// is in another zone, the year as written (what the schema's pattern
	// sees); both must be within range.
	if t.Before(minTime) || !t.Before(endTime) {
		return invalid("occurred_at", t.UTC().Format(time.RFC3339Nano)+fmt.Sprintf(" is outside %d–%d in UTC", minYear, maxYear))
	}
	if t.Location() == time.UTC {
		return nil // what Decode returns
	}
	if y := t.Year(); y < minYear || y > maxYear {
		return invalid("occurred_at", fmt.Sprintf("year %d is outside %d–%d", y, minYear, maxYear))
	}
	if _, offset := t.Zone(); offset%60 != 0 {
		return invalid("occurred_at", "time zone offset is not a whole number of minutes")
	}
	return nil
}

func checkIP(s string) error {
	if s == "" {
		return invalid("ip_address", "is required")
	}
	addr, err := netip.ParseAddr(s)
	if err != nil {
		return invalid("ip_address", quote(s)+" is not an IPv4 or IPv6 address")
	}
	if addr.Zone() != "" {
		return invalid("ip_address", quote(s)+" has a zone; send the address alone")
	}
	return nil
}

func (c checker) metadata(m map[string]string) error {
	if len(m) > MaxMetadataKeys {
		return invalid("metadata", fmt.Sprintf("has %d keys, over the limit of %d", len(m), MaxMetadataKeys))
	}
	size := 0
	bad := false
	for k, v := range m {
		if c.problem(k, 0) != "" || c.problem(v, 0) != "" {
			bad = true
			break
		}
		size += len(k) + len(v)
	}
	if bad {
		// Report the bad entry with the smallest key, so that the message
		// does not depend on map order.
		for _, k := range slices.Sorted(maps.Keys(m)) {
			if problem := c.problem(k, 0); problem != "" {
				return invalid("metadata", "key "+problem)
			}
			if problem := c.problem(m[k], 0); problem != "" {
				return invalid("metadata", "value of key "+quote(k)+": "+problem)
			}
		}
	}
	if size > MaxMetadataBytes {
		return invalid("metadata", fmt.Sprintf("keys and values add up to %d bytes, over the limit of %d", size, MaxMetadataBytes))
	}
	return nil
}

func isOneOf[T ~string](v T, set []T) bool {
	for _, s := range set {
		if v == s {
			return true
		}
	}
	return false
}
