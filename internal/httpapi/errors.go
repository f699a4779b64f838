package httpapi

import (
	"errors"
	"log/slog"
	"net/http"

	"github.com/labstack/echo/v4"
)

// Problems collects validation errors by parameter name; the answer is a 422
// naming each (SPEC §3).
type Problems map[string][]string

// Add records one problem with a parameter.
func (p Problems) Add(param, msg string) { p[param] = append(p[param], msg) }

// Err returns a *ValidationError when there are problems, else nil.
func (p Problems) Err() error {
	if len(p) == 0 {
		return nil
	}
	return &ValidationError{Problems: p}
}

// ValidationError is a request whose parameters are wrong: 422.
type ValidationError struct{ Problems Problems }

func (e *ValidationError) Error() string { return "the given data was invalid" }

// Domain errors the handlers return; errorHandler maps them to the spec's
// status codes and JSON shape in this one place.
var (
	ErrUnauthenticated = errors.New("Unauthenticated.")
	ErrForbidden       = errors.New("This action requires the admin.audit_log permission.")
	ErrNotFound        = errors.New("Not found.")
	// ErrNATSUnavailable: the alert stream and lockout routes need NATS,
	// which is not connected (or its lockout bucket not declared) yet.
	ErrNATSUnavailable = errors.New("NATS is not reachable yet: alerts and lockouts are unavailable; retry shortly.")
)

type errorBody struct {
	Message string   `json:"message"`
	Errors  Problems `json:"errors,omitempty"`
}

// errorHandler writes every error as {"message": ...}; internals are logged,
// never shown.
func errorHandler(log *slog.Logger) echo.HTTPErrorHandler {
	return func(err error, c echo.Context) {
		if c.Response().Committed {
			return
		}
		code, body := classify(err)
		// A 503 is a dependency away, reported on /readyz; not worth a log line per request.
		if code >= 500 && code != http.StatusServiceUnavailable {
			log.Error("request failed", "method", c.Request().Method, "path", c.Path(), "err", err)
		}
		if code == http.StatusServiceUnavailable {
			c.Response().Header().Set("Retry-After", "5")
		}
		if c.Request().Method == http.MethodHead {
			_ = c.NoContent(code)
			return
		}
		_ = c.JSON(code, body)
	}
}

func classify(err error) (int, errorBody) {
	var ve *ValidationError
	var he *echo.HTTPError
	switch {
	case errors.As(err, &ve):
		return http.StatusUnprocessableEntity, errorBody{Message: "The given data was invalid.", Errors: ve.Problems}
	case errors.Is(err, ErrUnauthenticated):
		return http.StatusUnauthorized, errorBody{Message: ErrUnauthenticated.Error()}
	case errors.Is(err, ErrForbidden):
		return http.StatusForbidden, errorBody{Message: ErrForbidden.Error()}
	case errors.Is(err, ErrNotFound):
		return http.StatusNotFound, errorBody{Message: ErrNotFound.Error()}
	case errors.Is(err, ErrNATSUnavailable):
		return http.StatusServiceUnavailable, errorBody{Message: ErrNATSUnavailable.Error()}
	case errors.As(err, &he):
		msg := http.StatusText(he.Code)
		if he.Code < 500 {
			if s, ok := he.Message.(string); ok {
				msg = s
			}
		}
		return he.Code, errorBody{Message: msg}
	}
	return http.StatusInternalServerError, errorBody{Message: "Internal server error."}
}
