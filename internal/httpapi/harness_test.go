package httpapi_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/authwatch/authwatch/event"
	"github.com/authwatch/authwatch/internal/auth"
	"github.com/authwatch/authwatch/internal/bus"
	"github.com/authwatch/authwatch/internal/enrich"
	"github.com/authwatch/authwatch/internal/erasure"
	"github.com/authwatch/authwatch/internal/httpapi"
	"github.com/authwatch/authwatch/internal/notifier"
	"github.com/authwatch/authwatch/internal/notify"
	"github.com/authwatch/authwatch/internal/store"
	"github.com/authwatch/authwatch/internal/testenv"
)

var testSecret = []byte("test-secret-of-at-least-16-bytes")

// api is the query API served over real HTTP on a fresh ClickHouse database
// and, when asked for, an embedded NATS server.
type api struct {
	t     *testing.T
	srv   *httptest.Server
	store *store.Store
	now   time.Time

	// Set by withNATS: the server, a client connection (the API's own), the
	// streams declared on it, and the lockout bucket.
	nats *testenv.NATS
	nc   *nats.Conn
	js   jetstream.JetStream
	kv   jetstream.KeyValue
	// hooks is KV bucket auth_webhooks (AUTH_DELIVERIES is declared too).
	hooks *notifier.Webhooks

	stop func() // closes Deps.Done: ends open alert streams
}

// apiOption configures newAPI.
type apiOption func(*apiConfig)

type apiConfig struct {
	nats      bool
	keepalive time.Duration
	erasure   bool
	urls      notify.URLPolicy
}

// withWebhookURLs sets the policy webhook URLs are checked with (the
// default refuses private addresses and asks the system resolver).
func withWebhookURLs(p notify.URLPolicy) apiOption { return func(c *apiConfig) { c.urls = p } }

// withErasure gives the API a real erasure job (internal/erasure) on its store.
func withErasure() apiOption { return func(c *apiConfig) { c.erasure = true } }

// withNATS starts an embedded NATS server with the streams and the lockout
// bucket declared, and gives the API its connection and the bucket.
func withNATS() apiOption { return func(c *apiConfig) { c.nats = true } }

// withKeepalive sets the alert stream's keepalive interval.
func withKeepalive(d time.Duration) apiOption { return func(c *apiConfig) { c.keepalive = d } }

// newAPI starts the API with its clock at now (events in tests are placed
// relative to it, so numbers do not drift with the wall clock). Without
// withNATS the alert stream and lockout routes answer 503.
func newAPI(t *testing.T, now time.Time, opts ...apiOption) *api {
	t.Helper()
	var cfg apiConfig
	for _, o := range opts {
		o(&cfg)
	}
	st, _ := testenv.OpenStore(t)
	v, err := auth.NewHS256(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	a := &api{t: t, store: st, now: now}
	done := make(chan struct{})
	var once sync.Once
	a.stop = func() { once.Do(func() { close(done) }) }
	deps := httpapi.Deps{Store: st, Verifier: v, Log: slog.New(slog.NewTextHandler(testWriter{t}, nil)),
		Now: func() time.Time { return now }, Keepalive: cfg.keepalive, Done: done}
	if cfg.nats {
		a.startNATS()
		deps.NATS = a.nc
		deps.Lockouts = func() jetstream.KeyValue { return a.kv }
		deps.Webhooks = func() *notifier.Webhooks { return a.hooks }
	}
	deps.WebhookURLs = cfg.urls
	if cfg.erasure {
		deps.Eraser = &erasure.Job{Store: st, Rollup: store.NewRollup(st, store.RollupConfig{}), Wait: time.Minute}
	}
	a.srv = httptest.NewServer(httpapi.New(deps))
	t.Cleanup(a.srv.Close)
	t.Cleanup(a.stop) // runs first: open streams end, so Close does not wait on them
	return a
}

func (a *api) startNATS() {
	t := a.t
	t.Helper()
	a.nats = testenv.StartNATS(t)
	nc, err := nats.Connect(a.nats.URL(), nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	a.nc = nc
	if a.js, err = jetstream.New(nc); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := bus.EnsureStreams(ctx, a.js, bus.DefaultTopology()); err != nil {
		t.Fatal(err)
	}
	if a.kv, err = a.js.KeyValue(ctx, bus.LockoutBucket); err != nil {
		t.Fatal(err)
	}
	if err := bus.EnsureWebhooks(ctx, a.js, bus.DefaultTopology()); err != nil {
		t.Fatal(err)
	}
	if a.hooks, err = notifier.OpenWebhooks(ctx, a.js, bus.WebhookBucket); err != nil {
		t.Fatal(err)
	}
}

// seed writes events through the ingest path's batch insert (with enrichment).
func (a *api) seed(events ...*event.Event) {
	a.t.Helper()
	b := store.NewBatch(len(events))
	enr := enrich.New(nil)
	for _, ev := range events {
		if err := ev.Validate(); err != nil {
			a.t.Fatalf("seed event %s: %v", ev.ID, err)
		}
		b.Add(ev, enr.Enrich(ev.UserAgent, ev.IPAddress), a.now)
	}
	if err := a.store.Insert(context.Background(), b); err != nil {
		a.t.Fatal(err)
	}
}

// token signs a bearer token for user of tenant with permissions.
func (a *api) token(tenant, user string, perms ...string) string {
	a.t.Helper()
	tok, err := auth.SignHS256(testSecret, auth.Principal{UserID: user, TenantID: tenant, Permissions: perms}, time.Hour)
	if err != nil {
		a.t.Fatal(err)
	}
	return tok
}

// get requests path with query q as the bearer of tok ("" for none) and
// returns the status and body.
func (a *api) get(tok, path string, q url.Values, headers ...string) (int, []byte) {
	a.t.Helper()
	resp, body := a.do(http.MethodGet, tok, path, q, headers...)
	return resp.StatusCode, body
}

// do makes one request and returns the response (body read) and its body.
func (a *api) do(method, tok, path string, q url.Values, headers ...string) (*http.Response, []byte) {
	a.t.Helper()
	u := a.srv.URL + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, _ := http.NewRequest(method, u, nil)
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, body
}

// getJSON requests and decodes a 200 answer into v.
func (a *api) getJSON(tok, path string, q url.Values, v any) {
	a.t.Helper()
	code, body := a.get(tok, path, q)
	if code != http.StatusOK {
		a.t.Fatalf("GET %s?%s = %d: %s", path, q.Encode(), code, body)
	}
	if err := json.Unmarshal(body, v); err != nil {
		a.t.Fatalf("GET %s: %v: %s", path, err, body)
	}
}

// validationErrors asserts a 422 and returns its errors object.
func (a *api) validationErrors(tok, path string, q url.Values) map[string][]string {
	a.t.Helper()
	return a.validationErrorsOf(http.MethodGet, tok, path, q)
}

// validationErrorsOf is validationErrors for any method.
func (a *api) validationErrorsOf(method, tok, path string, q url.Values) map[string][]string {
	a.t.Helper()
	resp, body := a.do(method, tok, path, q)
	code := resp.StatusCode
	if code != http.StatusUnprocessableEntity {
		a.t.Fatalf("%s %s?%s = %d, want 422: %s", method, path, q.Encode(), code, body)
	}
	var e struct {
		Message string              `json:"message"`
		Errors  map[string][]string `json:"errors"`
	}
	if err := json.Unmarshal(body, &e); err != nil || e.Message == "" {
		a.t.Fatalf("422 body %s: %v", body, err)
	}
	return e.Errors
}

const (
	uaChromeWindows = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
	uaSafariIPhone  = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"
)

// login builds a login event ago before now.
func login(tenant, id, user string, status event.Status, ip string, at time.Time) *event.Event {
	ev := &event.Event{ID: id, Kind: event.KindLogin, TenantID: tenant, UserID: user, OccurredAt: at,
		IPAddress: ip, UserAgent: uaChromeWindows, Status: status}
	if status == event.StatusFailed {
		ev.FailureReason = "invalid_password"
	}
	return ev
}

// tokenEvent builds a token event.
func tokenEvent(tenant, id, user, tokenID string, action event.TokenAction, ip string, at time.Time) *event.Event {
	return &event.Event{ID: id, Kind: event.KindToken, TenantID: tenant, UserID: user, OccurredAt: at,
		IPAddress: ip, UserAgent: "curl/8.4.0", TokenID: tokenID, TokenName: "key " + tokenID,
		TokenType: event.TokenSecret, Environment: event.EnvLive, Action: action}
}

// signWith signs an HS256 token with an arbitrary secret (forgery tests).
func signWith(secret []byte, tenant, user string, perms ...string) (string, error) {
	return auth.SignHS256(secret, auth.Principal{UserID: user, TenantID: tenant, Permissions: perms}, time.Hour)
}

// testWriter sends the API's log to the test log, shown when a test fails.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}
