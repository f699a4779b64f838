package httpapi_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"
	"github.com/pb33f/libopenapi-validator/config"
	liberrors "github.com/pb33f/libopenapi-validator/errors"
	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/yaml"

	apidoc "github.com/authwatch/authwatch/api"
	"github.com/authwatch/authwatch/event"
	"github.com/authwatch/authwatch/internal/detect"
	"github.com/authwatch/authwatch/internal/httpapi"
	"github.com/authwatch/authwatch/internal/ops"
	"github.com/authwatch/authwatch/internal/store"
)

// documentedLater are routes SPEC §3 defines and api/openapi.yaml already
// describes, whose handlers later issues build. Each may be in the document
// without being in the router; once its handler is registered, the entry is
// harmless and can go (the test says so in its log).
var documentedLater = []string{}

// servedOpenAPI builds the API (no store is needed for the document) and
// fetches GET /api/openapi.json from it.
func servedOpenAPI(t *testing.T) (*echo.Echo, []byte) {
	t.Helper()
	e := httpapi.New(httpapi.Deps{Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/openapi.json", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /api/openapi.json = %d: %s", rec.Code, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("GET /api/openapi.json Content-Type = %q", ct)
	}
	return e, rec.Body.Bytes()
}

// openAPIValidator builds a validator over the served document, closed
// first: every object schema that lists its properties gets
// unevaluatedProperties: false, so a field a handler sends and the document
// does not declare fails the test. (The published document stays open, as
// SPEC §3 lets fields be added. libopenapi-validator's own strict mode is
// not used: it reports the keys of additionalProperties maps, and the fields
// of the tenant list's user object, as undeclared.)
func openAPIValidator(t *testing.T, doc []byte) validator.Validator {
	t.Helper()
	var tree any
	if err := json.Unmarshal(doc, &tree); err != nil {
		t.Fatal(err)
	}
	closeObjects(tree)
	closed, err := json.Marshal(tree)
	if err != nil {
		t.Fatal(err)
	}
	d, err := libopenapi.NewDocument(closed)
	if err != nil {
		t.Fatal(err)
	}
	// Formats (date, date-time) are assertions here, not just annotations.
	v, errs := validator.NewValidator(d, config.WithFormatAssertions())
	if len(errs) > 0 {
		t.Fatalf("build validator: %v", errs)
	}
	return v
}

// closeObjects adds unevaluatedProperties: false to every schema of type
// object with properties and no rule of its own for other properties.
func closeObjects(node any) {
	switch n := node.(type) {
	case map[string]any:
		_, hasProps := n["properties"].(map[string]any)
		_, hasAdditional := n["additionalProperties"]
		_, hasUnevaluated := n["unevaluatedProperties"]
		if n["type"] == "object" && hasProps && !hasAdditional && !hasUnevaluated {
			n["unevaluatedProperties"] = false
		}
		for _, child := range n {
			closeObjects(child)
		}
	case []any:
		for _, child := range n {
			closeObjects(child)
		}
	}
}

var echoParam = regexp.MustCompile(`:([A-Za-z0-9_]+)`)

func TestOpenAPIDocumentIsValid(t *testing.T) {
	_, served := servedOpenAPI(t)
	var doc map[string]any
	if err := json.Unmarshal(served, &doc); err != nil {
		t.Fatal(err)
	}
	if doc["openapi"] != "3.1.0" {
		t.Fatalf("openapi = %v, want 3.1.0", doc["openapi"])
	}
	// The JSON served is the YAML in the repository, nothing lost on the way.
	fromYAML, err := yaml.YAMLToJSON(apidoc.OpenAPIYAML)
	if err != nil {
		t.Fatal(err)
	}
	var want map[string]any
	if err := json.Unmarshal(fromYAML, &want); err != nil {
		t.Fatal(err)
	}
	if !jsonEqual(doc, want) {
		t.Fatal("served document differs from api/openapi.yaml")
	}
	// Against the OpenAPI 3.1 meta-schema.
	if ok, errs := openAPIValidator(t, served).ValidateDocument(); !ok {
		for _, e := range errs {
			t.Errorf("%s: %s", e.Message, e.Reason)
			for _, f := range e.SchemaValidationErrors {
				t.Errorf("  %s at %s", f.Reason, f.KeywordLocation)
			}
		}
	}
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}

// TestOpenAPIDocumentsEveryRoute keeps the document and routes.go in step:
// a route registered without being documented fails, and so does a
// documented /api route that nothing serves and no later issue will build.
func TestOpenAPIDocumentsEveryRoute(t *testing.T) {
	e, served := servedOpenAPI(t)
	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(served, &doc); err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	for path, item := range doc.Paths {
		for method := range item {
			switch method {
			case "get", "put", "post", "delete", "options", "head", "patch", "trace":
				documented[strings.ToUpper(method)+" "+path] = true
			}
		}
	}

	routed := map[string]bool{}
	for _, r := range e.Routes() {
		// Group middleware registers catch-all 404 routes: not part of the API.
		if r.Method == echo.RouteNotFound || strings.HasSuffix(r.Name, "NotFoundHandler") || strings.HasSuffix(r.Name, "MethodNotAllowedHandler") {
			continue
		}
		key := r.Method + " " + echoParam.ReplaceAllString(r.Path, "{$1}")
		routed[key] = true
		if !documented[key] {
			t.Errorf("route %s is registered in routes.go but not documented in api/openapi.yaml", key)
		}
	}
	if len(routed) < 10 {
		t.Fatalf("found only %d routes in the router: %v", len(routed), routed)
	}

	for key := range documented {
		_, path, _ := strings.Cut(key, " ")
		if !strings.HasPrefix(path, "/api/") || routed[key] {
			continue
		}
		if !slices.Contains(documentedLater, key) {
			t.Errorf("%s is documented but no route serves it (and it is not in documentedLater)", key)
		}
	}
	for _, key := range documentedLater {
		if !documented[key] {
			t.Errorf("documentedLater lists %s, which the document does not describe", key)
		}
		if routed[key] {
			t.Logf("%s is now routed; it can leave documentedLater", key)
		}
	}
	// cmd/query mounts these next to the API.
	for _, key := range []string{"GET /healthz", "GET /readyz", "GET /metrics"} {
		if !documented[key] {
			t.Errorf("%s is not documented", key)
		}
	}
}

// TestOpenAPIOperationsRoutes validates what internal/ops serves on
// /healthz, /readyz and /metrics against the document.
func TestOpenAPIOperationsRoutes(t *testing.T) {
	_, served := servedOpenAPI(t)
	v := openAPIValidator(t, served)
	ready := ops.NewReadiness()
	ready.Add("clickhouse", func(context.Context) error { return nil })
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	ready.Run(ctx, time.Hour) // evaluates once, then stops
	notReady := ops.NewReadiness()
	notReady.Add("clickhouse", func(context.Context) error { return nil }) // never run: not ready

	for _, tc := range []struct {
		path  string
		ready *ops.Readiness
		code  int
	}{
		{"/healthz", ready, 200}, {"/readyz", ready, 200}, {"/readyz", notReady, 503}, {"/metrics", ready, 200},
	} {
		req := httptest.NewRequest(http.MethodGet, tc.path, nil)
		rec := httptest.NewRecorder()
		ops.Handler(prometheus.NewRegistry(), tc.ready).ServeHTTP(rec, req)
		if rec.Code != tc.code {
			t.Errorf("GET %s = %d, want %d", tc.path, rec.Code, tc.code)
			continue
		}
		checkResponse(t, v, req, rec.Result())
	}
}

// checkResponse validates the request and its response against the
// document, reporting every problem. A request that is wrong on purpose
// (no token, bad parameters) has only its response validated.
func checkResponse(t *testing.T, v validator.Validator, req *http.Request, resp *http.Response) {
	t.Helper()
	var errs []*liberrors.ValidationError
	switch resp.StatusCode {
	case http.StatusUnauthorized, http.StatusUnprocessableEntity:
		_, errs = v.ValidateHttpResponse(req, resp)
	default:
		_, errs = v.ValidateHttpRequestResponse(req, resp)
	}
	for _, e := range errs {
		t.Errorf("%s %s?%s → %d: %v", req.Method, req.URL.Path, req.URL.RawQuery, resp.StatusCode, e)
	}
}

var openAPINow = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

// seedOpenAPIData writes a little of everything a response can show: users
// with and without profiles, a failure on an unknown account, alerts (one
// flagging a login, one without a user, one with a country), tokens of two
// users with uses, failures and lifecycle events, metadata on one event, and
// (when the API has NATS) a lockout.
func seedOpenAPIData(t *testing.T, a *api) {
	t.Helper()
	at := func(d time.Duration) time.Time { return openAPINow.Add(-d) }
	const day = 24 * time.Hour
	ok := login("acme", "l-ok", "alice", event.StatusSuccess, "81.2.69.10", at(time.Hour))
	ok.User = &event.UserProfile{Name: "Alice", Email: "alice@example.com"}
	phone := login("acme", "l-phone", "alice", event.StatusSuccess, "203.0.113.7", at(2*day))
	phone.UserAgent = uaSafariIPhone
	bare := login("acme", "l-bare", "alice", event.StatusSuccess, "81.2.69.10", at(3*day))
	bare.UserAgent = "" // no user agent: browser and platform are null
	unknown := login("acme", "l-unknown", "", event.StatusFailed, "198.51.100.9", at(30*time.Minute))
	unknown.Identifier = "mallory@example.com"
	withMeta := tokenEvent("acme", "t-meta", "alice", "tok_a", event.TokenAuthenticated, "81.2.69.10", at(2*time.Hour))
	withMeta.Metadata = map[string]string{"endpoint": "/v1/charges"}
	nameless := tokenEvent("acme", "t-nameless", "bob", "tok_b", event.TokenCreated, "89.160.20.1", at(5*day))
	nameless.TokenName = ""
	evs := []*event.Event{
		ok, phone, bare, unknown,
		login("acme", "l-fail", "alice", event.StatusFailed, "81.2.69.10", at(3*time.Hour)),
		login("acme", "l-2fa", "alice", event.Status2FAFailed, "81.2.69.10", at(4*time.Hour)),
		login("acme", "l-bob", "bob", event.StatusSuccess, "89.160.20.1", at(6*time.Hour)),
		tokenEvent("acme", "t-created", "alice", "tok_a", event.TokenCreated, "81.2.69.10", at(10*day)),
		withMeta,
		tokenEvent("acme", "t-use-2", "alice", "tok_a", event.TokenAuthenticated, "203.0.113.7", at(3*day)),
		tokenEvent("acme", "t-failed", "alice", "tok_a", event.TokenFailed, "198.51.100.9", at(20*time.Minute)),
		tokenEvent("acme", "t-blocked", "alice", "tok_a", event.TokenIPBlocked, "198.51.100.9", at(10*time.Minute)),
		nameless,
		tokenEvent("acme", "t-bob-use", "bob", "tok_b", event.TokenAuthenticated, "89.160.20.1", at(4*day)),
		tokenEvent("acme", "t-bob-revoked", "bob", "tok_b", event.TokenRevoked, "89.160.20.1", at(day)),
	}
	a.seed(evs...)
	// An alert carries its event's occurred_at (SPEC §4), so flagged lists find the login.
	gb := "GB"
	travel := newAlert("acme", "l-ok", detect.ImpossibleTravel, "alice", "81.2.69.10", ok.OccurredAt)
	travel.Country = &gb
	alerts := []detect.Alert{
		newAlert("acme", "l-phone", detect.NewDevice, "alice", "203.0.113.7", phone.OccurredAt),
		newAlert("acme", "l-unknown", detect.PasswordSpray, "", "198.51.100.9", unknown.OccurredAt),
		travel,
	}
	if err := a.store.InsertAlerts(context.Background(), alerts); err != nil {
		t.Fatal(err)
	}
	if a.kv != nil {
		a.lock("acme", "198.51.100.9", 5, openAPINow.Add(10*time.Minute))
	}
	if a.hooks != nil {
		seedWebhook(t, a, openAPIWebhook, openAPINow.Add(-time.Hour))
		retry := openAPINow.Add(-10 * time.Minute)
		if err := a.store.InsertDeliveries(context.Background(), []store.DeliveryAttempt{
			{TenantID: "acme", WebhookID: openAPIWebhook, DeliveryID: "d1", AlertID: alerts[0].ID, Attempt: 1, StatusCode: 0,
				Error: "no answer within 10s", Outcome: "retrying", NextAttemptAt: retry.Add(10 * time.Second), AttemptedAt: retry, Duration: 10 * time.Second},
			{TenantID: "acme", WebhookID: openAPIWebhook, DeliveryID: "d1", AlertID: alerts[0].ID, Attempt: 2, StatusCode: 204,
				Outcome: "delivered", AttemptedAt: retry.Add(11 * time.Second), Duration: 12 * time.Millisecond},
		}); err != nil {
			t.Fatal(err)
		}
	}
}

// openAPIWebhook is the id of the webhook seedOpenAPIData registers.
const openAPIWebhook = "wh_openapi"

// TestOpenAPIResponsesMatch calls every implemented GET route as a user and
// as an admin, with realistic parameters, and validates the status code,
// content type and body against the served document.
func TestOpenAPIResponsesMatch(t *testing.T) {
	a := newAPI(t, openAPINow, withNATS())
	seedOpenAPIData(t, a)
	_, served := a.get("", "/api/openapi.json", nil)
	v := openAPIValidator(t, served)
	alice := a.token("acme", "alice")
	bob := a.token("acme", "bob")
	admin := a.token("acme", "root", "admin.audit_log")
	var called []string
	check := func(tok, path, query, accept string, want int) (int, []byte) {
		t.Helper()
		called = append(called, path)
		return a.checkAgainstDocument(v, tok, path, query, accept, want)
	}

	type call struct {
		path     string
		query    string
		adminish bool // needs admin.audit_log: 403 for a plain user
	}
	calls := []call{
		{"/api/v1/login-history", "", false},
		{"/api/v1/login-history", "status=success&from=2026-11-01&to=2026-11-23&page=1&per_page=2", false},
		{"/api/v1/login-history", "page=99", false},
		{"/api/v1/login-history/stats", "", false},
		{"/api/v1/login-history/suspicious", "", false},
		{"/api/v1/login-history/tenant", "", true},
		{"/api/v1/login-history/tenant", "user_id=alice&status=success&suspicious_only=true&from=2026-11-01&to=2026-11-23&per_page=10", true},
		{"/api/v1/tokens/stats", "days=30", false},
		{"/api/v1/tokens/top", "limit=10", false},
		{"/api/v1/tokens/tok_a/usage", "days=7", false},
		{"/api/v1/tokens/tok_a/usage/hourly", "days=30", false},
		{"/api/v1/tokens/tok_a/usage/ips", "days=30&limit=100", false},
		{"/api/v1/tokens/tok_a/summary", "", false},
		{"/api/v1/tokens/tok_a/events", "", false},
		{"/api/v1/tokens/tok_a/events", "event=authenticated&from=2026-11-01&to=2026-11-23&per_page=5", false},
		{"/api/v1/security/failures", "hours=24", true},
		{"/api/v1/security/failures", "hours=720&from=2026-11-01&to=2026-11-23&per_page=2", true},
		{"/api/v1/security/suspicious-ips", "minutes=60&min_failures=0", true},
		{"/api/v1/analytics/logins", "interval=day", true},
		{"/api/v1/analytics/logins", "interval=hour&from=2026-11-22&to=2026-11-23", true},
		{"/api/v1/analytics/tokens", "interval=day&from=2026-11-01&to=2026-11-23", true},
		{"/api/v1/alerts", "", true},
		{"/api/v1/alerts", "rule=new_device&user_id=alice&from=2026-11-01&to=2026-11-23&page=1&per_page=1", true},
		{"/api/v1/alerts", "page=9", true},
		{"/api/v1/lockouts", "", true},
		{"/api/v1/lockouts/81.2.69.10", "", false},
		{"/api/v1/lockouts/2001:db8::1", "", false},
		{"/api/v1/webhooks", "", true},
		{"/api/v1/webhooks/" + openAPIWebhook + "/deliveries", "", true},
		{"/api/v1/webhooks/" + openAPIWebhook + "/deliveries", "page=2&per_page=1", true},
	}
	for _, c := range calls {
		for _, who := range []struct {
			tok   string
			admin bool
		}{{alice, false}, {admin, true}} { // alice owns tok_a; an admin sees every token
			want := http.StatusOK
			if c.adminish && !who.admin {
				want = http.StatusForbidden
			}
			code, body := check(who.tok, c.path, c.query, "", want)
			if code == http.StatusOK {
				a.checkCSV(v, who.tok, c.path, c.query, rowCount(t, body))
			}
		}
	}

	// bob's token has a nameless creation event and a revocation.
	for _, path := range []string{"/api/v1/tokens/tok_b/events", "/api/v1/tokens/tok_b/summary", "/api/v1/tokens/top", "/api/v1/tokens/stats"} {
		check(bob, path, "", "", http.StatusOK)
	}

	// Errors: another user's token, unknown values, no or bad token.
	check(bob, "/api/v1/tokens/tok_a/summary", "", "", http.StatusNotFound)
	check(alice, "/api/v1/tokens/nobody-has-this/usage", "", "", http.StatusNotFound)
	check(alice, "/api/v1/login-history", "status=bogus&per_page=0&from=2026-11-23&to=2026-11-01", "", http.StatusUnprocessableEntity)
	check(alice, "/api/v1/tokens/top", "limit=0", "", http.StatusUnprocessableEntity)
	check(alice, "/api/v1/tokens/tok_a/events", "event=sneezed", "", http.StatusUnprocessableEntity)
	check(admin, "/api/v1/analytics/logins", "interval=week", "", http.StatusUnprocessableEntity)
	check(admin, "/api/v1/analytics/tokens", "interval=hour&from=2026-01-01&to=2026-11-23", "", http.StatusUnprocessableEntity)
	check("", "/api/v1/login-history", "", "", http.StatusUnauthorized)
	check("not-a-jwt", "/api/v1/tokens/stats", "", "", http.StatusUnauthorized)

	// Alerts and lockouts: a locked IP, bad values, the stream's refusals
	// (its 200 is endless; TestAlertStream reads it), and the unlock.
	check(alice, "/api/v1/lockouts/198.51.100.9", "", "", http.StatusTooManyRequests)
	check(alice, "/api/v1/lockouts/not-an-ip", "", "", http.StatusUnprocessableEntity)
	check(admin, "/api/v1/alerts", "rule=sneezed&from=2026-11-23&to=2026-11-01", "", http.StatusUnprocessableEntity)
	check(alice, "/api/v1/alerts/stream", "", "", http.StatusForbidden)
	check("", "/api/v1/alerts/stream", "", "", http.StatusUnauthorized)
	a.checkRequest(v, http.MethodDelete, alice, "/api/v1/lockouts/198.51.100.9", "", "", http.StatusForbidden)
	a.checkRequest(v, http.MethodDelete, admin, "/api/v1/lockouts/198.51.100.9", "", "", http.StatusNoContent)
	a.checkRequest(v, http.MethodDelete, admin, "/api/v1/lockouts/nope", "", "", http.StatusUnprocessableEntity)
	check(alice, "/api/v1/lockouts/198.51.100.9", "", "", http.StatusOK)

	// Webhooks: registration (good, bad, not admin), the test delivery, a
	// removal, and another tenant's or no webhook.
	const hookBody = `{"url":"https://93.184.215.14/authwatch","rules":["ip_lockout","password_spray"],"min_severity":"high","format":"slack","secret":"0123456789abcdef0123"}`
	a.checkRequestBody(v, http.MethodPost, admin, "/api/v1/webhooks", hookBody, http.StatusCreated)
	a.checkRequestBody(v, http.MethodPost, admin, "/api/v1/webhooks", `{"url":"https://93.184.215.14/a","secret":"0123456789abcdef"}`, http.StatusCreated)
	a.checkRequestBody(v, http.MethodPost, admin, "/api/v1/webhooks", `{"url":"http://127.0.0.1/","secret":"short"}`, http.StatusUnprocessableEntity)
	a.checkRequestBody(v, http.MethodPost, alice, "/api/v1/webhooks", hookBody, http.StatusForbidden)
	a.checkRequest(v, http.MethodPost, admin, "/api/v1/webhooks/"+openAPIWebhook+"/test", "", "", http.StatusAccepted)
	a.checkRequest(v, http.MethodPost, admin, "/api/v1/webhooks/wh_nobody/test", "", "", http.StatusNotFound)
	check(admin, "/api/v1/webhooks/wh_nobody/deliveries", "", "", http.StatusNotFound)
	check(admin, "/api/v1/webhooks/"+openAPIWebhook+"/deliveries", "per_page=500", "", http.StatusUnprocessableEntity)
	check(alice, "/api/v1/webhooks", "", "", http.StatusForbidden)
	a.checkRequest(v, http.MethodDelete, a.token("other", "root", "admin.audit_log"), "/api/v1/webhooks/"+openAPIWebhook, "", "", http.StatusNotFound)
	a.checkRequest(v, http.MethodDelete, alice, "/api/v1/webhooks/"+openAPIWebhook, "", "", http.StatusForbidden)
	a.checkRequest(v, http.MethodDelete, admin, "/api/v1/webhooks/"+openAPIWebhook, "", "", http.StatusNoContent)
	a.checkRequest(v, http.MethodDelete, admin, "/api/v1/webhooks/"+openAPIWebhook, "", "", http.StatusNotFound)

	// Without NATS: the documented 503.
	noNATS := newAPI(t, openAPINow)
	for _, path := range []string{"/api/v1/lockouts/198.51.100.9", "/api/v1/lockouts", "/api/v1/alerts/stream"} {
		noNATS.checkAgainstDocument(v, admin, path, "", "", http.StatusServiceUnavailable)
	}
	noNATS.checkRequest(v, http.MethodDelete, admin, "/api/v1/lockouts/198.51.100.9", "", "", http.StatusServiceUnavailable)
	noNATS.checkAgainstDocument(v, admin, "/api/v1/webhooks", "", "", http.StatusServiceUnavailable)
	noNATS.checkAgainstDocument(v, admin, "/api/v1/webhooks/wh_x/deliveries", "", "", http.StatusServiceUnavailable)
	noNATS.checkRequestBody(v, http.MethodPost, admin, "/api/v1/webhooks", hookBody, http.StatusServiceUnavailable)
	noNATS.checkRequest(v, http.MethodPost, admin, "/api/v1/webhooks/wh_x/test", "", "", http.StatusServiceUnavailable)
	noNATS.checkRequest(v, http.MethodDelete, admin, "/api/v1/webhooks/wh_x", "", "", http.StatusServiceUnavailable)

	// Every GET route of the router was called: a new one needs a call here.
	for _, r := range a.srv.Config.Handler.(*echo.Echo).Routes() {
		if r.Method != http.MethodGet || !strings.HasPrefix(r.Path, "/api/v1/") {
			continue
		}
		pattern := regexp.MustCompile("^" + echoParam.ReplaceAllString(regexp.QuoteMeta(r.Path), "[^/]+") + "$")
		if !slices.ContainsFunc(called, pattern.MatchString) {
			key := "GET " + echoParam.ReplaceAllString(r.Path, "{$1}")
			if slices.Contains(documentedLater, key) {
				t.Logf("%s is routed now but not called by this test yet", key)
				continue
			}
			t.Errorf("%s is routed but this test never calls it", key)
		}
	}
}

// checkAgainstDocument makes one GET request and validates its answer: the
// status code is want (a 501 from a handler still being built is logged and
// passed over), the content type is JSON (CSV when asked for and answered
// 200), and request and response match the document. It returns the status
// and body.
func (a *api) checkAgainstDocument(v validator.Validator, tok, path, query, accept string, want int) (int, []byte) {
	a.t.Helper()
	return a.checkRequest(v, http.MethodGet, tok, path, query, accept, want)
}

// checkRequest is checkAgainstDocument for any method; a 204 has no body
// and so no content type.
func (a *api) checkRequest(v validator.Validator, method, tok, path, query, accept string, want int) (int, []byte) {
	a.t.Helper()
	return a.checkRequestWith(v, method, tok, path, query, accept, "", want)
}

// checkRequestBody is checkRequest with a JSON request body, validated too.
func (a *api) checkRequestBody(v validator.Validator, method, tok, path, body string, want int) (int, []byte) {
	a.t.Helper()
	return a.checkRequestWith(v, method, tok, path, "", "", body, want)
}

func (a *api) checkRequestWith(v validator.Validator, method, tok, path, query, accept, reqBody string, want int) (int, []byte) {
	t := a.t
	t.Helper()
	u := a.srv.URL + path
	if query != "" {
		u += "?" + query
	}
	req, _ := http.NewRequest(method, u, strings.NewReader(reqBody))
	if reqBody != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	if resp.StatusCode == http.StatusNotImplemented {
		t.Logf("%s %s?%s: 501, not implemented yet; not validated", method, path, query)
		return resp.StatusCode, body
	}
	if resp.StatusCode != want {
		t.Errorf("%s %s?%s (Accept %q) = %d, want %d: %s", method, path, query, accept, resp.StatusCode, want, body)
		return resp.StatusCode, body
	}
	wantCT := "application/json"
	if accept == "text/csv" && want == http.StatusOK {
		wantCT = "text/csv"
	}
	if want == http.StatusNoContent {
		if len(body) != 0 {
			t.Errorf("%s %s: 204 with a body %q", method, path, body)
		}
	} else if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, wantCT) {
		t.Errorf("%s %s?%s (Accept %q): Content-Type %q, want %s", method, path, query, accept, ct, wantCT)
		return resp.StatusCode, body
	}
	// The validator matches the path and query as sent.
	var vbody io.Reader
	if reqBody != "" {
		vbody = strings.NewReader(reqBody)
	}
	vreq, _ := http.NewRequest(method, (&url.URL{Path: path, RawQuery: query}).String(), vbody)
	vreq.Header = req.Header.Clone()
	checkResponse(t, v, vreq, resp)
	return resp.StatusCode, body
}

// checkCSV asks for the same answer as CSV: documented, parseable, with a
// header line and one line per JSON row (an empty list may be empty).
func (a *api) checkCSV(v validator.Validator, tok, path, query string, jsonRows int) {
	a.t.Helper()
	code, body := a.checkAgainstDocument(v, tok, path, query, "text/csv", http.StatusOK)
	if code != http.StatusOK {
		return
	}
	records, err := csv.NewReader(bytes.NewReader(body)).ReadAll()
	switch {
	case err != nil:
		a.t.Errorf("GET %s?%s as CSV: %v: %q", path, query, err, body)
	case jsonRows == 0 && len(records) <= 1:
	case len(records) != jsonRows+1 || len(records[0]) == 0:
		a.t.Errorf("GET %s?%s as CSV: %d lines, want a header and %d rows: %q", path, query, len(records), jsonRows, body)
	}
}

// rowCount is how many CSV rows a JSON answer makes: a list's history, an
// analytics answer's buckets, an array's elements, or the object itself.
func rowCount(t *testing.T, body []byte) int {
	t.Helper()
	var arr []json.RawMessage
	if json.Unmarshal(body, &arr) == nil {
		return len(arr)
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(body, &obj); err != nil {
		t.Fatalf("answer is not JSON: %v: %s", err, body)
	}
	for _, key := range []string{"history", "buckets"} {
		if inner, ok := obj[key]; ok {
			if err := json.Unmarshal(inner, &arr); err != nil {
				t.Fatal(err)
			}
			return len(arr)
		}
	}
	return 1
}

// TestOpenAPIValidatorRejectsWrongBodies proves the validation above has
// teeth: correct bodies pass, and bodies that break the document in typical
// ways are rejected.
func TestOpenAPIValidatorRejectsWrongBodies(t *testing.T) {
	_, served := servedOpenAPI(t)
	v := openAPIValidator(t, served)
	stats := `{"total_logins":3,"logins_last_30_days":2,"failed_attempts_last_30_days":1,"suspicious_logins":0,` +
		`"unique_ips_last_30_days":1,"devices":{"desktop":2},"last_login":null}`
	item := `{"id":"e1","user_id":"alice","tenant_id":"acme","ip_address":"81.2.69.10","user_agent":null,` +
		`"device_type":"unknown","browser":null,"platform":null,"status":"success","failure_reason":null,` +
		`"is_suspicious":false,"created_at":"2026-11-23T11:00:00Z","country":null,"city":null,"identifier":null,` +
		`"suspicious_reasons":[],"user":{"id":"alice","name":"Alice","email":null}}`
	page := func(items ...string) string {
		return `{"history":[` + strings.Join(items, ",") + `],"pagination":{"current_page":1,"last_page":1,"per_page":25,"total":` +
			strconv.Itoa(len(items)) + `}}`
	}
	alert := `{"id":"a1","tenant_id":"acme","user_id":null,"event_id":"e1","rule":"ip_lockout","severity":"high",` +
		`"reasons":["5 failures"],"ip_address":"198.51.100.9","country":null,"occurred_at":"2026-11-23T11:00:00Z","detected_at":"2026-11-23T11:00:01Z"}`
	const (
		statsPath   = "/api/v1/login-history/stats"
		tenantPath  = "/api/v1/login-history/tenant"
		alertsPath  = "/api/v1/alerts"
		lockoutPath = "/api/v1/lockouts/198.51.100.9"
		listPath    = "/api/v1/lockouts"
		lockedBody  = `{"message":"Too many failed login attempts. Please try again later.","retry_after":30}`
		lockoutItem = `{"ip_address":"198.51.100.9","failed_attempts":5,"locked_until":"2026-11-23T12:10:00Z"}`
	)
	cases := []struct {
		name     string
		valid    bool
		path     string
		code     int
		ct, body string
	}{
		{"stats", true, statsPath, 200, "application/json", stats},
		{"tenant page", true, tenantPath, 200, "application/json", page(item)},
		{"anonymous login without user", true, tenantPath, 200, "application/json",
			page(strings.Replace(strings.Replace(item, `"user_id":"alice"`, `"user_id":null`, 1), `,"user":{"id":"alice","name":"Alice","email":null}`, ``, 1))},
		{"422", true, "/api/v1/login-history", 422, "application/json", `{"message":"The given data was invalid.","errors":{"per_page":["too big"]}}`},
		{"401", true, statsPath, 401, "application/json", `{"message":"Unauthenticated."}`},
		{"alert page", true, alertsPath, 200, "application/json", page(alert)},
		{"lockout status", true, lockoutPath, 200, "application/json", `{"locked":false,"failed_attempts":2,"retry_after":0}`},
		{"locked", true, lockoutPath, 429, "application/json", lockedBody},
		{"lockout list", true, listPath, 200, "application/json", "[" + lockoutItem + "]"},

		{"wrong type", false, statsPath, 200, "application/json", strings.Replace(stats, `"total_logins":3`, `"total_logins":"3"`, 1)},
		{"missing field", false, statsPath, 200, "application/json", strings.Replace(stats, `"devices":{"desktop":2},`, ``, 1)},
		{"null where not nullable", false, statsPath, 200, "application/json", strings.Replace(stats, `"total_logins":3`, `"total_logins":null`, 1)},
		{"unknown device type", false, statsPath, 200, "application/json", strings.Replace(stats, `"desktop":2`, `"toaster":2`, 1)},
		{"undeclared field", false, statsPath, 200, "application/json", strings.Replace(stats, `{`, `{"secret_sauce":1,`, 1)},
		{"undocumented status code", false, statsPath, 418, "application/json", `{"message":"teapot"}`},
		{"undocumented media type", false, statsPath, 200, "application/xml", `<stats/>`},
		{"bad time in an item", false, tenantPath, 200, "application/json", page(strings.Replace(item, `2026-11-23T11:00:00Z`, `yesterday`, 1))},
		{"unknown status in an item", false, tenantPath, 200, "application/json", page(strings.Replace(item, `"status":"success"`, `"status":"meh"`, 1))},
		{"undeclared field in a nested object", false, tenantPath, 200, "application/json", page(strings.Replace(item, `"email":null}`, `"email":null,"age":3}`, 1))},
		{"wrong type in a nested object", false, tenantPath, 200, "application/json", page(strings.Replace(item, `"user":{"id":"alice"`, `"user":{"id":5`, 1))},
		{"tenant item of a user without user", false, tenantPath, 200, "application/json", page(strings.Replace(item, `,"user":{"id":"alice","name":"Alice","email":null}`, ``, 1))},
		{"page without pagination", false, tenantPath, 200, "application/json", `{"history":[]}`},
		{"422 without errors", false, "/api/v1/login-history", 422, "application/json", `{"message":"The given data was invalid."}`},
		{"401 without message", false, statsPath, 401, "application/json", `{"error":"no"}`},
		{"alert without rule", false, alertsPath, 200, "application/json", page(strings.Replace(alert, `"rule":"ip_lockout",`, ``, 1))},
		{"alert of an unknown rule", false, alertsPath, 200, "application/json", page(strings.Replace(alert, `"ip_lockout"`, `"sneezed"`, 1))},
		{"lockout status saying locked", false, lockoutPath, 200, "application/json", `{"locked":true,"failed_attempts":2,"retry_after":0}`},
		{"locked for too long", false, lockoutPath, 429, "application/json", strings.Replace(lockedBody, `30`, `901`, 1)},
		{"lockout without locked_until", false, listPath, 200, "application/json", `[{"ip_address":"198.51.100.9","failed_attempts":5}]`},
	}
	for _, tc := range cases {
		req := httptest.NewRequest(http.MethodGet, tc.path, nil)
		resp := &http.Response{StatusCode: tc.code, Header: http.Header{"Content-Type": {tc.ct}}, Body: io.NopCloser(strings.NewReader(tc.body))}
		ok, errs := v.ValidateHttpResponse(req, resp)
		switch {
		case tc.valid && !ok:
			t.Errorf("%s: a correct body is rejected: %v", tc.name, errs)
		case !tc.valid && ok:
			t.Errorf("%s: a wrong body is accepted: %s", tc.name, tc.body)
		}
	}
}
