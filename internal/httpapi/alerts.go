package httpapi

import (
	"encoding/json"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/authwatch/authwatch/event"
	"github.com/authwatch/authwatch/internal/detect"
	"github.com/authwatch/authwatch/internal/store"
)

var ruleNames = func() []string {
	out := make([]string, len(detect.Rules))
	for i, r := range detect.Rules {
		out[i] = string(r)
	}
	return out
}()

// alertPage is a page of alerts, each the JSON the detector published (SPEC
// §4), served as stored.
type alertPage struct{ List[json.RawMessage] }

// zeroItem names the CSV columns of an empty page: those of an alert.
func (alertPage) zeroItem() any { return detect.Alert{Reasons: []string{}} }

// GET /api/v1/alerts — the tenant's stored alerts, newest first (admin).
func (s *Server) listAlerts(c echo.Context) error {
	p := NewParams(c.QueryParams())
	rule := p.Enum("rule", ruleNames)
	user := p.String("user_id", event.MaxUserIDLen)
	r := p.Dates()
	pg := p.Page()
	if err := p.Err(); err != nil {
		return err
	}
	f := store.AlertFilter{TenantID: principal(c).TenantID, Rule: rule, UserID: user, From: r.From, To: r.To}
	docs, total, err := s.store.Alerts(c.Request().Context(), f, pg.Offset(), pg.PerPage, s.now())
	if err != nil {
		return err
	}
	items := make([]json.RawMessage, len(docs))
	for i, doc := range docs {
		items[i] = json.RawMessage(doc)
	}
	return respond(c, http.StatusOK, alertPage{NewList(items, pg, total)})
}
