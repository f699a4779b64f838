package httpapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"sigs.k8s.io/yaml"

	"github.com/authwatch/authwatch/event"
)

// operation is one method and path of api/openapi.yaml with its parameters.
type operation struct {
	method, path string // path in OpenAPI form: /api/v1/tokens/{token_id}/usage
	admin        bool   // the summary says "(admin"
	query, inURL []string
}

// apiOperations reads every /api/v1 operation of the OpenAPI document.
func apiOperations(t *testing.T) []operation {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "..", "api", "openapi.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	js, err := yaml.YAMLToJSON(raw)
	if err != nil {
		t.Fatal(err)
	}
	type param struct {
		Ref  string `json:"$ref"`
		Name string `json:"name"`
		In   string `json:"in"`
	}
	var doc struct {
		Paths      map[string]map[string]json.RawMessage `json:"paths"`
		Components struct {
			Parameters map[string]param `json:"parameters"`
		} `json:"components"`
	}
	if err := json.Unmarshal(js, &doc); err != nil {
		t.Fatal(err)
	}
	var ops []operation
	for path, methods := range doc.Paths {
		if !strings.HasPrefix(path, "/api/v1/") {
			continue
		}
		for method, body := range methods {
			var op struct {
				Summary    string  `json:"summary"`
				Parameters []param `json:"parameters"`
			}
			if json.Unmarshal(body, &op) != nil || op.Summary == "" {
				continue // not an operation (path-level parameters)
			}
			o := operation{method: strings.ToUpper(method), path: path, admin: strings.Contains(op.Summary, "(admin")}
			for _, p := range op.Parameters {
				if p.Ref != "" {
					p = doc.Components.Parameters[strings.TrimPrefix(p.Ref, "#/components/parameters/")]
				}
				switch p.In {
				case "query":
					o.query = append(o.query, p.Name)
				case "path":
					o.inURL = append(o.inURL, p.Name)
				}
			}
			ops = append(ops, o)
		}
	}
	sort.Slice(ops, func(i, j int) bool { return ops[i].path+ops[i].method < ops[j].path+ops[j].method })
	if len(ops) < 20 {
		t.Fatalf("read only %d operations from the OpenAPI document", len(ops))
	}
	return ops
}

// fill puts value in every path parameter.
func (o operation) fill(value string) string {
	p := o.path
	for _, name := range o.inURL {
		p = strings.ReplaceAll(p, "{"+name+"}", url.PathEscape(value))
	}
	return p
}

// Every route refuses callers without a valid token, whatever is wrong
// with it, and admin routes refuse non-admins: checked on every operation
// of the OpenAPI document, so a route added later is covered too.
func TestEveryRouteRefusesBadTokens(t *testing.T) {
	now := time.Now().UTC()
	a := newAPI(t, now)
	sign := func(method jwt.SigningMethod, key any, claims jwt.MapClaims) string {
		s, err := jwt.NewWithClaims(method, claims).SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	claims := func(edit func(jwt.MapClaims)) jwt.MapClaims {
		c := jwt.MapClaims{"sub": "u1", "tenant_id": "acme", "permissions": []string{"admin.audit_log"}, "exp": now.Add(time.Hour).Unix()}
		edit(c)
		return c
	}
	bad := map[string]string{
		"no token":           "",
		"garbage":            "not.a.jwt",
		"wrong secret":       sign(jwt.SigningMethodHS256, []byte("another-secret-of-32-bytes-long!"), claims(func(jwt.MapClaims) {})),
		"alg none":           sign(jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, claims(func(jwt.MapClaims) {})),
		"HS384 with the key": sign(jwt.SigningMethodHS384, testSecret, claims(func(jwt.MapClaims) {})),
		"expired":            sign(jwt.SigningMethodHS256, testSecret, claims(func(c jwt.MapClaims) { c["exp"] = now.Add(-time.Minute).Unix() })),
		"not yet valid":      sign(jwt.SigningMethodHS256, testSecret, claims(func(c jwt.MapClaims) { c["nbf"] = now.Add(time.Hour).Unix() })),
		"no tenant":          sign(jwt.SigningMethodHS256, testSecret, claims(func(c jwt.MapClaims) { delete(c, "tenant_id") })),
		"no subject":         sign(jwt.SigningMethodHS256, testSecret, claims(func(c jwt.MapClaims) { delete(c, "sub") })),
	}
	user := a.token("acme", "u1")
	for _, op := range apiOperations(t) {
		path := op.fill("x1")
		for name, tok := range bad {
			if resp, body := a.do(op.method, tok, path, nil); resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("%s %s with %s: %d %s, want 401", op.method, op.path, name, resp.StatusCode, body)
			}
		}
		resp, body := a.do(op.method, user, path, nil)
		switch {
		case op.admin && resp.StatusCode != http.StatusForbidden:
			t.Errorf("%s %s (admin) as a user: %d %s, want 403", op.method, op.path, resp.StatusCode, body)
		case !op.admin && (resp.StatusCode == http.StatusForbidden || resp.StatusCode == http.StatusUnauthorized):
			t.Errorf("%s %s as a user: %d, want it served", op.method, op.path, resp.StatusCode)
		}
	}
}

// SQL metacharacters in every string a caller controls — every query and
// path parameter of every operation — are data, never SQL: no 500, no
// other tenant's rows, and the tables are all there afterwards.
func TestInjectionInEveryParameter(t *testing.T) {
	now := time.Now().UTC().Truncate(time.Second)
	a := newAPI(t, now)
	a.seed(
		&event.Event{ID: "a1", Kind: event.KindLogin, TenantID: "acme", UserID: "u1", OccurredAt: now.Add(-time.Hour),
			IPAddress: "203.0.113.9", Status: event.StatusFailed},
		&event.Event{ID: "secret-of-globex", Kind: event.KindLogin, TenantID: "globex", UserID: "u1", OccurredAt: now.Add(-time.Hour),
			IPAddress: "198.51.100.77", Status: event.StatusFailed, Identifier: "globex-only"},
		&event.Event{ID: "t-globex", Kind: event.KindToken, TenantID: "globex", UserID: "u1", OccurredAt: now.Add(-time.Hour),
			IPAddress: "198.51.100.77", TokenID: "tok_globex", TokenType: event.TokenSecret, Environment: event.EnvLive, Action: event.TokenFailed},
	)
	payloads := []string{
		`' OR '1'='1`,
		`acme' OR tenant_id != 'acme`,
		`x'); DROP TABLE login_events; --`,
		`1 UNION ALL SELECT id FROM login_events --`,
		`\' OR 1=1 --`,
		`%' OR '%'='`,
		`{tenant_id:String}`,
		"tab\tand\nnewline",
		strings.Repeat("A", 4000),
	}
	admin := a.token("acme", "admin-1", "admin.audit_log")
	allowed := map[int]bool{200: true, 202: true, 204: true, 404: true, 422: true, 503: true}
	checked := 0
	for _, op := range apiOperations(t) {
		if op.path == "/api/v1/alerts/stream" {
			continue // a stream: TestAlertStreamAccess covers it
		}
		for _, p := range payloads {
			var reqs []struct {
				path string
				q    url.Values
			}
			reqs = append(reqs, struct {
				path string
				q    url.Values
			}{op.fill(p), nil})
			for _, name := range op.query {
				reqs = append(reqs, struct {
					path string
					q    url.Values
				}{op.fill("x1"), url.Values{name: {p}}})
			}
			for _, r := range reqs {
				resp, body := a.do(op.method, admin, r.path, r.q)
				checked++
				if !allowed[resp.StatusCode] {
					t.Errorf("%s %s %v with %.40q: %d %.200s", op.method, op.path, r.q, p, resp.StatusCode, body)
				}
				if strings.Contains(string(body), "globex") {
					t.Errorf("%s %s %v with %.40q: another tenant's data in %.300s", op.method, op.path, r.q, p, body)
				}
			}
		}
	}
	var n uint64
	if err := a.store.Conn().QueryRow(context.Background(), "SELECT count() FROM login_events").Scan(&n); err != nil || n != 2 {
		t.Errorf("after the sweep login_events holds %d rows (%v), want the 2 seeded", n, err)
	}
	t.Logf("%d requests with SQL metacharacters", checked)
}
