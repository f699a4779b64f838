package main

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/authwatch/authwatch/event"
	"github.com/authwatch/authwatch/internal/bus"
	"github.com/authwatch/authwatch/internal/testenv"
)

// While ClickHouse is unreachable nothing is acked and nothing is lost; the
// service reports not ready, and catches up once ClickHouse is back.
func TestClickHouseOutageLosesNothing(t *testing.T) {
	s := startStack(t, nil)
	proxy := testenv.StartProxy(t, s.env["CLICKHOUSE_ADDR"])
	s.env["CLICKHOUSE_ADDR"] = proxy.Addr()
	s.run(t)
	ctx := context.Background()
	at := time.Now().UTC()
	for i := range 50 {
		s.publishEvent(t, loginEvent("acme", fmt.Sprintf("pre-%d", i), "u1", event.StatusSuccess, "81.2.69.1", at))
	}
	cons, err := s.js.Consumer(ctx, bus.EventsStream, bus.ConsumerIngest)
	if err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 20*time.Second, "first events stored and acked", func() bool {
		i, err := cons.Info(ctx)
		return s.counts(t, "acme").Logins == 50 && err == nil && i.AckFloor.Stream == 50
	})

	proxy.Cut()
	for i := range 200 {
		s.publishEvent(t, loginEvent("acme", fmt.Sprintf("during-%d", i), "u1", event.StatusFailed, "81.2.69.1", at))
	}
	testenv.Eventually(t, 20*time.Second, "/readyz to report ClickHouse down", func() bool { return !s.ready() })
	testenv.Eventually(t, 10*time.Second, "the outage's events delivered and held unacked", func() bool {
		i, err := cons.Info(ctx)
		return err == nil && i.NumPending == 0 && i.NumAckPending == 200
	})

	proxy.Restore()
	testenv.Eventually(t, 30*time.Second, "every event stored after the outage", func() bool {
		return s.counts(t, "acme").Logins == 250
	})
	testenv.Eventually(t, 20*time.Second, "ready again and fully acked", func() bool {
		i, err := cons.Info(ctx)
		return s.ready() && err == nil && i.NumAckPending == 0
	})
}
