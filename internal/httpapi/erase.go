package httpapi

import (
	"context"
	"net/http"
	"time"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/authwatch/authwatch/internal/store"
)

// Eraser carries out a privacy request (internal/erasure.Job does).
type Eraser interface {
	Run(ctx context.Context, tenant, user, actor string) error
}

// eraseTimeout bounds one erasure running in the background.
const eraseTimeout = time.Hour

// DELETE /api/v1/users/:user_id/history — erase one user of the caller's
// tenant everywhere (admin). The request is recorded, then the erasure runs
// in the background (ClickHouse applies deletions as mutations) and records
// itself again when done; 202 right away.
func (s *Server) eraseUser(c echo.Context) error {
	user := c.Param("user_id")
	if n := utf8.RuneCountInString(user); n < 1 || n > 128 {
		p := Problems{}
		p.Add("user_id", "The user id must be 1 to 128 characters.")
		return p.Err()
	}
	p := principal(c)
	if err := s.store.InsertAudit(c.Request().Context(), store.AuditEntry{TenantID: p.TenantID, At: s.now(), Actor: p.UserID,
		Action: "user_erase", Target: user}); err != nil {
		return err
	}
	if s.eraser != nil {
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), eraseTimeout)
			defer cancel()
			if err := s.eraser.Run(ctx, p.TenantID, user, p.UserID); err != nil {
				s.log.Error("erasure failed; ask again to retry", "tenant", p.TenantID, "user", user, "err", err)
			}
		}()
	}
	return c.JSON(http.StatusAccepted, map[string]string{
		"message": "The erasure of this user's data has started; it is recorded in the audit log when done.",
		"user_id": user,
	})
}
