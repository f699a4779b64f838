// Package event is authwatch's wire contract, version 1: the JSON object a
// gateway publishes for every login attempt and every API-token use, and the
// pure functions that decode and validate it. It does no I/O, so gateways
// import it too (the client package does).
//
// Decode reads SPEC §2 strictly where the meaning of an event is at stake and
// loosely where a newer gateway may know more than we do:
//
//   - Unknown fields are ignored, whatever their type, so that a later version
//     can add fields without breaking this one. The fields of the other kind
//     (token fields on a login, login fields on a token event) are ignored
//     the same way.
//   - null for an optional field means the field is absent; null for a
//     required field is an error, as is a missing one. An empty string for an
//     optional text field means absent too, but an empty user_id is refused:
//     an event either names its user or leaves the field out.
//   - A field that Decode reads must appear once. Parsers disagree on which
//     of two copies wins (encoding/json keeps the last, others the first), so
//     an event whose meaning depends on the parser is refused (invalid). This
//     holds for the event's fields, user.name and user.email, and metadata
//     keys; repeated unknown fields are not looked at.
//   - The payload must be RFC 8259 JSON in valid UTF-8. A string that escapes
//     half of a UTF-16 surrogate pair (\ud800 alone) is not text and is
//     refused (not_json) rather than stored as U+FFFD.
//   - No string that Decode keeps may contain NUL. A raw NUL byte is not JSON
//     anyway; an escaped one (\u0000) is refused (invalid) because it has no
//     place in these fields and cuts or hides text in the C-string tools and
//     terminals that audit data ends up in.
//
// schemas/event-v1.schema.json states the same format as JSON Schema for
// gateways in other languages; its description lists the rules (payload
// size, metadata bytes, the subject) that JSON Schema cannot express.
package event

import "time"

// Limits of the wire format (SPEC §2).
const (
	MaxPayloadBytes   = 16 << 10 // one message
	MaxUserAgentBytes = 1024     // longer user agents are cut, not rejected
	MaxMetadataKeys   = 32
	MaxMetadataBytes  = 4 << 10 // sum of key and value lengths
	MaxIDLen          = 64      // id and tenant_id
	MaxUserIDLen      = 128
	MaxTokenIDLen     = 128
	MaxTextLen        = 256 // identifier, token_name, user.name, user.email
	MaxReasonLen      = 1024
)

// Kind says which of the two event families an event belongs to; it is also
// the last token of the subject.
type Kind string

const (
	KindLogin Kind = "login"
	KindToken Kind = "token"
)

// Status is the outcome of a login attempt.
type Status string

const (
	StatusSuccess     Status = "success"
	StatusFailed      Status = "failed"
	StatusBlocked     Status = "blocked"
	Status2FARequired Status = "2fa_required"
	Status2FAFailed   Status = "2fa_failed"
)

// Statuses lists every login status in a fixed order (API and rollups use it).
var Statuses = []Status{StatusSuccess, StatusFailed, StatusBlocked, Status2FARequired, Status2FAFailed}

// TokenType is the kind of API key, after Bearer's model: secret, publishable, restricted.
type TokenType string

const (
	TokenSecret      TokenType = "sk"
	TokenPublishable TokenType = "pk"
	TokenRestricted  TokenType = "rk"
)

// TokenTypes lists every token type in a fixed order.
var TokenTypes = []TokenType{TokenSecret, TokenPublishable, TokenRestricted}

// Environment is the environment an API token belongs to.
type Environment string

const (
	EnvTest Environment = "test"
	EnvLive Environment = "live"
)

// Environments lists every environment in a fixed order.
var Environments = []Environment{EnvTest, EnvLive}

// TokenAction is what happened to or with a token (the wire field "event").
type TokenAction string

const (
	TokenAuthenticated TokenAction = "authenticated"
	TokenFailed        TokenAction = "failed"
	TokenExpired       TokenAction = "expired"
	TokenIPBlocked     TokenAction = "ip_blocked"
	TokenDomainBlocked TokenAction = "domain_blocked"
	TokenRateLimited   TokenAction = "rate_limited"
	TokenCreated       TokenAction = "created"
	TokenRotated       TokenAction = "rotated"
	TokenRevoked       TokenAction = "revoked"
)

// TokenActions lists every token action in a fixed order.
var TokenActions = []TokenAction{
	TokenAuthenticated, TokenFailed, TokenExpired, TokenIPBlocked, TokenDomainBlocked,
	TokenRateLimited, TokenCreated, TokenRotated, TokenRevoked,
}

// UserProfile is the account's current profile as the gateway knows it.
type UserProfile struct {
	Name  string `json:"name,omitempty"`
	Email string `json:"email,omitempty"`
}

// Event is one login attempt or one token event. Fields of the other kind are
// left empty. An empty optional string means the field was absent.
type Event struct {
	ID         string            `json:"id"`
	Kind       Kind              `json:"kind"`
	TenantID   string            `json:"tenant_id"`
	UserID     string            `json:"user_id,omitempty"`
	OccurredAt time.Time         `json:"occurred_at"`
	IPAddress  string            `json:"ip_address"`
	UserAgent  string            `json:"user_agent,omitempty"`
	Metadata   map[string]string `json:"metadata,omitempty"`

	// Login events.
	Status        Status       `json:"status,omitempty"`
	FailureReason string       `json:"failure_reason,omitempty"`
	Identifier    string       `json:"identifier,omitempty"`
	User          *UserProfile `json:"user,omitempty"`

	// Token events.
	TokenID     string      `json:"token_id,omitempty"`
	TokenName   string      `json:"token_name,omitempty"`
	TokenType   TokenType   `json:"token_type,omitempty"`
	Environment Environment `json:"environment,omitempty"`
	Action      TokenAction `json:"event,omitempty"`
}

// Subject is the NATS subject an event is published on.
func Subject(tenantID string, kind Kind) string {
	return "auth.events." + tenantID + "." + string(kind)
}
