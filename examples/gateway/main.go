// Command gateway is a small login gateway that uses authwatch's client
// package the way a real one would: locked-out IPs get a 429 before any
// password is checked (client.Lockouts, read from memory), and every
// attempt is published as a login event (client.Publisher), without
// waiting for NATS.
//
// Run it next to a NATS server with authwatch's detector (`make run`
// starts both):
//
//	go run ./examples/gateway
//	curl -i -X POST localhost:8090/login -d '{"username":"alice","password":"wrong"}'
//
// Five failures from one IP within 15 minutes lock it out for 15 minutes.
// The user table is fixed and the passwords are in plain text: a demo,
// not a template for storing passwords.
//
// Environment: NATS_URL (nats://127.0.0.1:4222), GATEWAY_ADDR
// (127.0.0.1:8090), GATEWAY_TENANT (demo), GATEWAY_TRUSTED_PROXIES (comma
// separated CIDRs whose X-Forwarded-For is believed; empty: none).
package main

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/authwatch/authwatch/client"
	"github.com/authwatch/authwatch/event"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Getenv, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "gateway:", err)
		os.Exit(1)
	}
}

// run wires the gateway and serves until ctx ends.
func run(ctx context.Context, getenv func(string) string, stderr io.Writer) error {
	log := slog.New(slog.NewTextHandler(stderr, nil))
	env := func(key, def string) string {
		if v := getenv(key); v != "" {
			return v
		}
		return def
	}
	natsURL := env("NATS_URL", nats.DefaultURL)
	addr := env("GATEWAY_ADDR", "127.0.0.1:8090")
	tenant := env("GATEWAY_TENANT", "demo")
	clientIP := client.RemoteIP
	if proxies := getenv("GATEWAY_TRUSTED_PROXIES"); proxies != "" {
		var err error
		if clientIP, err = client.TrustedProxies(strings.Split(proxies, ",")...); err != nil {
			return err
		}
	}

	// Reconnect forever, and start even if NATS is not up yet: logins
	// must not depend on authwatch.
	nc, err := nats.Connect(natsURL, nats.Name("authwatch-example-gateway"),
		nats.MaxReconnects(-1), nats.RetryOnFailedConnect(true))
	if err != nil {
		return err
	}
	defer nc.Close()
	pub, err := client.NewPublisher(nc, client.WithLogger(log))
	if err != nil {
		return err
	}
	lockouts, err := client.NewLockouts(nc, client.LockoutsConfig{TenantID: tenant, Logger: log})
	if err != nil {
		return err
	}
	defer lockouts.Close()
	guard := &client.LoginGuard{Lockouts: lockouts, Publisher: pub, TenantID: tenant, ClientIP: clientIP}

	srv := &http.Server{
		Addr:              addr,
		Handler:           newServer(demoUsers, guard, log),
		ReadHeaderTimeout: 5 * time.Second,
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	log.Info("gateway listening", "addr", addr, "tenant", tenant, "nats", natsURL)
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(shutdown)
	// Give JetStream a moment to confirm the events still in hand.
	if err := pub.Close(shutdown); err != nil {
		log.Warn("events not confirmed", "err", err)
	}
	return nil
}

// user is an account of the demo's fixed user table.
type user struct {
	ID       string
	Password string
	Name     string
	Email    string
	TOTP     string // the code a second factor expects; empty: no 2FA
	Disabled bool
}

var demoUsers = map[string]user{
	"alice":   {ID: "usr_alice", Password: "wonderland", Name: "Alice Liddell", Email: "alice@example.com"},
	"bob":     {ID: "usr_bob", Password: "builder", Name: "Bob Builder", Email: "bob@example.com", TOTP: "424242"},
	"mallory": {ID: "usr_mallory", Password: "mallory", Name: "Mallory", Email: "mallory@example.com", Disabled: true},
}

// newServer returns the gateway's routes. With a nil guard it is the bare
// gateway, no authwatch at all: the benchmark compares the two.
func newServer(users map[string]user, guard *client.LoginGuard, log *slog.Logger) http.Handler {
	h := &handlers{users: users, guard: guard, log: log}
	protect := func(next http.Handler) http.Handler { return next }
	if guard != nil {
		protect = guard.Middleware
	}
	mux := http.NewServeMux()
	mux.Handle("POST /login", protect(http.HandlerFunc(h.login)))
	mux.Handle("POST /login/2fa", protect(http.HandlerFunc(h.secondFactor)))
	mux.HandleFunc("GET /stats", h.stats)
	return mux
}

type handlers struct {
	users map[string]user
	guard *client.LoginGuard
	log   *slog.Logger
}

type credentials struct {
	Username string `json:"username"`
	Password string `json:"password"`
	Code     string `json:"code"`
}

// login checks a username and password. A user with a second factor gets
// 202 and finishes at /login/2fa.
func (h *handlers) login(w http.ResponseWriter, r *http.Request) {
	var c credentials
	if err := json.NewDecoder(io.LimitReader(r.Body, 4096)).Decode(&c); err != nil || c.Username == "" {
		reply(w, http.StatusBadRequest, "Send {\"username\": ..., \"password\": ...}.")
		return
	}
	u, known := h.users[c.Username]
	if !known || !same(c.Password, u.Password) {
		a := client.LoginAttempt{Status: event.StatusFailed, UserID: u.ID, Identifier: c.Username, FailureReason: "wrong password"}
		if !known {
			a.FailureReason = "unknown account"
		}
		h.record(r, a)
		reply(w, http.StatusUnauthorized, "Invalid username or password.")
		return
	}
	profile := &event.UserProfile{Name: u.Name, Email: u.Email}
	if u.Disabled {
		h.record(r, client.LoginAttempt{Status: event.StatusBlocked, UserID: u.ID, Identifier: c.Username, FailureReason: "account disabled", User: profile})
		reply(w, http.StatusForbidden, "This account is disabled.")
		return
	}
	if u.TOTP != "" {
		h.record(r, client.LoginAttempt{Status: event.Status2FARequired, UserID: u.ID, Identifier: c.Username, User: profile})
		reply(w, http.StatusAccepted, "Enter the code from your authenticator app at /login/2fa.")
		return
	}
	h.record(r, client.LoginAttempt{Status: event.StatusSuccess, UserID: u.ID, Identifier: c.Username, User: profile})
	writeJSON(w, http.StatusOK, map[string]string{"user_id": u.ID})
}

// secondFactor checks the code of a user with 2FA. (A real gateway would
// tie it to the first step with a short-lived token; the demo does not.)
func (h *handlers) secondFactor(w http.ResponseWriter, r *http.Request) {
	var c credentials
	if err := json.NewDecoder(io.LimitReader(r.Body, 4096)).Decode(&c); err != nil || c.Username == "" {
		reply(w, http.StatusBadRequest, "Send {\"username\": ..., \"code\": ...}.")
		return
	}
	u, known := h.users[c.Username]
	if !known || u.TOTP == "" {
		reply(w, http.StatusBadRequest, "No second factor is pending for this user.")
		return
	}
	if !same(c.Code, u.TOTP) {
		h.record(r, client.LoginAttempt{Status: event.Status2FAFailed, UserID: u.ID, Identifier: c.Username, FailureReason: "wrong code"})
		reply(w, http.StatusUnauthorized, "Invalid code.")
		return
	}
	h.record(r, client.LoginAttempt{Status: event.StatusSuccess, UserID: u.ID, Identifier: c.Username,
		User: &event.UserProfile{Name: u.Name, Email: u.Email}})
	writeJSON(w, http.StatusOK, map[string]string{"user_id": u.ID})
}

// stats shows the authwatch client's counters: events enqueued, published,
// dropped, in flight, and whether the lockout view is live.
func (h *handlers) stats(w http.ResponseWriter, r *http.Request) {
	if h.guard == nil {
		writeJSON(w, http.StatusOK, map[string]any{})
		return
	}
	ps, ls := h.guard.Publisher.Stats(), h.guard.Lockouts.Stats()
	writeJSON(w, http.StatusOK, map[string]any{
		"publisher": map[string]any{
			"enqueued": ps.Enqueued, "published": ps.Published, "duplicates": ps.Duplicates,
			"dropped": ps.Dropped, "failed": ps.Failed, "retried": ps.Retried,
			"in_flight": ps.InFlight, "buffered": ps.Buffered,
		},
		"lockouts": map[string]any{
			"state": ls.State.String(), "since": ls.Since, "entries": ls.Entries,
			"updates": ls.Updates, "resyncs": ls.Resyncs, "error": errString(ls.Err),
		},
	})
}

// record publishes the attempt. It never waits for NATS: a full buffer
// drops the event, which the Publisher counts (see /stats).
func (h *handlers) record(r *http.Request, a client.LoginAttempt) {
	if h.guard == nil {
		return
	}
	if err := h.guard.RecordLogin(r, a); err != nil && !errors.Is(err, client.ErrBufferFull) {
		h.log.Error("login event not recorded", "err", err)
	}
}

// same compares secrets in constant time.
func same(got, want string) bool {
	return subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

func reply(w http.ResponseWriter, status int, message string) {
	writeJSON(w, status, map[string]string{"message": message})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
