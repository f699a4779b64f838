package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/authwatch/authwatch/internal/notifier"
	"github.com/authwatch/authwatch/internal/notify"
	"github.com/authwatch/authwatch/internal/store"
)

const (
	// maxWebhooksPerTenant bounds the fan-out of one alert.
	maxWebhooksPerTenant = 20
	// maxWebhookBody bounds a POST /webhooks body.
	maxWebhookBody = 64 << 10
)

// WebhookItem is a webhook as the API shows it: never its secret.
type WebhookItem struct {
	ID          string   `json:"id"`
	URL         string   `json:"url"`
	Rules       []string `json:"rules"`
	MinSeverity string   `json:"min_severity"`
	Format      string   `json:"format"`
	CreatedAt   string   `json:"created_at"`
}

func webhookItem(w notify.Webhook) WebhookItem {
	return WebhookItem{ID: w.ID, URL: w.URL, Rules: w.Rules, MinSeverity: string(w.MinSeverity), Format: string(w.Format),
		CreatedAt: formatTime(w.CreatedAt)}
}

// webhookList is the tenant's list; its zero item names the CSV columns
// of an empty one.
type webhookList []WebhookItem

func (webhookList) zeroItem() any { return WebhookItem{Rules: []string{}} }

// TestSent is the answer to POST /webhooks/{id}/test.
type TestSent struct {
	DeliveryID string `json:"delivery_id"`
	AlertID    string `json:"alert_id"`
}

// DeliveryItem is one attempt of the delivery log.
type DeliveryItem struct {
	ID            string  `json:"id"`
	DeliveryID    string  `json:"delivery_id"`
	AlertID       string  `json:"alert_id"`
	Attempt       int     `json:"attempt"`
	StatusCode    *int    `json:"status_code"`
	Error         *string `json:"error"`
	Outcome       string  `json:"outcome"`
	NextAttemptAt *string `json:"next_attempt_at"`
	DurationMs    int64   `json:"duration_ms"`
	AttemptedAt   string  `json:"attempted_at"`
}

func deliveryItem(d store.DeliveryAttempt) DeliveryItem {
	it := DeliveryItem{ID: d.ID(), DeliveryID: d.DeliveryID, AlertID: d.AlertID, Attempt: d.Attempt, Error: nullable(d.Error),
		Outcome: d.Outcome, NextAttemptAt: formatTimePtr(d.NextAttemptAt), DurationMs: d.Duration.Milliseconds(),
		AttemptedAt: formatTime(d.AttemptedAt)}
	if d.StatusCode != 0 {
		code := d.StatusCode
		it.StatusCode = &code
	}
	return it
}

// webhookStore returns the webhook bucket, or ErrNATSUnavailable (503)
// while NATS is not connected or the bucket not declared yet.
func (s *Server) webhookStore() (*notifier.Webhooks, error) {
	if _, err := s.natsConn(); err != nil {
		return nil, err
	}
	w := s.webhooks()
	if w == nil {
		return nil, ErrNATSUnavailable
	}
	return w, nil
}

// POST /api/v1/webhooks — registers a webhook for the tenant's alerts
// published from now on (admin).
func (s *Server) createWebhook(c echo.Context) error {
	tenant := principal(c).TenantID
	in, problems := decodeWebhookInput(c.Request().Body)
	if len(problems["body"]) > 0 {
		return problems.Err()
	}
	ctx := c.Request().Context()
	hook, vp := notify.Validate(ctx, in, s.urls)
	for field, msgs := range vp {
		if _, ok := problems[field]; !ok { // a field of the wrong type is reported once
			problems[field] = msgs
		}
	}
	if err := problems.Err(); err != nil {
		return err
	}
	hooks, err := s.webhookStore()
	if err != nil {
		return err
	}
	existing, err := hooks.List(ctx, tenant)
	if err != nil {
		return s.natsError(err)
	}
	if len(existing) >= maxWebhooksPerTenant {
		return Problems{"url": {fmt.Sprintf("This tenant has %d webhooks, the most allowed; delete one first.", len(existing))}}.Err()
	}
	hook.ID, hook.TenantID, hook.CreatedAt = notify.NewWebhookID(), tenant, s.now().UTC().Truncate(1e9)
	actor := principal(c).UserID
	if err := s.store.InsertAudit(ctx, store.AuditEntry{TenantID: tenant, At: s.now(), Actor: actor,
		Action: "webhook_create", Target: hook.ID, Detail: hook.URL}); err != nil {
		return err
	}
	if err := hooks.Create(ctx, hook); err != nil {
		return s.natsError(err)
	}
	s.log.Info("webhook created", "tenant", tenant, "webhook", hook.ID, "actor", actor, "format", string(hook.Format))
	c.Response().Header().Set("Location", "/api/v1/webhooks/"+hook.ID)
	return c.JSON(http.StatusCreated, webhookItem(hook))
}

// decodeWebhookInput reads the JSON object of POST /webhooks; a field of
// the wrong type is a problem named after it.
func decodeWebhookInput(body io.Reader) (notify.Input, Problems) {
	var in notify.Input
	p := Problems{}
	raw, err := io.ReadAll(io.LimitReader(body, maxWebhookBody+1))
	if err != nil || len(raw) > maxWebhookBody {
		p.Add("body", fmt.Sprintf("The request body must be a JSON object of at most %d bytes.", maxWebhookBody))
		return in, p
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil || fields == nil {
		p.Add("body", "The request body must be a JSON object.")
		return in, p
	}
	str := func(name string) *string {
		v, ok := fields[name]
		if !ok || bytes.Equal(bytes.TrimSpace(v), []byte("null")) {
			return nil
		}
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			p.Add(name, "The "+name+" must be a string.")
			return nil
		}
		return &s
	}
	in.URL, in.MinSeverity, in.Format, in.Secret = str("url"), str("min_severity"), str("format"), str("secret")
	if v, ok := fields["rules"]; ok && !bytes.Equal(bytes.TrimSpace(v), []byte("null")) {
		var rules []string
		if err := json.Unmarshal(v, &rules); err != nil {
			p.Add("rules", `The rules must be an array of rule names, or ["*"].`)
		} else {
			in.Rules = &rules
		}
	}
	return in, p
}

// GET /api/v1/webhooks — the tenant's webhooks, newest first (admin).
func (s *Server) listWebhooks(c echo.Context) error {
	tenant := principal(c).TenantID
	hooks, err := s.webhookStore()
	if err != nil {
		return err
	}
	list, err := hooks.List(c.Request().Context(), tenant)
	if err != nil {
		return s.natsError(err)
	}
	items := make(webhookList, len(list))
	for i, h := range list {
		items[i] = webhookItem(h)
	}
	return respond(c, http.StatusOK, items)
}

// tenantWebhook reads the :id webhook of the caller's tenant; another
// tenant's, or none, is a 404.
func (s *Server) tenantWebhook(c echo.Context) (*notifier.Webhooks, notify.Webhook, error) {
	tenant := principal(c).TenantID
	hooks, err := s.webhookStore()
	if err != nil {
		return nil, notify.Webhook{}, err
	}
	hook, err := hooks.Get(c.Request().Context(), tenant, c.Param("id"))
	switch {
	case errors.Is(err, notifier.ErrNotFound):
		return nil, hook, ErrNotFound
	case err != nil:
		return nil, hook, s.natsError(err)
	}
	return hooks, hook, nil
}

// DELETE /api/v1/webhooks/:id — removes a webhook (admin): jobs of it not
// yet attempted are dropped, its delivery log is kept.
func (s *Server) deleteWebhook(c echo.Context) error {
	hooks, hook, err := s.tenantWebhook(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	actor := principal(c).UserID
	if err := s.store.InsertAudit(ctx, store.AuditEntry{TenantID: hook.TenantID, At: s.now(), Actor: actor,
		Action: "webhook_delete", Target: hook.ID, Detail: hook.URL}); err != nil {
		return err
	}
	switch err := hooks.Delete(ctx, hook.TenantID, hook.ID); {
	case errors.Is(err, notifier.ErrNotFound):
		return ErrNotFound
	case err != nil:
		return s.natsError(err)
	}
	s.log.Info("webhook deleted", "tenant", hook.TenantID, "webhook", hook.ID, "actor", actor)
	return c.NoContent(http.StatusNoContent)
}

// POST /api/v1/webhooks/:id/test — queues a signed sample alert for the
// webhook, delivered (and retried, and logged) like a real one (admin).
func (s *Server) testWebhook(c echo.Context) error {
	hooks, hook, err := s.tenantWebhook(c)
	if err != nil {
		return err
	}
	job, err := hooks.SendTest(c.Request().Context(), hook, s.now())
	if err != nil {
		return s.natsError(err)
	}
	return c.JSON(http.StatusAccepted, TestSent{DeliveryID: job.DeliveryID, AlertID: job.AlertID})
}

// deliveryPage is a page of attempts; its zero item names the CSV columns.
type deliveryPage struct{ List[DeliveryItem] }

func (deliveryPage) zeroItem() any { return DeliveryItem{} }

// GET /api/v1/webhooks/:id/deliveries — the webhook's attempts, newest
// first, one row per attempt (admin).
func (s *Server) webhookDeliveries(c echo.Context) error {
	p := NewParams(c.QueryParams())
	pg := p.Page()
	if err := p.Err(); err != nil {
		return err
	}
	_, hook, err := s.tenantWebhook(c)
	if err != nil {
		return err
	}
	rows, total, err := s.store.Deliveries(c.Request().Context(), hook.TenantID, hook.ID, pg.Offset(), pg.PerPage, s.now())
	if err != nil {
		return err
	}
	items := make([]DeliveryItem, len(rows))
	for i, d := range rows {
		items[i] = deliveryItem(d)
	}
	return respond(c, http.StatusOK, deliveryPage{NewList(items, pg, total)})
}
