package httpapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/authwatch/authwatch/internal/bus"
	"github.com/authwatch/authwatch/internal/detect"
	"github.com/authwatch/authwatch/internal/httpapi"
	"github.com/authwatch/authwatch/internal/notify"
	"github.com/authwatch/authwatch/internal/store"
)

// seedWebhook registers a webhook of acme with a fixed id, as the API would.
func seedWebhook(t *testing.T, a *api, id string, created time.Time) notify.Webhook {
	t.Helper()
	h := notify.Webhook{ID: id, TenantID: "acme", URL: "https://93.184.215.14/hook", Rules: []string{"*"},
		MinSeverity: detect.Low, Format: notify.FormatJSON, Secret: "seeded-secret-0123456789", CreatedAt: created.UTC()}
	if err := a.hooks.Create(context.Background(), h); err != nil {
		t.Fatal(err)
	}
	return h
}

// send makes one request with a JSON body and returns the response and body.
func (a *api) send(method, tok, path, body string) (*http.Response, []byte) {
	a.t.Helper()
	req, _ := http.NewRequest(method, a.srv.URL+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

func (a *api) createWebhook(tok, body string) httpapi.WebhookItem {
	a.t.Helper()
	resp, b := a.send(http.MethodPost, tok, "/api/v1/webhooks", body)
	if resp.StatusCode != http.StatusCreated {
		a.t.Fatalf("POST /webhooks %s = %d: %s", body, resp.StatusCode, b)
	}
	var w httpapi.WebhookItem
	if err := json.Unmarshal(b, &w); err != nil {
		a.t.Fatal(err)
	}
	return w
}

func TestWebhookLifecycleAndTenantIsolation(t *testing.T) {
	a := newAPI(t, openAPINow, withNATS())
	admin := a.token("acme", "root", "admin.audit_log")
	otherAdmin := a.token("globex", "root", "admin.audit_log")
	user := a.token("acme", "alice")

	first := a.createWebhook(admin, `{"url":"https://93.184.215.14/authwatch","secret":"0123456789abcdef"}`)
	if !strings.HasPrefix(first.ID, "wh_") || first.Format != "json" || first.MinSeverity != "low" ||
		len(first.Rules) != 1 || first.Rules[0] != "*" || first.CreatedAt != "2026-11-23T12:00:00Z" {
		t.Errorf("defaults: %+v", first)
	}
	resp, body := a.send(http.MethodPost, admin, "/api/v1/webhooks",
		`{"url":"https://93.184.215.14/slack","rules":["ip_lockout","password_spray"],"min_severity":"high","format":"slack","secret":"another-secret-of-some-length"}`)
	if resp.StatusCode != http.StatusCreated || strings.Contains(string(body), "secret") {
		t.Fatalf("create = %d: %s (the secret must not come back)", resp.StatusCode, body)
	}
	var second httpapi.WebhookItem
	_ = json.Unmarshal(body, &second)
	if resp.Header.Get("Location") != "/api/v1/webhooks/"+second.ID || second.Format != "slack" || second.MinSeverity != "high" {
		t.Errorf("second: %+v, Location %q", second, resp.Header.Get("Location"))
	}
	// Stored with its secret, for the notifier.
	stored, err := a.hooks.Get(context.Background(), "acme", second.ID)
	if err != nil || stored.Secret != "another-secret-of-some-length" || stored.TenantID != "acme" {
		t.Errorf("stored: %+v, %v", stored, err)
	}
	mine := a.createWebhook(otherAdmin, `{"url":"https://93.184.215.14/globex","secret":"globex-secret-0123456"}`)

	// The list: the tenant's own, never a secret.
	code, body := a.get(admin, "/api/v1/webhooks", nil)
	if code != http.StatusOK || strings.Contains(string(body), "secret") || strings.Contains(string(body), mine.ID) {
		t.Fatalf("list = %d: %s", code, body)
	}
	var list []httpapi.WebhookItem
	_ = json.Unmarshal(body, &list)
	if len(list) != 2 {
		t.Fatalf("acme lists %d webhooks, want 2: %s", len(list), body)
	}
	if code, _ := a.get(user, "/api/v1/webhooks", nil); code != http.StatusForbidden {
		t.Errorf("a non-admin lists webhooks: %d", code)
	}

	// Another tenant's webhook is none of ours: 404 on every route.
	for _, r := range []struct{ method, path string }{
		{http.MethodDelete, "/api/v1/webhooks/" + first.ID},
		{http.MethodPost, "/api/v1/webhooks/" + first.ID + "/test"},
		{http.MethodGet, "/api/v1/webhooks/" + first.ID + "/deliveries"},
		{http.MethodDelete, "/api/v1/webhooks/wh_nope"},
		{http.MethodDelete, "/api/v1/webhooks/a.b"},
		{http.MethodGet, "/api/v1/webhooks/*/deliveries"},
	} {
		if resp, body := a.send(r.method, otherAdmin, r.path, ""); resp.StatusCode != http.StatusNotFound {
			t.Errorf("globex %s %s = %d, want 404: %s", r.method, r.path, resp.StatusCode, body)
		}
	}
	if resp, _ := a.send(http.MethodDelete, user, "/api/v1/webhooks/"+first.ID, ""); resp.StatusCode != http.StatusForbidden {
		t.Errorf("a non-admin deletes a webhook: %d", resp.StatusCode)
	}

	// The test route queues a job for the notifier.
	resp, body = a.send(http.MethodPost, admin, "/api/v1/webhooks/"+second.ID+"/test", "")
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("test = %d: %s", resp.StatusCode, body)
	}
	var sent httpapi.TestSent
	_ = json.Unmarshal(body, &sent)
	job := a.nextJob()
	if job.DeliveryID != sent.DeliveryID || job.AlertID != sent.AlertID || job.WebhookID != second.ID || job.TenantID != "acme" ||
		job.Attempt != 1 || !strings.HasPrefix(job.AlertID, "test_") || job.DeliveryID != notify.DeliveryID(second.ID, job.AlertID) {
		t.Errorf("test job %+v, answer %+v", job, sent)
	}
	var sample detect.Alert
	if err := json.Unmarshal(job.Alert, &sample); err != nil || sample.Rule != detect.IPLockout || sample.ID != job.AlertID {
		t.Errorf("sample alert %s: %v", job.Alert, err)
	}

	// Deleting: 204, recorded, then gone.
	if resp, body := a.send(http.MethodDelete, admin, "/api/v1/webhooks/"+first.ID, ""); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("delete = %d: %s", resp.StatusCode, body)
	}
	if resp, _ := a.send(http.MethodDelete, admin, "/api/v1/webhooks/"+first.ID, ""); resp.StatusCode != http.StatusNotFound {
		t.Errorf("deleting twice = %d, want 404", resp.StatusCode)
	}
	if _, body := a.get(admin, "/api/v1/webhooks", nil); strings.Contains(string(body), first.ID) {
		t.Errorf("a deleted webhook is listed: %s", body)
	}
	audit, err := a.store.AuditLog(context.Background(), "acme")
	if err != nil {
		t.Fatal(err)
	}
	actions := map[string]int{}
	for _, e := range audit {
		actions[e.Action]++
		if e.Actor != "root" {
			t.Errorf("audit row by %q", e.Actor)
		}
	}
	if actions["webhook_create"] != 2 || actions["webhook_delete"] != 1 {
		t.Errorf("audit log: %v", actions)
	}
}

// nextJob reads the next job queued on AUTH_DELIVERIES.
func (a *api) nextJob() notify.Job {
	a.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := a.js.CreateOrUpdateConsumer(ctx, bus.DeliveriesStream, bus.DeliveriesConsumerConfig())
	if err != nil {
		a.t.Fatal(err)
	}
	batch, err := c.Fetch(1, jetstream.FetchMaxWait(5*time.Second))
	if err != nil {
		a.t.Fatal(err)
	}
	for m := range batch.Messages() {
		_ = m.Ack()
		job, err := notify.ParseJob(m.Data())
		if err != nil {
			a.t.Fatal(err)
		}
		return job
	}
	a.t.Fatal("no job on AUTH_DELIVERIES")
	return notify.Job{}
}

func TestWebhookValidation(t *testing.T) {
	dns := map[string]string{"hooks.example.com": "93.184.215.14", "internal.example.com": "10.1.2.3", "meta.example.com": "169.254.169.254"}
	lookup := func(_ context.Context, host string) ([]netip.Addr, error) {
		if ip, ok := dns[host]; ok {
			return []netip.Addr{netip.MustParseAddr(ip)}, nil
		}
		return nil, errors.New("no such host")
	}
	a := newAPI(t, openAPINow, withNATS(), withWebhookURLs(notify.URLPolicy{Lookup: lookup}))
	admin := a.token("acme", "root", "admin.audit_log")
	const secret = `"secret":"0123456789abcdef"`
	for _, tc := range []struct {
		body  string
		field string
	}{
		{`{` + secret + `}`, "url"},
		{`{"url":"",` + secret + `}`, "url"},
		{`{"url":"ftp://hooks.example.com/",` + secret + `}`, "url"},
		{`{"url":"javascript:alert(1)",` + secret + `}`, "url"},
		{`{"url":"https://localhost/",` + secret + `}`, "url"},
		{`{"url":"http://127.0.0.1:8080/",` + secret + `}`, "url"},
		{`{"url":"http://[::1]/",` + secret + `}`, "url"},
		{`{"url":"http://10.0.0.8/",` + secret + `}`, "url"},
		{`{"url":"http://192.168.1.1/",` + secret + `}`, "url"},
		{`{"url":"http://169.254.169.254/latest/meta-data/",` + secret + `}`, "url"},
		{`{"url":"http://0.0.0.0/",` + secret + `}`, "url"},
		{`{"url":"https://internal.example.com/",` + secret + `}`, "url"},
		{`{"url":"https://meta.example.com/",` + secret + `}`, "url"},
		{`{"url":"https://nxdomain.example.com/",` + secret + `}`, "url"},
		{`{"url":42,` + secret + `}`, "url"},
		{`{"url":"https://hooks.example.com/"}`, "secret"},
		{`{"url":"https://hooks.example.com/","secret":"short"}`, "secret"},
		{`{"url":"https://hooks.example.com/","secret":12345678901234567}`, "secret"},
		{`{"url":"https://hooks.example.com/","rules":[],` + secret + `}`, "rules"},
		{`{"url":"https://hooks.example.com/","rules":["sneezed"],` + secret + `}`, "rules"},
		{`{"url":"https://hooks.example.com/","rules":["*","new_device"],` + secret + `}`, "rules"},
		{`{"url":"https://hooks.example.com/","rules":"new_device",` + secret + `}`, "rules"},
		{`{"url":"https://hooks.example.com/","min_severity":"critical",` + secret + `}`, "min_severity"},
		{`{"url":"https://hooks.example.com/","format":"xml",` + secret + `}`, "format"},
		{`not json`, "body"},
		{`[1,2]`, "body"},
	} {
		resp, body := a.send(http.MethodPost, admin, "/api/v1/webhooks", tc.body)
		var e struct {
			Errors map[string][]string `json:"errors"`
		}
		_ = json.Unmarshal(body, &e)
		if resp.StatusCode != http.StatusUnprocessableEntity || len(e.Errors[tc.field]) == 0 || len(e.Errors) != 1 {
			t.Errorf("POST %s = %d %s; want 422 naming %s alone", tc.body, resp.StatusCode, body, tc.field)
		}
	}
	// Everything wrong at once: each field named.
	_, body := a.send(http.MethodPost, admin, "/api/v1/webhooks", `{"url":"http://localhost/","rules":["x"],"min_severity":"x","format":"x","secret":"x"}`)
	for _, f := range []string{"url", "rules", "min_severity", "format", "secret"} {
		if !strings.Contains(string(body), `"`+f+`":[`) {
			t.Errorf("the 422 does not name %s: %s", f, body)
		}
	}
	// A name that resolves to a public address is fine, and so is null for a default.
	a.createWebhook(admin, `{"url":"https://hooks.example.com/x","rules":null,"format":null,`+secret+`}`)

	// WEBHOOK_ALLOW_PRIVATE=true: loopback and private receivers are allowed.
	open := newAPI(t, openAPINow, withNATS(), withWebhookURLs(notify.URLPolicy{AllowPrivate: true, Lookup: lookup}))
	open.createWebhook(admin, `{"url":"http://127.0.0.1:9999/hook",`+secret+`}`)
	open.createWebhook(admin, `{"url":"http://localhost:9999/hook",`+secret+`}`)
	if resp, _ := open.send(http.MethodPost, admin, "/api/v1/webhooks", `{"url":"ftp://127.0.0.1/",`+secret+`}`); resp.StatusCode != http.StatusUnprocessableEntity {
		t.Errorf("ftp with private allowed = %d, want 422", resp.StatusCode)
	}
}

func TestWebhookLimitPerTenant(t *testing.T) {
	a := newAPI(t, openAPINow, withNATS())
	admin := a.token("acme", "root", "admin.audit_log")
	for range 20 {
		a.createWebhook(admin, `{"url":"https://93.184.215.14/","secret":"0123456789abcdef"}`)
	}
	resp, body := a.send(http.MethodPost, admin, "/api/v1/webhooks", `{"url":"https://93.184.215.14/","secret":"0123456789abcdef"}`)
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(string(body), "20 webhooks") {
		t.Errorf("the 21st webhook = %d: %s", resp.StatusCode, body)
	}
	other := a.token("globex", "root", "admin.audit_log")
	a.createWebhook(other, `{"url":"https://93.184.215.14/","secret":"0123456789abcdef"}`)
}

func TestWebhookDeliveriesPage(t *testing.T) {
	a := newAPI(t, openAPINow, withNATS())
	admin := a.token("acme", "root", "admin.audit_log")
	h := seedWebhook(t, a, "wh_log", openAPINow.Add(-time.Hour))
	at := openAPINow.Add(-time.Minute)
	var rows []store.DeliveryAttempt
	for i := range 3 {
		rows = append(rows, store.DeliveryAttempt{TenantID: "acme", WebhookID: h.ID, DeliveryID: "d1", AlertID: "a1", Attempt: i + 1,
			StatusCode: 500, Error: "HTTP 500: oops", Outcome: "retrying", NextAttemptAt: at.Add(time.Duration(i)*time.Second + time.Second),
			AttemptedAt: at.Add(time.Duration(i) * time.Second), Duration: 3 * time.Millisecond})
	}
	rows[2].StatusCode, rows[2].Error, rows[2].Outcome, rows[2].NextAttemptAt = 200, "", "delivered", time.Time{}
	other := rows[0]
	other.WebhookID = "wh_other"
	if err := a.store.InsertDeliveries(context.Background(), append(rows, other)); err != nil {
		t.Fatal(err)
	}
	var page struct {
		History    []map[string]any   `json:"history"`
		Pagination httpapi.Pagination `json:"pagination"`
	}
	a.getJSON(admin, "/api/v1/webhooks/wh_log/deliveries", map[string][]string{"per_page": {"2"}}, &page)
	if page.Pagination.Total != 3 || page.Pagination.LastPage != 2 || len(page.History) != 2 {
		t.Fatalf("page: %+v", page)
	}
	newest := page.History[0]
	if newest["attempt"] != 3.0 || newest["status_code"] != 200.0 || newest["error"] != nil || newest["outcome"] != "delivered" ||
		newest["next_attempt_at"] != nil || newest["id"] != "d1.3" || newest["delivery_id"] != "d1" || newest["alert_id"] != "a1" {
		t.Errorf("newest attempt: %v", newest)
	}
	if older := page.History[1]; older["attempt"] != 2.0 || older["error"] != "HTTP 500: oops" || older["outcome"] != "retrying" ||
		older["next_attempt_at"] != "2026-11-23T11:59:02Z" || older["attempted_at"] != "2026-11-23T11:59:01Z" {
		t.Errorf("older attempt: %v", older)
	}
	a.getJSON(admin, "/api/v1/webhooks/wh_log/deliveries", map[string][]string{"per_page": {"2"}, "page": {"5"}}, &page)
	if page.Pagination.Total != 3 || len(page.History) != 0 {
		t.Errorf("past the end: %+v", page)
	}
	if errs := a.validationErrors(admin, "/api/v1/webhooks/wh_log/deliveries", map[string][]string{"page": {"0"}}); len(errs["page"]) == 0 {
		t.Errorf("page=0: %v", errs)
	}
}
