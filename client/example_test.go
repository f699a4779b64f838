package client_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/authwatch/authwatch/client"
	"github.com/authwatch/authwatch/event"
)

// A gateway publishes one event per login attempt and never waits for NATS.
func ExamplePublisher() {
	nc, err := nats.Connect(nats.DefaultURL, nats.MaxReconnects(-1))
	if err != nil {
		log.Fatal(err)
	}
	defer nc.Close()
	pub, err := client.NewPublisher(nc)
	if err != nil {
		log.Fatal(err)
	}
	defer func() {
		// On shutdown, give JetStream a few seconds to confirm the rest.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := pub.Close(ctx); err != nil {
			log.Print(err)
		}
	}()

	// In the login handler:
	err = pub.Publish(&event.Event{
		ID:         "01JGA7YV2Q8M3XK4T9ZB6N5R1C",
		Kind:       event.KindLogin,
		TenantID:   "acme",
		UserID:     "usr_42",
		OccurredAt: time.Now().UTC(),
		IPAddress:  "81.2.69.160",
		UserAgent:  "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.2 Safari/605.1.15",
		Status:     event.StatusSuccess,
	})
	switch {
	case errors.Is(err, client.ErrBufferFull):
		// Counted in pub.Stats().Dropped; the login goes on.
	case err != nil:
		log.Printf("bad auth event: %v", err) // a bug in the gateway
	}
}

// A gateway asks whether an IP is locked out before it checks a password;
// the answer comes from memory.
func ExampleLockouts() {
	nc, err := nats.Connect(nats.DefaultURL, nats.MaxReconnects(-1))
	if err != nil {
		log.Fatal(err)
	}
	defer nc.Close()
	lockouts, err := client.NewLockouts(nc, client.LockoutsConfig{
		TenantID: "acme", // or empty for every tenant
		OnStateChange: func(state client.LockoutsState, err error) {
			log.Printf("authwatch lockouts: %s (%v)", state, err) // live, stale, ...
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer lockouts.Close()

	// In the login handler:
	ip := netip.MustParseAddr("203.0.113.7")
	if locked, retryAfter := lockouts.Locked("acme", ip); locked {
		fmt.Printf("locked for another %d s\n", client.RetryAfterSeconds(retryAfter))
	}
}

// The whole integration of a net/http login endpoint: the middleware
// refuses locked-out IPs with the 429 of the API, the handler records each
// attempt.
func ExampleLoginGuard() {
	nc, err := nats.Connect(nats.DefaultURL, nats.MaxReconnects(-1))
	if err != nil {
		log.Fatal(err)
	}
	defer nc.Close()
	pub, err := client.NewPublisher(nc)
	if err != nil {
		log.Fatal(err)
	}
	lockouts, err := client.NewLockouts(nc, client.LockoutsConfig{TenantID: "acme"})
	if err != nil {
		log.Fatal(err)
	}
	clientIP, err := client.TrustedProxies("10.0.0.0/8") // your load balancers
	if err != nil {
		log.Fatal(err)
	}
	guard := &client.LoginGuard{Lockouts: lockouts, Publisher: pub, TenantID: "acme", ClientIP: clientIP}

	login := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		userID, ok := "usr_42", r.FormValue("password") == "correct horse" // your check here
		if !ok {
			_ = guard.RecordLogin(r, client.LoginAttempt{Status: event.StatusFailed, UserID: userID, FailureReason: "wrong password"})
			http.Error(w, "invalid credentials", http.StatusUnauthorized)
			return
		}
		_ = guard.RecordLogin(r, client.LoginAttempt{Status: event.StatusSuccess, UserID: userID})
		w.WriteHeader(http.StatusNoContent)
	})
	http.Handle("POST /login", guard.Middleware(login))
	log.Fatal(http.ListenAndServe(":8080", nil))
}

// Behind a load balancer, the client's address is read from
// X-Forwarded-For, and only when the request comes from the balancer.
func ExampleTrustedProxies() {
	clientIP, err := client.TrustedProxies("10.0.0.0/8", "2001:db8:1b::/48")
	if err != nil {
		log.Fatal(err)
	}
	r := httptest.NewRequest("POST", "/login", nil)
	r.RemoteAddr = "10.0.0.5:39211" // the balancer
	r.Header.Set("X-Forwarded-For", "198.51.100.23, 10.0.0.9")
	ip, _ := clientIP(r)
	fmt.Println(ip)

	r.RemoteAddr = "203.0.113.7:40000" // not a balancer: its header is not believed
	ip, _ = clientIP(r)
	fmt.Println(ip)
	// Output:
	// 198.51.100.23
	// 203.0.113.7
}
