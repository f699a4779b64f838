package echomw_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/authwatch/authwatch/client"
	"github.com/authwatch/authwatch/client/echomw"
	"github.com/authwatch/authwatch/internal/bus"
	"github.com/authwatch/authwatch/internal/testenv"
)

func TestEchoMiddlewareRefusesALockedIP(t *testing.T) {
	srv := testenv.StartNATS(t)
	nc, err := nats.Connect(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	kv, err := js.CreateOrUpdateKeyValue(ctx, bus.DefaultTopology().LockoutBucketConfig())
	if err != nil {
		t.Fatal(err)
	}
	until := time.Now().Add(5 * time.Minute).UTC().Truncate(time.Second)
	v, _ := json.Marshal(client.Lockout{TenantID: "acme", IPAddress: "203.0.113.7", FailedAttempts: 5, LockedUntil: until})
	if _, err := kv.Create(ctx, client.LockoutKey("acme", "203.0.113.7"), v, jetstream.KeyTTL(time.Until(until))); err != nil {
		t.Fatal(err)
	}
	lockouts, err := client.NewLockouts(nc, client.LockoutsConfig{TenantID: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	defer lockouts.Close()
	if err := lockouts.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}

	e := echo.New()
	ran := 0
	guard := &client.LoginGuard{Lockouts: lockouts, TenantID: "acme"}
	e.POST("/login", func(c echo.Context) error {
		ran++
		return c.NoContent(http.StatusNoContent)
	}, echomw.Lockouts(guard))

	do := func(remote string) *http.Response {
		r := httptest.NewRequest("POST", "/login", nil)
		r.RemoteAddr = remote
		w := httptest.NewRecorder()
		e.ServeHTTP(w, r)
		return w.Result()
	}
	resp := do("203.0.113.7:4711")
	body, _ := io.ReadAll(resp.Body)
	n, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
	want := `{"message":"Too many failed login attempts. Please try again later.","retry_after":` + strconv.Itoa(n) + `}`
	if resp.StatusCode != http.StatusTooManyRequests || n < 1 || n > 300 || string(body) != want || resp.Header.Get("Content-Type") != "application/json" {
		t.Errorf("locked IP: %d, Retry-After %q, %s", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
	if ran != 0 {
		t.Error("the handler ran for a locked IP")
	}
	if resp := do("203.0.113.8:4711"); resp.StatusCode != http.StatusNoContent || ran != 1 {
		t.Errorf("another IP: %d, handler ran %d times", resp.StatusCode, ran)
	}
}
