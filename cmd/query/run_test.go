package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/authwatch/authwatch/client"
	"github.com/authwatch/authwatch/event"
	"github.com/authwatch/authwatch/internal/testenv"
)

const secret = "e2e-secret-at-least-16-bytes"

func TestRefusesToStartWithoutAKey(t *testing.T) {
	env := map[string]string{"QUERY_ADDR": "127.0.0.1:0"}
	err := run(context.Background(), nil, func(k string) string { return env[k] }, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "AUTHWATCH_JWT_SECRET") {
		t.Errorf("run without a secret = %v, want a refusal naming AUTHWATCH_JWT_SECRET", err)
	}
	env["AUTHWATCH_JWT_SECRET"], env["AUTHWATCH_JWKS_URL"] = secret, "http://127.0.0.1:1/jwks"
	if err := run(context.Background(), nil, func(k string) string { return env[k] }, io.Discard, io.Discard); err == nil {
		t.Error("run with both a secret and a JWKS URL started")
	}
}

func TestMintToken(t *testing.T) {
	var out bytes.Buffer
	env := map[string]string{"AUTHWATCH_JWT_SECRET": secret}
	if err := run(context.Background(), []string{"mint-token", "-tenant", "demo", "-user", "u1", "-admin"}, func(k string) string { return env[k] }, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if strings.Count(strings.TrimSpace(out.String()), ".") != 2 {
		t.Errorf("not a JWT: %q", out.String())
	}
}

// End to end: a gateway publishes through client.Publisher, the real ingest
// binary stores the events, and the API serves them back.
func TestEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the ingest binary")
	}
	n := testenv.StartNATS(t)
	cfg := testenv.ClickHouseConfig(t)
	env := map[string]string{
		"NATS_URL":             n.URL(),
		"CLICKHOUSE_ADDR":      strings.Join(cfg.Addrs, ","),
		"CLICKHOUSE_DATABASE":  cfg.Database,
		"INGEST_ADDR":          testenv.FreeAddr(t),
		"QUERY_ADDR":           testenv.FreeAddr(t),
		"AUTHWATCH_JWT_SECRET": secret,
	}
	getenv := func(k string) string { return env[k] }

	bin := filepath.Join(t.TempDir(), "ingest")
	if out, err := exec.Command("go", "build", "-o", bin, "../ingest").CombinedOutput(); err != nil {
		t.Fatalf("build ingest: %v\n%s", err, out)
	}
	ingest := exec.Command(bin)
	ingest.Env = os.Environ()
	for k, v := range env {
		ingest.Env = append(ingest.Env, k+"="+v)
	}
	if err := ingest.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ingest.Process.Signal(os.Interrupt); _ = ingest.Wait() })

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, nil, getenv, io.Discard, io.Discard) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("query run: %v", err)
		}
	})
	base := "http://" + env["QUERY_ADDR"]
	testenv.Eventually(t, 60*time.Second, "query and ingest ready", func() bool {
		return status(base+"/readyz", "") == 200 && status("http://"+env["INGEST_ADDR"]+"/readyz", "") == 200
	})

	nc, err := nats.Connect(n.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	pub, err := client.NewPublisher(nc)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Now().UTC().Add(-time.Minute)
	for i, st := range []event.Status{event.StatusFailed, event.StatusSuccess} {
		ev := &event.Event{ID: "e2e-" + string(st), Kind: event.KindLogin, TenantID: "demo", UserID: "u1",
			OccurredAt: at.Add(time.Duration(i) * time.Second), IPAddress: "81.2.69.160", Status: st,
			UserAgent: "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15"}
		if err := pub.Publish(ev); err != nil {
			t.Fatal(err)
		}
	}
	cctx, ccancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer ccancel()
	if err := pub.Close(cctx); err != nil {
		t.Fatal(err)
	}

	var tok bytes.Buffer
	if err := run(context.Background(), []string{"mint-token", "-tenant", "demo", "-user", "u1"}, getenv, &tok, io.Discard); err != nil {
		t.Fatal(err)
	}
	bearer := strings.TrimSpace(tok.String())
	var list struct {
		History []struct {
			ID, Status, Platform string
		} `json:"history"`
	}
	testenv.Eventually(t, 20*time.Second, "both logins served by the API", func() bool {
		body := getBody(base+"/api/v1/login-history", bearer)
		return json.Unmarshal(body, &list) == nil && len(list.History) == 2
	})
	if list.History[0].ID != "e2e-success" || list.History[0].Platform != "macOS" || list.History[1].Status != "failed" {
		t.Errorf("history = %+v", list.History)
	}
	if code := status(base+"/api/v1/login-history", ""); code != http.StatusUnauthorized {
		t.Errorf("no token: %d", code)
	}
	if !strings.Contains(string(getBody(base+"/metrics", "")), `authwatch_http_requests_total{code="200",route="/api/v1/login-history"}`) {
		t.Error("API requests are not counted in /metrics")
	}
	// A gateway's lockout check: the failure of a minute ago counts. It reads
	// the by-time copy, which the insert fills right after the user-keyed
	// table the history comes from, so it may lag by a moment.
	testenv.Eventually(t, 20*time.Second, "the lockout check to count the failure", func() bool {
		var lockout struct {
			Locked         bool `json:"locked"`
			FailedAttempts int  `json:"failed_attempts"`
		}
		body := getBody(base+"/api/v1/lockouts/81.2.69.160", bearer)
		return json.Unmarshal(body, &lockout) == nil && !lockout.Locked && lockout.FailedAttempts == 1
	})
}

// The API starts and serves its ClickHouse routes while NATS is down; the
// alert stream and lockout routes answer 503 until NATS is there.
func TestServesWhileNATSIsDown(t *testing.T) {
	n := testenv.StartNATS(t)
	n.Stop()
	cfg := testenv.ClickHouseConfig(t)
	env := map[string]string{
		"NATS_URL":             n.URL(),
		"CLICKHOUSE_ADDR":      strings.Join(cfg.Addrs, ","),
		"CLICKHOUSE_DATABASE":  cfg.Database,
		"QUERY_ADDR":           testenv.FreeAddr(t),
		"AUTHWATCH_JWT_SECRET": secret,
	}
	getenv := func(k string) string { return env[k] }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, nil, getenv, io.Discard, io.Discard) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("query run: %v", err)
		}
	})
	var tok bytes.Buffer
	if err := run(context.Background(), []string{"mint-token", "-tenant", "demo", "-user", "root", "-admin"}, getenv, &tok, io.Discard); err != nil {
		t.Fatal(err)
	}
	bearer := strings.TrimSpace(tok.String())
	base := "http://" + env["QUERY_ADDR"]

	testenv.Eventually(t, 60*time.Second, "the ClickHouse routes to serve", func() bool {
		return status(base+"/api/v1/alerts", bearer) == http.StatusOK
	})
	for _, path := range []string{"/api/v1/lockouts/203.0.113.7", "/api/v1/lockouts", "/api/v1/alerts/stream"} {
		var e struct{ Message string }
		if code := status(base+path, bearer); code != http.StatusServiceUnavailable {
			t.Errorf("%s without NATS: %d, want 503", path, code)
		}
		if json.Unmarshal(getBody(base+path, bearer), &e) != nil || !strings.Contains(e.Message, "NATS") {
			t.Errorf("%s: 503 message %q does not name NATS", path, e.Message)
		}
	}
	if code := status(base+"/readyz", ""); code != http.StatusServiceUnavailable {
		t.Errorf("/readyz without NATS: %d, want 503", code)
	}

	n.Start()
	testenv.Eventually(t, 60*time.Second, "the lockout routes once NATS is up", func() bool {
		return status(base+"/api/v1/lockouts/203.0.113.7", bearer) == http.StatusOK
	})
	testenv.Eventually(t, 30*time.Second, "ready", func() bool { return status(base+"/readyz", "") == http.StatusOK })
}

func status(url, bearer string) int {
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

func getBody(url, bearer string) []byte {
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return b
}
