package client

import (
	"errors"
	"net/http"
	"net/netip"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/authwatch/authwatch/event"
)

// LockedMessage is the message of the 429 answer for a locked-out IP, the
// same as authwatch's API gives (SPEC §3).
const LockedMessage = "Too many failed login attempts. Please try again later."

// maxRetryAfter caps retry_after at the length of a lockout (15 minutes),
// as authwatch's API does.
const maxRetryAfter = 900

// LoginGuard wires authwatch into a gateway's login endpoint: Middleware
// answers 429 to a locked-out IP before the login handler runs, and
// RecordLogin publishes the outcome of each attempt as a login event.
// Either half works without the other (a nil Lockouts or Publisher).
//
// The zero value of every optional field is usable; a LoginGuard must not
// be changed once in use.
type LoginGuard struct {
	// Lockouts answers whether an IP is locked. Nil lets every request through.
	Lockouts *Lockouts
	// Publisher sends the events of RecordLogin. Nil makes RecordLogin
	// fail with ErrNoPublisher.
	Publisher *Publisher
	// TenantID is the tenant of every request, for a gateway of one tenant.
	TenantID string
	// Tenant, when set, gives the tenant of each request instead (a
	// gateway serving several tenants, by host name or path, say). An
	// empty answer means no tenant: the request is let through unchecked
	// and RecordLogin refuses it.
	Tenant func(r *http.Request) string
	// ClientIP finds the client's address; the default is RemoteIP. Behind
	// proxies, use TrustedProxies.
	ClientIP ClientIPFunc
	// OnLocked, when set, is called for each request Middleware refuses,
	// before the 429 is written (to count or log them).
	OnLocked func(r *http.Request, ip netip.Addr, retryAfter time.Duration)
}

// ErrNoPublisher is returned by RecordLogin when the LoginGuard has no Publisher.
var ErrNoPublisher = errors.New("client: LoginGuard has no Publisher")

// Middleware wraps a login handler: when the request's IP is locked out
// of its tenant it answers 429 Too Many Requests with a Retry-After header
// and the JSON body of SPEC §3, and next does not run; otherwise next
// runs. The check reads memory only (Lockouts.Locked). A request whose
// tenant or IP is unknown is let through, and so is every request while
// the Lockouts has no view yet: authwatch never blocks a login because it
// is unavailable.
func (g *LoginGuard) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if locked, retryAfter := g.Check(r); locked {
			WriteLocked(w, retryAfter)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// Check reports whether the request's IP is locked out of its tenant and
// for how long, calling OnLocked if it is. Middleware uses it; other
// frameworks' middleware can too (see package echomw).
func (g *LoginGuard) Check(r *http.Request) (locked bool, retryAfter time.Duration) {
	if g.Lockouts == nil {
		return false, 0
	}
	tenant := g.tenant(r)
	if tenant == "" {
		return false, 0
	}
	ip, ok := g.clientIP(r)
	if !ok {
		return false, 0
	}
	locked, retryAfter = g.Lockouts.Locked(tenant, ip)
	if locked && g.OnLocked != nil {
		g.OnLocked(r, ip, retryAfter)
	}
	return locked, retryAfter
}

// RetryAfterSeconds is retryAfter as the whole seconds of a Retry-After
// header and of retry_after: rounded up, at least 1, at most 900.
func RetryAfterSeconds(retryAfter time.Duration) int {
	n := int((retryAfter + time.Second - 1) / time.Second)
	return min(max(n, 1), maxRetryAfter)
}

// WriteLocked writes the 429 answer for a locked-out IP:
//
//	HTTP/1.1 429 Too Many Requests
//	Content-Type: application/json
//	Retry-After: 61
//
//	{"message":"Too many failed login attempts. Please try again later.","retry_after":61}
func WriteLocked(w http.ResponseWriter, retryAfter time.Duration) {
	n := RetryAfterSeconds(retryAfter)
	var num [8]byte
	secs := strconv.AppendInt(num[:0], int64(n), 10)
	h := w.Header()
	h["Content-Type"] = []string{"application/json"}
	h["Retry-After"] = []string{string(secs)}
	w.WriteHeader(http.StatusTooManyRequests)
	body := make([]byte, 0, len(lockedBodyStart)+len(secs)+1)
	body = append(body, lockedBodyStart...)
	body = append(body, secs...)
	body = append(body, '}')
	_, _ = w.Write(body)
}

// lockedBodyStart is the 429 body up to retry_after's value; LockedMessage
// needs no JSON escaping.
const lockedBodyStart = `{"message":"` + LockedMessage + `","retry_after":`

// LoginAttempt is the outcome of one login attempt, as RecordLogin takes it.
type LoginAttempt struct {
	// Status is success, failed, blocked, 2fa_required or 2fa_failed.
	Status event.Status
	// UserID is the account's id; it may be empty only on a failed
	// attempt for an account that does not exist.
	UserID string
	// Identifier is the login name that was tried (above all when there
	// is no such account).
	Identifier string
	// FailureReason says why the attempt failed, for a person.
	FailureReason string
	// User is the account's current profile, when the gateway has it.
	User *event.UserProfile
	// Metadata is free-form context (at most 32 keys, 4 KiB in all).
	Metadata map[string]string
}

// RecordLogin publishes a login event for the attempt: it fills a new id
// (NewEventID), kind login, the request's tenant, occurred_at (now, UTC),
// ip_address (the same ClientIP as the lockout check) and user_agent (cut
// to 1024 bytes), and hands it to the Publisher, which never blocks. It
// returns the Publisher's error: ErrBufferFull when the event was dropped
// (counted in Publisher.Stats), or why the event is invalid. Call it once
// per attempt, after the outcome is known; it must not be called for
// requests Middleware refused (the detector would count them as new
// attempts if they were recorded as failures).
func (g *LoginGuard) RecordLogin(r *http.Request, a LoginAttempt) error {
	if g.Publisher == nil {
		return ErrNoPublisher
	}
	ev := event.Event{
		ID:            NewEventID(),
		Kind:          event.KindLogin,
		TenantID:      g.tenant(r),
		UserID:        a.UserID,
		OccurredAt:    time.Now().UTC(),
		UserAgent:     truncateUTF8(r.UserAgent(), event.MaxUserAgentBytes),
		Metadata:      a.Metadata,
		Status:        a.Status,
		FailureReason: a.FailureReason,
		Identifier:    a.Identifier,
		User:          a.User,
	}
	if ip, ok := g.clientIP(r); ok {
		ev.IPAddress = CanonicalIP(ip).String()
	}
	return g.Publisher.Publish(&ev)
}

func (g *LoginGuard) tenant(r *http.Request) string {
	if g.Tenant != nil {
		return g.Tenant(r)
	}
	return g.TenantID
}

func (g *LoginGuard) clientIP(r *http.Request) (netip.Addr, bool) {
	if g.ClientIP != nil {
		return g.ClientIP(r)
	}
	return RemoteIP(r)
}

// truncateUTF8 cuts s to at most n bytes without splitting a character.
func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
