package httpapi

import "github.com/labstack/echo/v4"

// Analytics routes: being built (analytics.go replaces this file).

func (s *Server) loginAnalytics(c echo.Context) error { return echo.ErrNotImplemented }
func (s *Server) tokenAnalytics(c echo.Context) error { return echo.ErrNotImplemented }
