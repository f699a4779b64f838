package httpapi

import "github.com/labstack/echo/v4"

// Token routes: being built (tokens.go replaces this file).

func (s *Server) tokenStats(c echo.Context) error       { return echo.ErrNotImplemented }
func (s *Server) topTokens(c echo.Context) error        { return echo.ErrNotImplemented }
func (s *Server) tokenUsageDaily(c echo.Context) error  { return echo.ErrNotImplemented }
func (s *Server) tokenUsageHourly(c echo.Context) error { return echo.ErrNotImplemented }
func (s *Server) tokenUsageIPs(c echo.Context) error    { return echo.ErrNotImplemented }
func (s *Server) tokenSummary(c echo.Context) error     { return echo.ErrNotImplemented }
func (s *Server) tokenEvents(c echo.Context) error      { return echo.ErrNotImplemented }
func (s *Server) securityFailures(c echo.Context) error { return echo.ErrNotImplemented }
func (s *Server) suspiciousIPs(c echo.Context) error    { return echo.ErrNotImplemented }
