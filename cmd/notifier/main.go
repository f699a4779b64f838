// Command notifier delivers alerts to the webhooks tenants registered
// (SPEC §3 "Alert notifications"): a durable consumer "notifier" on
// AUTH_ALERTS, signed POSTs, retries on schedule for 24 h, and a delivery
// log in ClickHouse. Configuration comes from the environment; see the
// README's tables.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "notifier:", err)
		os.Exit(1)
	}
}
