package httpapi

import (
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/authwatch/authwatch/event"
	"github.com/authwatch/authwatch/internal/store"
)

// LoginItem is one login in a history list (SPEC §3).
type LoginItem struct {
	ID                string    `json:"id"`
	UserID            *string   `json:"user_id"`
	TenantID          string    `json:"tenant_id"`
	IPAddress         string    `json:"ip_address"`
	UserAgent         *string   `json:"user_agent"`
	DeviceType        string    `json:"device_type"`
	Browser           *string   `json:"browser"`
	Platform          *string   `json:"platform"`
	Status            string    `json:"status"`
	FailureReason     *string   `json:"failure_reason"`
	IsSuspicious      bool      `json:"is_suspicious"`
	CreatedAt         string    `json:"created_at"`
	Country           *string   `json:"country"`
	City              *string   `json:"city"`
	Identifier        *string   `json:"identifier"`
	SuspiciousReasons []string  `json:"suspicious_reasons"`
	User              *UserInfo `json:"user,omitempty"`
}

// UserInfo is a user's latest profile, on the tenant-wide list.
type UserInfo struct {
	ID    string  `json:"id"`
	Name  *string `json:"name"`
	Email *string `json:"email"`
}

// nullable turns the storage's "" for absent into JSON null.
func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// formatTime is the API's time format: RFC 3339, UTC, seconds.
func formatTime(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func formatTimePtr(t time.Time) *string {
	if t.IsZero() {
		return nil
	}
	s := formatTime(t)
	return &s
}

func loginItem(l store.Login) LoginItem {
	rules := l.Rules
	if rules == nil {
		rules = []string{}
	}
	return LoginItem{
		ID: l.ID, UserID: nullable(l.UserID), TenantID: l.TenantID, IPAddress: l.IPAddress,
		UserAgent: nullable(l.UserAgent), DeviceType: l.DeviceType, Browser: nullable(l.Browser),
		Platform: nullable(l.Platform), Status: l.Status, FailureReason: nullable(l.FailureReason),
		IsSuspicious: len(l.Rules) > 0, CreatedAt: formatTime(l.OccurredAt), Country: nullable(l.Country),
		City: nullable(l.City), Identifier: nullable(l.Identifier), SuspiciousReasons: rules,
	}
}

var statusNames = func() []string {
	out := make([]string, len(event.Statuses))
	for i, s := range event.Statuses {
		out[i] = string(s)
	}
	return out
}()

// loginList serves the three lists that differ only in their filter; the
// tenant-wide one also names each row's user.
func (s *Server) loginList(c echo.Context, f store.LoginFilter, pg Page, withProfiles bool) error {
	logins, total, err := s.store.Logins(c.Request().Context(), f, pg.Offset(), pg.PerPage)
	if err != nil {
		return err
	}
	items := make([]LoginItem, len(logins))
	for i, l := range logins {
		items[i] = loginItem(l)
	}
	if withProfiles {
		if err := s.attachProfiles(c, f.TenantID, logins, items); err != nil {
			return err
		}
	}
	return respond(c, http.StatusOK, NewList(items, pg, total))
}

func (s *Server) attachProfiles(c echo.Context, tenant string, logins []store.Login, items []LoginItem) error {
	var ids []string
	seen := map[string]bool{}
	for _, l := range logins {
		if l.UserID != "" && !seen[l.UserID] {
			seen[l.UserID] = true
			ids = append(ids, l.UserID)
		}
	}
	profiles, err := s.store.Profiles(c.Request().Context(), tenant, ids)
	if err != nil {
		return err
	}
	for i, l := range logins {
		if l.UserID == "" {
			continue
		}
		p := profiles[l.UserID]
		items[i].User = &UserInfo{ID: l.UserID, Name: nullable(p.Name), Email: nullable(p.Email)}
	}
	return nil
}

// GET /api/v1/login-history — the caller's own logins.
func (s *Server) loginHistory(c echo.Context) error {
	p := NewParams(c.QueryParams())
	status := p.Enum("status", statusNames)
	r := p.Dates()
	pg := p.Page()
	if err := p.Err(); err != nil {
		return err
	}
	who := principal(c)
	return s.loginList(c, store.LoginFilter{TenantID: who.TenantID, UserID: who.UserID, Status: status, From: r.From, To: r.To}, pg, false)
}

// GET /api/v1/login-history/suspicious — the caller's flagged logins.
func (s *Server) suspiciousLogins(c echo.Context) error {
	p := NewParams(c.QueryParams())
	r := p.Dates()
	pg := p.Page()
	if err := p.Err(); err != nil {
		return err
	}
	who := principal(c)
	return s.loginList(c, store.LoginFilter{TenantID: who.TenantID, UserID: who.UserID, From: r.From, To: r.To, SuspiciousOnly: true}, pg, false)
}

// GET /api/v1/login-history/tenant — every user's logins (admin).
func (s *Server) tenantLoginHistory(c echo.Context) error {
	p := NewParams(c.QueryParams())
	user := p.String("user_id", event.MaxUserIDLen)
	status := p.Enum("status", statusNames)
	suspicious := p.Bool("suspicious_only")
	r := p.Dates()
	pg := p.Page()
	if err := p.Err(); err != nil {
		return err
	}
	f := store.LoginFilter{TenantID: principal(c).TenantID, UserID: user, Status: status, From: r.From, To: r.To, SuspiciousOnly: suspicious}
	return s.loginList(c, f, pg, true)
}

// LoginStats is the answer of /login-history/stats.
type LoginStats struct {
	TotalLogins              uint64            `json:"total_logins"`
	LoginsLast30Days         uint64            `json:"logins_last_30_days"`
	FailedAttemptsLast30Days uint64            `json:"failed_attempts_last_30_days"`
	SuspiciousLogins         uint64            `json:"suspicious_logins"`
	UniqueIPsLast30Days      uint64            `json:"unique_ips_last_30_days"`
	Devices                  map[string]uint64 `json:"devices"`
	LastLogin                *string           `json:"last_login"`
}

// GET /api/v1/login-history/stats — the caller's numbers.
func (s *Server) loginStats(c echo.Context) error {
	who := principal(c)
	st, err := s.store.UserLoginStats(c.Request().Context(), who.TenantID, who.UserID, s.now())
	if err != nil {
		return err
	}
	return respond(c, http.StatusOK, LoginStats{
		TotalLogins: st.TotalLogins, LoginsLast30Days: st.LoginsLast30Days, FailedAttemptsLast30Days: st.FailedLast30Days,
		SuspiciousLogins: st.SuspiciousLogins, UniqueIPsLast30Days: st.UniqueIPsLast30, Devices: st.Devices,
		LastLogin: formatTimePtr(st.LastLogin),
	})
}
