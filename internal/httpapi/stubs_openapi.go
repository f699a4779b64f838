package httpapi

import "github.com/labstack/echo/v4"

// The OpenAPI document: being built (openapi.go replaces this file).

func (s *Server) openAPI(c echo.Context) error { return echo.ErrNotImplemented }
