package httpapi

import "github.com/labstack/echo/v4"

// routes lists the whole API surface (SPEC §3). /healthz, /readyz and
// /metrics are mounted by cmd/query next to these.
func (s *Server) routes(e *echo.Echo) {
	e.GET("/api/openapi.json", s.openAPI)

	v1 := e.Group("/api/v1", s.authenticate)

	v1.GET("/login-history", s.loginHistory)
	v1.GET("/login-history/stats", s.loginStats)
	v1.GET("/login-history/suspicious", s.suspiciousLogins)
	v1.GET("/login-history/tenant", s.tenantLoginHistory, adminOnly)

	v1.GET("/tokens/stats", s.tokenStats)
	v1.GET("/tokens/top", s.topTokens)
	v1.GET("/tokens/:token_id/usage", s.tokenUsageDaily)
	v1.GET("/tokens/:token_id/usage/hourly", s.tokenUsageHourly)
	v1.GET("/tokens/:token_id/usage/ips", s.tokenUsageIPs)
	v1.GET("/tokens/:token_id/summary", s.tokenSummary)
	v1.GET("/tokens/:token_id/events", s.tokenEvents)
	v1.GET("/security/failures", s.securityFailures, adminOnly)
	v1.GET("/security/suspicious-ips", s.suspiciousIPs, adminOnly)

	v1.GET("/analytics/logins", s.loginAnalytics, adminOnly)
	v1.GET("/analytics/tokens", s.tokenAnalytics, adminOnly)

	v1.DELETE("/users/:user_id/history", s.eraseUser, adminOnly)

	v1.GET("/alerts", s.listAlerts, adminOnly)
	v1.GET("/alerts/stream", s.alertStream, adminOnly)
	v1.GET("/lockouts", s.listLockouts, adminOnly)
	v1.GET("/lockouts/:ip", s.lockoutStatus)
	v1.DELETE("/lockouts/:ip", s.deleteLockout, adminOnly)

	v1.GET("/webhooks", s.listWebhooks, adminOnly)
	v1.POST("/webhooks", s.createWebhook, adminOnly)
	v1.DELETE("/webhooks/:id", s.deleteWebhook, adminOnly)
	v1.POST("/webhooks/:id/test", s.testWebhook, adminOnly)
	v1.GET("/webhooks/:id/deliveries", s.webhookDeliveries, adminOnly)
}
