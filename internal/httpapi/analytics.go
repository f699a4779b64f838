package httpapi

import (
	"fmt"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/authwatch/authwatch/internal/store"
)

// Analytics for analysts (SPEC §3): counts per hour or day of the caller's
// tenant. The store reads closed buckets from the rollup tables and the rest
// live, each event counted once; here are the parameters and the shape.

var intervalNames = []string{string(store.Hourly), string(store.Daily)}

// analyticsWindow is a validated analytics request: whole UTC days [From, To).
type analyticsWindow struct {
	Interval store.Interval
	From, To time.Time
}

// Range limits and defaults, in days, by interval.
var (
	analyticsMaxDays     = map[store.Interval]int{store.Hourly: 31, store.Daily: 400}
	analyticsDefaultDays = map[store.Interval]int{store.Hourly: 7, store.Daily: 30}
)

// analyticsParams reads interval (default day), from and to (default: the
// last 7 days by hour, 30 by day, ending today in UTC). It is pure: today
// comes from the API clock.
func analyticsParams(p *Params, now time.Time) analyticsWindow {
	iv := store.Interval(p.Enum("interval", intervalNames))
	if iv == "" {
		iv = store.Daily
	}
	r := p.Dates() // To is the day after `to`
	w := analyticsWindow{Interval: iv, From: r.From, To: r.To}
	if w.To.IsZero() {
		w.To = store.Daily.Truncate(now).AddDate(0, 0, 1)
	}
	if w.From.IsZero() {
		w.From = w.To.AddDate(0, 0, -analyticsDefaultDays[iv])
	}
	if _, reported := p.Problems["from"]; reported {
		return w
	}
	switch days := int(w.To.Sub(w.From) / (24 * time.Hour)); {
	case days < 1:
		p.Problems.Add("from", "The from must be a date before or equal to to.")
	case days > analyticsMaxDays[iv]:
		p.Problems.Add("from", fmt.Sprintf("The range may not be longer than %d days by %s.", analyticsMaxDays[iv], iv))
	}
	return w
}

// Analytics is the answer of both analytics routes.
type Analytics[T any] struct {
	Interval string `json:"interval"`
	Buckets  []T    `json:"buckets"`
}

// LoginAnalyticsBucket is one bucket of /analytics/logins.
type LoginAnalyticsBucket struct {
	Bucket        string `json:"bucket"`
	Success       uint64 `json:"success"`
	Failed        uint64 `json:"failed"`
	Blocked       uint64 `json:"blocked"`
	TwoFARequired uint64 `json:"2fa_required"`
	TwoFAFailed   uint64 `json:"2fa_failed"`
	UniqueUsers   uint64 `json:"unique_users"`
	UniqueIPs     uint64 `json:"unique_ips"`
}

// TokenAnalyticsBucket is one bucket of /analytics/tokens.
type TokenAnalyticsBucket struct {
	Bucket        string          `json:"bucket"`
	Authenticated uint64          `json:"authenticated"`
	Failed        uint64          `json:"failed"`
	Expired       uint64          `json:"expired"`
	IPBlocked     uint64          `json:"ip_blocked"`
	DomainBlocked uint64          `json:"domain_blocked"`
	RateLimited   uint64          `json:"rate_limited"`
	Created       uint64          `json:"created"`
	Rotated       uint64          `json:"rotated"`
	Revoked       uint64          `json:"revoked"`
	UniqueTokens  uint64          `json:"unique_tokens"`
	ByEnvironment EnvironmentUses `json:"by_environment"`
}

// EnvironmentUses are uses (authenticated events) per token environment.
type EnvironmentUses struct {
	Test uint64 `json:"test"`
	Live uint64 `json:"live"`
}

// GET /api/v1/analytics/logins — login counts per bucket (admin).
func (s *Server) loginAnalytics(c echo.Context) error {
	p := NewParams(c.QueryParams())
	w := analyticsParams(p, s.now())
	if err := p.Err(); err != nil {
		return err
	}
	rows, err := s.store.LoginAnalytics(c.Request().Context(), principal(c).TenantID, w.Interval, w.From, w.To)
	if err != nil {
		return err
	}
	out := Analytics[LoginAnalyticsBucket]{Interval: string(w.Interval), Buckets: make([]LoginAnalyticsBucket, len(rows))}
	for i, b := range rows {
		out.Buckets[i] = LoginAnalyticsBucket{Bucket: formatTime(b.Start), Success: b.Success, Failed: b.Failed,
			Blocked: b.Blocked, TwoFARequired: b.TwoFARequired, TwoFAFailed: b.TwoFAFailed,
			UniqueUsers: b.UniqueUsers, UniqueIPs: b.UniqueIPs}
	}
	return respond(c, http.StatusOK, out)
}

// GET /api/v1/analytics/tokens — token event counts per bucket (admin).
func (s *Server) tokenAnalytics(c echo.Context) error {
	p := NewParams(c.QueryParams())
	w := analyticsParams(p, s.now())
	if err := p.Err(); err != nil {
		return err
	}
	rows, err := s.store.TokenAnalytics(c.Request().Context(), principal(c).TenantID, w.Interval, w.From, w.To)
	if err != nil {
		return err
	}
	out := Analytics[TokenAnalyticsBucket]{Interval: string(w.Interval), Buckets: make([]TokenAnalyticsBucket, len(rows))}
	for i, b := range rows {
		out.Buckets[i] = TokenAnalyticsBucket{Bucket: formatTime(b.Start), Authenticated: b.Authenticated,
			Failed: b.Failed, Expired: b.Expired, IPBlocked: b.IPBlocked, DomainBlocked: b.DomainBlocked,
			RateLimited: b.RateLimited, Created: b.Created, Rotated: b.Rotated, Revoked: b.Revoked,
			UniqueTokens: b.UniqueTokens, ByEnvironment: EnvironmentUses{Test: b.TestUses, Live: b.LiveUses}}
	}
	return respond(c, http.StatusOK, out)
}
