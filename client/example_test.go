package client_test

import (
	"context"
	"errors"
	"log"
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
