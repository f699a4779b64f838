package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/authwatch/authwatch/internal/bus"
	"github.com/authwatch/authwatch/internal/store"
)

const (
	// failureWindow is how far back failed_attempts counts (SPEC §3).
	failureWindow = 15 * time.Minute
	// maxRetryAfter caps retry_after: a lockout lasts 15 minutes (SPEC §3).
	maxRetryAfter = 900
	// purgeMarkerTTL keeps the marker of an unlock in the bucket this long,
	// so a watcher (the detector) that was away for a while still sees it,
	// and then lets it go instead of keeping one marker per IP forever.
	purgeMarkerTTL = 15 * time.Minute
	lockedMessage  = "Too many failed login attempts. Please try again later."
)

// LockoutStatus is the answer for an IP that is not locked.
type LockoutStatus struct {
	Locked         bool   `json:"locked"`
	FailedAttempts uint64 `json:"failed_attempts"`
	RetryAfter     int    `json:"retry_after"`
}

// LockedOut is the 429 answer for a locked IP.
type LockedOut struct {
	Message    string `json:"message"`
	RetryAfter int    `json:"retry_after"`
}

// LockoutItem is one active lockout in the tenant's list.
type LockoutItem struct {
	IPAddress      string `json:"ip_address"`
	FailedAttempts int    `json:"failed_attempts"`
	LockedUntil    string `json:"locked_until"`
}

// lockoutList is the tenant's list; its zero item names the CSV columns of
// an empty one.
type lockoutList []LockoutItem

func (lockoutList) zeroItem() any { return LockoutItem{} }

// GET /api/v1/lockouts/:ip — whether an IP is locked out of the caller's
// tenant; any authenticated caller (a gateway asks before a login).
func (s *Server) lockoutStatus(c echo.Context) error {
	tenant := principal(c).TenantID
	ip, err := pathIP(c)
	if err != nil {
		return err
	}
	kv, err := s.lockoutBucket()
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	now := s.now()
	l, found, err := s.readLockout(ctx, kv, bus.LockoutKey(tenant, ip))
	if err != nil {
		return err
	}
	if found && l.LockedUntil.After(now) {
		n := retryAfter(l.LockedUntil, now)
		c.Response().Header().Set("Retry-After", strconv.Itoa(n))
		return c.JSON(http.StatusTooManyRequests, LockedOut{Message: lockedMessage, RetryAfter: n})
	}
	n, err := s.store.LoginFailuresFromIP(ctx, tenant, ip, now.Add(-failureWindow))
	if err != nil {
		return err
	}
	return respond(c, http.StatusOK, LockoutStatus{FailedAttempts: n})
}

// GET /api/v1/lockouts — every active lockout of the tenant, the latest
// ending first (admin).
func (s *Server) listLockouts(c echo.Context) error {
	tenant := principal(c).TenantID
	kv, err := s.lockoutBucket()
	if err != nil {
		return err
	}
	active, err := s.activeLockouts(c.Request().Context(), kv, tenant, s.now())
	if err != nil {
		return err
	}
	items := make(lockoutList, len(active))
	for i, l := range active {
		items[i] = LockoutItem{IPAddress: l.IPAddress, FailedAttempts: l.FailedAttempts, LockedUntil: formatTime(l.LockedUntil)}
	}
	return respond(c, http.StatusOK, items)
}

// DELETE /api/v1/lockouts/:ip — unlocks an IP at once and records who did
// it (admin). An IP that is not locked answers 204 too: the caller wants it
// unlocked, and it is; the request is recorded all the same.
func (s *Server) deleteLockout(c echo.Context) error {
	tenant := principal(c).TenantID
	ip, err := pathIP(c)
	if err != nil {
		return err
	}
	kv, err := s.lockoutBucket()
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	key := bus.LockoutKey(tenant, ip)
	// The audit row keeps what was removed: the lockout's JSON, or "" when none.
	var detail string
	switch e, err := kv.Get(ctx, key); {
	case err == nil:
		detail = string(e.Value())
	case !errors.Is(err, jetstream.ErrKeyNotFound):
		return s.natsError(err)
	}
	// Recorded before the unlock: an unlock never goes unrecorded, and a
	// failed one is retried by the caller (the purge is idempotent).
	actor := principal(c).UserID
	if err := s.store.InsertAudit(ctx, store.AuditEntry{TenantID: tenant, At: s.now(), Actor: actor,
		Action: "lockout_delete", Target: ip, Detail: detail}); err != nil {
		return err
	}
	// A purge leaves a marker watchers see as the key's removal.
	if err := kv.Purge(ctx, key, jetstream.PurgeTTL(purgeMarkerTTL)); err != nil {
		return s.natsError(err)
	}
	s.log.Info("lockout deleted", "tenant", tenant, "ip", ip, "actor", actor, "was_locked", detail != "")
	return c.NoContent(http.StatusNoContent)
}

// readLockout reads one key of the bucket; found is false when it is absent.
func (s *Server) readLockout(ctx context.Context, kv jetstream.KeyValue, key string) (l bus.Lockout, found bool, err error) {
	e, err := kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return l, false, nil
	}
	if err != nil {
		return l, false, s.natsError(err)
	}
	if err := json.Unmarshal(e.Value(), &l); err != nil {
		return l, false, fmt.Errorf("lockout %s: %w", key, err)
	}
	return l, true, nil
}

// activeLockouts reads the tenant's lockouts whose time is not over, the
// latest ending first, ties by address.
func (s *Server) activeLockouts(ctx context.Context, kv jetstream.KeyValue, tenant string, now time.Time) ([]bus.Lockout, error) {
	// The watcher delivers each key's current value, then nil; keys are
	// <tenant>.<ip> with the IP's dots and colons replaced, so one token.
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	w, err := kv.Watch(ctx, tenant+".*", jetstream.IgnoreDeletes())
	if err != nil {
		return nil, s.natsError(err)
	}
	defer w.Stop() //nolint:errcheck // nothing to do about it
	var active []bus.Lockout
	for {
		var e jetstream.KeyValueEntry
		var open bool
		select {
		case <-ctx.Done():
			return nil, s.natsError(ctx.Err())
		case e, open = <-w.Updates():
		}
		if !open {
			return nil, s.natsError(errors.New("lockout watcher closed before listing every key"))
		}
		if e == nil {
			break
		}
		var l bus.Lockout
		if err := json.Unmarshal(e.Value(), &l); err != nil {
			s.log.Warn("skipping a lockout that is not JSON", "key", e.Key(), "err", err)
			continue
		}
		if l.LockedUntil.After(now) {
			active = append(active, l)
		}
	}
	slices.SortFunc(active, func(a, b bus.Lockout) int {
		if c := b.LockedUntil.Compare(a.LockedUntil); c != 0 {
			return c
		}
		return strings.Compare(a.IPAddress, b.IPAddress)
	})
	return active, nil
}

// retryAfter is the whole seconds until until, rounded up, within 1–900.
func retryAfter(until, now time.Time) int {
	n := int((until.Sub(now) + time.Second - 1) / time.Second)
	return min(max(n, 1), maxRetryAfter)
}

// pathIP reads the :ip path parameter in canonical form, the form events
// are stored and lockout keys are built with (an IPv4-mapped IPv6 address
// becomes the IPv4 one); anything else is a 422 naming ip.
func pathIP(c echo.Context) (string, error) {
	raw, err := url.PathUnescape(c.Param("ip"))
	if err == nil {
		if addr, perr := netip.ParseAddr(raw); perr == nil && addr.Zone() == "" {
			return addr.Unmap().String(), nil
		}
	}
	return "", Problems{"ip": {"The ip must be an IPv4 or IPv6 address."}}.Err()
}
