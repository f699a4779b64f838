package httpapi

import (
	"encoding/json"
	"net/http"
	"net/url"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/authwatch/authwatch/event"
	"github.com/authwatch/authwatch/internal/store"
)

// Token usage (SPEC §3). A token is visible to its owner (the user_id of its
// latest event) and to an admin of its tenant; to anyone else it does not
// exist, so another user's token and an unknown id give the same 404.

var tokenActionNames = func() []string {
	out := make([]string, len(event.TokenActions))
	for i, a := range event.TokenActions {
		out[i] = string(a)
	}
	return out
}()

// tokenFailureActions are the events /security/failures lists.
var tokenFailureActions = []string{
	string(event.TokenFailed), string(event.TokenExpired), string(event.TokenIPBlocked),
	string(event.TokenDomainBlocked), string(event.TokenRateLimited),
}

// tokenScope is the caller's tokens: all of the tenant's for an admin.
func tokenScope(c echo.Context) store.TokenScope {
	who := principal(c)
	if who.Admin() {
		return store.TokenScope{TenantID: who.TenantID}
	}
	return store.TokenScope{TenantID: who.TenantID, UserID: who.UserID}
}

// visibleToken returns the token id of the path if the caller may see that
// token, else ErrNotFound. A user's token is looked up (its owner must be
// the caller) before anything is read. An admin may see every token of the
// tenant, so only whether it exists matters, and the handler's own read
// usually says: it calls tokenFound with what it found, and the lookup is
// made only when that read found nothing (saving a query per request).
func (s *Server) visibleToken(c echo.Context) (string, error) {
	id := c.Param("token_id")
	// Echo matches on the escaped path when the request had one, and then
	// hands out the parameter still escaped.
	if c.Request().URL.RawPath != "" {
		var err error
		if id, err = url.PathUnescape(id); err != nil {
			return "", ErrNotFound
		}
	}
	if id == "" || len(id) > event.MaxTokenIDLen {
		return "", ErrNotFound
	}
	who := principal(c)
	if who.Admin() {
		return id, nil // tokenFound decides
	}
	owner, ok, err := s.store.TokenOwner(c.Request().Context(), who.TenantID, id)
	if err != nil {
		return "", err
	}
	if !ok || owner != who.UserID {
		return "", ErrNotFound
	}
	return id, nil
}

// tokenFound completes visibleToken once the handler has read: found says
// the read met events of the token (it exists in the caller's tenant). An
// admin's read that found none still needs to know whether the token
// exists at all (404) or only had no events in the window (an empty answer).
func (s *Server) tokenFound(c echo.Context, id string, found bool) error {
	who := principal(c)
	if found || !who.Admin() {
		return nil // a user's token was looked up in visibleToken
	}
	_, ok, err := s.store.TokenOwner(c.Request().Context(), who.TenantID, id)
	if err != nil {
		return err
	}
	if !ok {
		return ErrNotFound
	}
	return nil
}

// tokenDaysWindow is the last days UTC dates up to and including today's, as
// [from, to): from is the first day's midnight, to tomorrow's.
func tokenDaysWindow(now time.Time, days int) (from, to time.Time) {
	now = now.UTC()
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	return today.AddDate(0, 0, -(days - 1)), today.AddDate(0, 0, 1)
}

// tokenDays reads days (1–365, default 30).
func tokenDays(p *Params) int { return p.Int("days", 30, 1, 365) }

// TokenDayCount is one day of /tokens/{id}/usage.
type TokenDayCount struct {
	Date  string `json:"date"`
	Count uint64 `json:"count"`
}

// GET /api/v1/tokens/{token_id}/usage — uses per day, every day of the window.
func (s *Server) tokenUsageDaily(c echo.Context) error {
	p := NewParams(c.QueryParams())
	days := tokenDays(p)
	if err := p.Err(); err != nil {
		return err
	}
	id, err := s.visibleToken(c)
	if err != nil {
		return err
	}
	from, to := tokenDaysWindow(s.now(), days)
	counts, err := s.store.TokenUsesByDay(c.Request().Context(), principal(c).TenantID, id, from, to)
	if err != nil {
		return err
	}
	if err := s.tokenFound(c, id, len(counts) > 0); err != nil {
		return err
	}
	// 18.16 has no WITH FILL: days without uses are filled in here.
	out := make([]TokenDayCount, 0, days)
	for d := from; d.Before(to); d = d.AddDate(0, 0, 1) {
		out = append(out, TokenDayCount{Date: d.Format("2006-01-02"), Count: counts[d]})
	}
	return respond(c, http.StatusOK, out)
}

// TokenHourCount is one hour of day of /tokens/{id}/usage/hourly.
type TokenHourCount struct {
	Hour  int    `json:"hour"`
	Count uint64 `json:"count"`
}

// GET /api/v1/tokens/{token_id}/usage/hourly — uses by UTC hour of day.
func (s *Server) tokenUsageHourly(c echo.Context) error {
	p := NewParams(c.QueryParams())
	days := tokenDays(p)
	if err := p.Err(); err != nil {
		return err
	}
	id, err := s.visibleToken(c)
	if err != nil {
		return err
	}
	from, to := tokenDaysWindow(s.now(), days)
	counts, err := s.store.TokenUsesByHour(c.Request().Context(), principal(c).TenantID, id, from, to)
	if err != nil {
		return err
	}
	if err := s.tokenFound(c, id, counts != [24]uint64{}); err != nil {
		return err
	}
	out := make([]TokenHourCount, 24)
	for h := range out {
		out[h] = TokenHourCount{Hour: h, Count: counts[h]}
	}
	return respond(c, http.StatusOK, out)
}

// TokenIPCount is an IP address with a number of events.
type TokenIPCount struct {
	IPAddress string `json:"ip_address"`
	Count     uint64 `json:"count"`
}

func tokenIPCounts(in []store.IPCount) []TokenIPCount {
	out := make([]TokenIPCount, len(in))
	for i, c := range in {
		out[i] = TokenIPCount{IPAddress: c.IPAddress, Count: c.Count}
	}
	return out
}

// GET /api/v1/tokens/{token_id}/usage/ips — uses per IP, most first.
func (s *Server) tokenUsageIPs(c echo.Context) error {
	p := NewParams(c.QueryParams())
	days := tokenDays(p)
	limit := p.Int("limit", 100, 1, 1000)
	if err := p.Err(); err != nil {
		return err
	}
	id, err := s.visibleToken(c)
	if err != nil {
		return err
	}
	from, to := tokenDaysWindow(s.now(), days)
	ips, err := s.store.TokenUsesByIP(c.Request().Context(), principal(c).TenantID, id, from, to, limit)
	if err != nil {
		return err
	}
	if err := s.tokenFound(c, id, len(ips) > 0); err != nil {
		return err
	}
	return respond(c, http.StatusOK, tokenIPCounts(ips))
}

// TokenSummary is the answer of /tokens/{id}/summary.
type TokenSummary struct {
	TotalUses     uint64  `json:"total_uses"`
	UsesLast7Days uint64  `json:"uses_last_7_days"`
	FirstUsedAt   *string `json:"first_used_at"`
	LastUsedAt    *string `json:"last_used_at"`
}

// GET /api/v1/tokens/{token_id}/summary — uses of all time and of the
// last 7 × 24 hours.
func (s *Server) tokenSummary(c echo.Context) error {
	id, err := s.visibleToken(c)
	if err != nil {
		return err
	}
	since := s.now().Add(-7 * 24 * time.Hour)
	sum, err := s.store.TokenUseSummary(c.Request().Context(), principal(c).TenantID, id, since)
	if err != nil {
		return err
	}
	if err := s.tokenFound(c, id, sum.TotalUses > 0); err != nil {
		return err
	}
	return respond(c, http.StatusOK, TokenSummary{
		TotalUses: sum.TotalUses, UsesLast7Days: sum.UsesSince,
		FirstUsedAt: formatTimePtr(sum.FirstUsed), LastUsedAt: formatTimePtr(sum.LastUsed),
	})
}

// TokenEventItem is one event of a token's audit log or of the security
// failures list.
type TokenEventItem struct {
	ID          string          `json:"id"`
	TokenID     string          `json:"token_id"`
	TokenName   *string         `json:"token_name"`
	TokenType   string          `json:"token_type"`
	Environment string          `json:"environment"`
	Event       string          `json:"event"`
	UserID      *string         `json:"user_id"`
	IPAddress   string          `json:"ip_address"`
	UserAgent   *string         `json:"user_agent"`
	Metadata    json.RawMessage `json:"metadata"`
	CreatedAt   string          `json:"created_at"`
}

func tokenEventItem(e store.TokenEvent) TokenEventItem {
	// metadata is stored as the JSON text of a string map, "{}" when the
	// event had none; anything else would be a storage bug, shown as {}.
	meta := json.RawMessage(e.Metadata)
	if len(meta) == 0 || meta[0] != '{' || !json.Valid(meta) {
		meta = json.RawMessage("{}")
	}
	return TokenEventItem{
		ID: e.ID, TokenID: e.TokenID, TokenName: nullable(e.TokenName), TokenType: e.TokenType,
		Environment: e.Environment, Event: e.Event, UserID: nullable(e.UserID), IPAddress: e.IPAddress,
		UserAgent: nullable(e.UserAgent), Metadata: meta, CreatedAt: formatTime(e.OccurredAt),
	}
}

// tokenEventList serves the two paginated lists of token events.
func (s *Server) tokenEventList(c echo.Context, f store.TokenEventFilter, pg Page) error {
	events, total, err := s.store.TokenEvents(c.Request().Context(), f, pg.Offset(), pg.PerPage, s.now())
	if err != nil {
		return err
	}
	if f.TokenID != "" {
		if err := s.tokenFound(c, f.TokenID, total > 0); err != nil {
			return err
		}
	}
	items := make([]TokenEventItem, len(events))
	for i, e := range events {
		items[i] = tokenEventItem(e)
	}
	return respond(c, http.StatusOK, NewList(items, pg, total))
}

// GET /api/v1/tokens/{token_id}/events — the token's audit log.
func (s *Server) tokenEvents(c echo.Context) error {
	p := NewParams(c.QueryParams())
	action := p.Enum("event", tokenActionNames)
	r := p.Dates()
	pg := p.Page()
	if err := p.Err(); err != nil {
		return err
	}
	id, err := s.visibleToken(c)
	if err != nil {
		return err
	}
	f := store.TokenEventFilter{TenantID: principal(c).TenantID, TokenID: id, From: r.From, To: r.To}
	if action != "" {
		f.Events = []string{action}
	}
	return s.tokenEventList(c, f, pg)
}

// GET /api/v1/security/failures — the tenant's failed token events of the
// last hours (admin). from and to, when given, narrow that window further.
func (s *Server) securityFailures(c echo.Context) error {
	p := NewParams(c.QueryParams())
	hours := p.Int("hours", 24, 1, 720)
	r := p.Dates()
	pg := p.Page()
	if err := p.Err(); err != nil {
		return err
	}
	f := store.TokenEventFilter{TenantID: principal(c).TenantID, Events: tokenFailureActions,
		From: s.now().Add(-time.Duration(hours) * time.Hour), To: r.To}
	if r.From.After(f.From) {
		f.From = r.From
	}
	return s.tokenEventList(c, f, pg)
}

// GET /api/v1/security/suspicious-ips — IPs with more than min_failures
// failed or ip_blocked token events in the last minutes (admin).
func (s *Server) suspiciousIPs(c echo.Context) error {
	p := NewParams(c.QueryParams())
	minutes := p.Int("minutes", 60, 1, 1440)
	minFailures := p.Int("min_failures", 10, 0, 1_000_000)
	if err := p.Err(); err != nil {
		return err
	}
	since := s.now().Add(-time.Duration(minutes) * time.Minute)
	ips, err := s.store.SuspiciousTokenIPs(c.Request().Context(), principal(c).TenantID, since, minFailures)
	if err != nil {
		return err
	}
	return respond(c, http.StatusOK, tokenIPCounts(ips))
}

// TokenStats is the answer of /tokens/stats.
type TokenStats struct {
	TotalTokens    uint64              `json:"total_tokens"`
	ActiveTokens   uint64              `json:"active_tokens"`
	ByEnvironment  TokensByEnvironment `json:"by_environment"`
	ByType         TokensByType        `json:"by_type"`
	TotalRequests  uint64              `json:"total_requests"`
	UniqueIPs      uint64              `json:"unique_ips"`
	FailedAttempts uint64              `json:"failed_attempts"`
}

// TokensByEnvironment counts tokens by their latest environment.
type TokensByEnvironment struct {
	Test uint64 `json:"test"`
	Live uint64 `json:"live"`
}

// TokensByType counts tokens by their latest type.
type TokensByType struct {
	SK uint64 `json:"sk"`
	PK uint64 `json:"pk"`
	RK uint64 `json:"rk"`
}

// GET /api/v1/tokens/stats — the caller's tokens (the tenant's for an admin).
func (s *Server) tokenStats(c echo.Context) error {
	p := NewParams(c.QueryParams())
	days := tokenDays(p)
	if err := p.Err(); err != nil {
		return err
	}
	from, to := tokenDaysWindow(s.now(), days)
	st, err := s.store.TokenStats(c.Request().Context(), tokenScope(c), from, to)
	if err != nil {
		return err
	}
	return respond(c, http.StatusOK, TokenStats{
		TotalTokens: st.TotalTokens, ActiveTokens: st.ActiveTokens,
		ByEnvironment: TokensByEnvironment{Test: st.EnvTest, Live: st.EnvLive},
		ByType:        TokensByType{SK: st.TypeSK, PK: st.TypePK, RK: st.TypeRK},
		TotalRequests: st.TotalRequests, UniqueIPs: st.UniqueIPs, FailedAttempts: st.Failed,
	})
}

// TopToken is one entry of /tokens/top.
type TopToken struct {
	TokenID   string  `json:"token_id"`
	TokenName *string `json:"token_name"`
	Uses      uint64  `json:"uses"`
}

// GET /api/v1/tokens/top — the caller's most used tokens of all time.
func (s *Server) topTokens(c echo.Context) error {
	p := NewParams(c.QueryParams())
	limit := p.Int("limit", 10, 1, 100)
	if err := p.Err(); err != nil {
		return err
	}
	top, err := s.store.TopTokens(c.Request().Context(), tokenScope(c), limit)
	if err != nil {
		return err
	}
	out := make([]TopToken, len(top))
	for i, t := range top {
		out[i] = TopToken{TokenID: t.TokenID, TokenName: nullable(t.Name), Uses: t.Uses}
	}
	return respond(c, http.StatusOK, out)
}
