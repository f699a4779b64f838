package httpapi

import (
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/authwatch/authwatch/internal/auth"
)

const principalKey = "authwatch.principal"

// authenticate requires a valid bearer token and stores its principal.
func (s *Server) authenticate(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		h := c.Request().Header.Get("Authorization")
		scheme, raw, ok := strings.Cut(h, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(raw) == "" {
			return ErrUnauthenticated
		}
		p, err := s.verifier.Verify(strings.TrimSpace(raw))
		if err != nil {
			return ErrUnauthenticated
		}
		c.Set(principalKey, p)
		return next(c)
	}
}

// adminOnly requires admin.audit_log.
func adminOnly(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if !principal(c).Admin() {
			return ErrForbidden
		}
		return next(c)
	}
}

func principal(c echo.Context) auth.Principal {
	p, _ := c.Get(principalKey).(auth.Principal)
	return p
}
