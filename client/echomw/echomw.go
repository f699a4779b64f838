// Package echomw is the Echo version of client.LoginGuard's middleware. It
// is a package of its own so that gateways on net/http alone do not pull
// in Echo.
package echomw

import (
	"github.com/labstack/echo/v4"

	"github.com/authwatch/authwatch/client"
)

// Lockouts returns Echo middleware that answers 429 Too Many Requests, with
// a Retry-After header and the JSON body of SPEC §3, to a request whose IP
// is locked out of its tenant, before the handler runs; see
// client.LoginGuard.Middleware. The client's IP comes from g.ClientIP, not
// from Echo's IPExtractor, so that the lockout check and the events
// RecordLogin publishes agree on it.
//
// Record outcomes in the handler with g.RecordLogin(c.Request(), ...).
func Lockouts(g *client.LoginGuard) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if locked, retryAfter := g.Check(c.Request()); locked {
				client.WriteLocked(c.Response(), retryAfter)
				return nil
			}
			return next(c)
		}
	}
}
