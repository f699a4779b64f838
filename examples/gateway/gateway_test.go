package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/authwatch/authwatch/client"
	"github.com/authwatch/authwatch/internal/testenv"
)

const tenant = "gw-demo"

// The example gateway against the real stack: embedded NATS, the detector
// binary and ClickHouse. Five failed logins from one IP lock it out; the
// sixth attempt gets the 429 of SPEC §3 before the password is looked at,
// within a second of the fifth answer.
func TestFiveFailuresLockTheIPOut(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the detector against NATS and ClickHouse")
	}
	srv := testenv.StartNATS(t)
	startDetector(t, srv.URL())

	nc := connect(t, srv.URL())
	pub, err := client.NewPublisher(nc, client.WithLogger(quiet()))
	if err != nil {
		t.Fatal(err)
	}
	lockouts, err := client.NewLockouts(nc, client.LockoutsConfig{TenantID: tenant, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(lockouts.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := lockouts.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	// The gateway sits behind a proxy on loopback, which says who the
	// client is in X-Forwarded-For.
	clientIP, err := client.TrustedProxies("127.0.0.0/8", "::1")
	if err != nil {
		t.Fatal(err)
	}
	guard := &client.LoginGuard{Lockouts: lockouts, Publisher: pub, TenantID: tenant, ClientIP: clientIP}
	gw := httptest.NewServer(newServer(demoUsers, guard, quiet()))
	t.Cleanup(gw.Close)

	const attacker, bystander = "203.0.113.50", "203.0.113.51"
	for i := 1; i <= 5; i++ {
		if code, body := login(t, gw.URL, attacker, "alice", "guess"+strconv.Itoa(i)); code != http.StatusUnauthorized {
			t.Fatalf("failed login %d: %d %s", i, code, body)
		}
	}
	fifth := time.Now()
	// Wait for the gateway's own view to have the lockout, as the sixth
	// request will read it: event → JetStream → detector → KV → watch.
	// Polled every millisecond, so that the time it took is measured.
	ip, deadline := netip.MustParseAddr(attacker), fifth.Add(10*time.Second)
	for {
		if locked, _ := lockouts.Locked(tenant, ip); locked {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no lockout 10 s after the fifth failure (publisher %+v, lockouts %+v)", pub.Stats(), lockouts.Stats())
		}
		time.Sleep(time.Millisecond)
	}
	took := time.Since(fifth)
	t.Logf("locked out %v after the fifth failed login's answer", took.Round(time.Millisecond))
	if took > time.Second {
		t.Errorf("the lockout took %v to reach the gateway, want within 1 s", took)
	}

	// The sixth attempt, even with the right password, gets the 429 and
	// never reaches the handler (no event is recorded for it).
	enqueued := pub.Stats().Enqueued
	resp := post(t, gw.URL+"/login", attacker, `{"username":"alice","password":"wonderland"}`)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("sixth request: %d %s, want 429", resp.StatusCode, body)
	}
	n, err := strconv.Atoi(resp.Header.Get("Retry-After"))
	if err != nil || n < 890 || n > 900 {
		t.Errorf("Retry-After %q, want about 900 s", resp.Header.Get("Retry-After"))
	}
	want := `{"message":"Too many failed login attempts. Please try again later.","retry_after":` + strconv.Itoa(n) + `}`
	if string(body) != want {
		t.Errorf("429 body %s\nwant %s", body, want)
	}
	if got := pub.Stats().Enqueued; got != enqueued {
		t.Errorf("the refused request recorded %d events", got-enqueued)
	}

	// Another client of the same gateway logs in as usual.
	if code, body := login(t, gw.URL, bystander, "alice", "wonderland"); code != http.StatusOK {
		t.Errorf("another IP: %d %s", code, body)
	}

	// The detector wrote the key the client computes, with the spec's value.
	js, _ := jetstream.New(nc)
	kv, err := js.KeyValue(ctx, client.LockoutBucket)
	if err != nil {
		t.Fatal(err)
	}
	e, err := kv.Get(ctx, client.LockoutKey(tenant, attacker))
	if err != nil {
		t.Fatalf("lockout key %s: %v", client.LockoutKey(tenant, attacker), err)
	}
	var l client.Lockout
	if err := json.Unmarshal(e.Value(), &l); err != nil || l.TenantID != tenant || l.IPAddress != attacker || l.FailedAttempts != 5 {
		t.Errorf("lockout value %s (%v)", e.Value(), err)
	}
}

// startDetector builds cmd/detector and runs it as a process against NATS
// and a ClickHouse database of its own (dropped when the test ends).
func startDetector(t *testing.T, natsURL string) {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "detector")
	build := exec.Command("go", "build", "-o", bin, "github.com/authwatch/authwatch/cmd/detector")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build detector: %v\n%s", err, out)
	}
	ch := testenv.ClickHouseConfig(t)
	addr := testenv.FreeAddr(t)
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(),
		"NATS_URL="+natsURL,
		"CLICKHOUSE_ADDR="+strings.Join(ch.Addrs, ","),
		"CLICKHOUSE_DATABASE="+ch.Database,
		"DETECTOR_ADDR="+addr,
	)
	var logs strings.Builder
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Registered after ClickHouseConfig's cleanup, so it runs first: the
	// detector stops before its database is dropped.
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("detector output:\n%s", logs.String())
		}
	})
	testenv.Eventually(t, 60*time.Second, "detector /readyz (is ClickHouse up? scripts/clickhouse.sh start)", func() bool {
		return testenv.Ready(addr)
	})
}

func connect(t testing.TB, url string) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(url, nats.MaxReconnects(-1), nats.ReconnectWait(20*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// post sends body as if through the proxy, for client ip.
func post(t testing.TB, url, ip, body string) *http.Response {
	t.Helper()
	req, err := http.NewRequest("POST", url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Forwarded-For", ip)
	req.Header.Set("User-Agent", "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func login(t testing.TB, base, ip, username, password string) (int, string) {
	t.Helper()
	data, _ := json.Marshal(map[string]string{"username": username, "password": password})
	resp := post(t, base+"/login", ip, string(data))
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}
