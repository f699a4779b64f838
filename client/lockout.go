package client

import (
	"net/netip"
	"strings"
	"time"

	"github.com/authwatch/authwatch/event"
)

// LockoutBucket is the JetStream KV bucket the authwatch detector writes IP
// lockouts to (SPEC §4). The detector creates it; Lockouts only reads it.
const LockoutBucket = "auth_lockouts"

// Lockout is the value of a key in KV auth_lockouts: an IP locked out of
// one tenant until LockedUntil. The detector writes each key with a TTL,
// so it expires by itself at LockedUntil.
type Lockout struct {
	TenantID       string    `json:"tenant_id"`
	IPAddress      string    `json:"ip_address"` // canonical form, as in events
	FailedAttempts int       `json:"failed_attempts"`
	LockedUntil    time.Time `json:"locked_until"` // RFC 3339 UTC
}

// LockoutKey is the KV key of an IP's lockout in a tenant: <tenant_id>.<ip>
// with the dots and colons of the IP replaced by underscores, so
// "acme.203_0_113_7" and "acme.2001_db8__1". ip must be in canonical form
// (netip.Addr.String of the unmapped address), the form the detector keys
// lockouts by; CanonicalIP gives it.
func LockoutKey(tenantID, ip string) string {
	return tenantID + "." + strings.NewReplacer(".", "_", ":", "_").Replace(ip)
}

// CanonicalIP returns ip the way authwatch stores and keys it: an
// IPv4-mapped IPv6 address becomes the IPv4 address, IPv6 is written as
// RFC 5952 says (lower case, zeros compressed), and a zone is dropped.
func CanonicalIP(ip netip.Addr) netip.Addr {
	return ip.Unmap().WithZone("")
}

// lockKey is a lockout's key in memory: the tenant and the canonical
// address, so that Locked need not format the address (formatting IPv6
// costs more than the rest of the lookup).
type lockKey struct {
	tenant string
	ip     netip.Addr
}

// parseLockoutKey reads a KV key written by LockoutKey back into a lockKey.
// The IP part is unambiguous: with its underscores turned back into dots
// it is an IPv4 address, or with them turned into colons an IPv6 one,
// never both.
func parseLockoutKey(key string) (lockKey, bool) {
	tenant, ipPart, ok := strings.Cut(key, ".")
	if !ok || !validID(tenant) || ipPart == "" || strings.ContainsAny(ipPart, ".:") {
		return lockKey{}, false
	}
	for _, sep := range []string{".", ":"} {
		if ip, err := netip.ParseAddr(strings.ReplaceAll(ipPart, "_", sep)); err == nil {
			return lockKey{tenant, CanonicalIP(ip)}, true
		}
	}
	return lockKey{}, false
}

// validID reports whether s is a valid id or tenant id of SPEC §2.
func validID(s string) bool { return event.ValidID(s) }
