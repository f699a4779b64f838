package bus

import (
	"encoding/base64"
	"strings"
	"time"
)

// Lockout is the value of a key in KV auth_lockouts (SPEC §4).
type Lockout struct {
	TenantID       string    `json:"tenant_id"`
	IPAddress      string    `json:"ip_address"`
	FailedAttempts int       `json:"failed_attempts"`
	LockedUntil    time.Time `json:"locked_until"` // RFC 3339 UTC
}

// LockoutKey is the KV key of an IP's lockout in a tenant: <tenant_id>.<ip>
// with the dots and colons of the IP replaced by underscores.
func LockoutKey(tenantID, ip string) string {
	return tenantID + "." + strings.NewReplacer(".", "_", ":", "_").Replace(ip)
}

// UserStateKey is the key of a user's detector state in KV
// auth_detector_state: u.<tenant>.<user id, base64url> (KV keys allow few
// characters; user ids may hold any).
func UserStateKey(tenantID, userID string) string {
	return "u." + tenantID + "." + base64.RawURLEncoding.EncodeToString([]byte(userID))
}
