// Package auth verifies the API's bearer tokens: JWTs signed with a shared
// HS256 secret, or with keys published at a JWKS URL (RS256, ES256, EdDSA).
// Tenant and user come from the token alone.
package auth

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/authwatch/authwatch/event"

	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
)

// PermAuditLog lets a caller see every user of its tenant (SPEC §3).
const PermAuditLog = "admin.audit_log"

// Principal is who is calling.
type Principal struct {
	UserID      string
	TenantID    string
	Permissions []string
}

// Admin reports whether the caller holds admin.audit_log.
func (p Principal) Admin() bool { return slices.Contains(p.Permissions, PermAuditLog) }

// ErrUnauthenticated covers every reason a token is refused; the reason is
// wrapped for logs but never shown to the caller.
var ErrUnauthenticated = errors.New("unauthenticated")

type claims struct {
	jwt.RegisteredClaims
	TenantID    string   `json:"tenant_id"`
	Permissions []string `json:"permissions"`
}

// Verifier checks tokens.
type Verifier struct {
	keyfunc jwt.Keyfunc
	methods []string
	leeway  time.Duration
	now     func() time.Time
}

// NewHS256 verifies tokens signed with secret. Only HS256 is accepted, so a
// token signed with "none" or with an RSA public key used as an HMAC secret
// (algorithm confusion) is refused.
func NewHS256(secret []byte) (*Verifier, error) {
	if len(secret) < 16 {
		return nil, errors.New("AUTHWATCH_JWT_SECRET must be at least 16 bytes")
	}
	return &Verifier{
		keyfunc: func(*jwt.Token) (any, error) { return secret, nil },
		methods: []string{"HS256"},
		leeway:  30 * time.Second,
		now:     time.Now,
	}, nil
}

// NewJWKS verifies tokens against the keys at url, refreshed in the
// background until ctx ends. Only asymmetric algorithms are accepted.
func NewJWKS(ctx context.Context, url string) (*Verifier, error) {
	kf, err := keyfunc.NewDefaultCtx(ctx, []string{url})
	if err != nil {
		return nil, fmt.Errorf("jwks %s: %w", url, err)
	}
	return &Verifier{
		keyfunc: kf.Keyfunc,
		methods: []string{"RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "EdDSA", "PS256"},
		leeway:  30 * time.Second,
		now:     time.Now,
	}, nil
}

// Verify parses and checks a raw token: signature, algorithm, exp and nbf
// (with 30 s of leeway for clock skew), and the sub and tenant_id claims.
func (v *Verifier) Verify(raw string) (Principal, error) {
	var c claims
	_, err := jwt.ParseWithClaims(raw, &c, v.keyfunc,
		jwt.WithValidMethods(v.methods),
		jwt.WithLeeway(v.leeway),
		jwt.WithTimeFunc(v.now),
	)
	if err != nil {
		return Principal{}, fmt.Errorf("%w: %v", ErrUnauthenticated, err)
	}
	if c.Subject == "" || c.TenantID == "" {
		return Principal{}, fmt.Errorf("%w: token lacks sub or tenant_id", ErrUnauthenticated)
	}
	// The tenant becomes a NATS subject token and a KV key prefix: a "*" or
	// "a.>" would reach other tenants, so it must be an id of SPEC §2.
	if !event.ValidID(c.TenantID) {
		return Principal{}, fmt.Errorf("%w: tenant_id is not 1-64 of A-Z a-z 0-9 _ -", ErrUnauthenticated)
	}
	return Principal{UserID: c.Subject, TenantID: c.TenantID, Permissions: c.Permissions}, nil
}

// SignHS256 issues a token; `make run` prints one for the demo, and tests use it.
func SignHS256(secret []byte, p Principal, ttl time.Duration) (string, error) {
	now := time.Now()
	c := claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Subject:   p.UserID,
			IssuedAt:  jwt.NewNumericDate(now),
			NotBefore: jwt.NewNumericDate(now.Add(-time.Minute)),
			ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
		},
		TenantID:    p.TenantID,
		Permissions: p.Permissions,
	}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(secret)
}
