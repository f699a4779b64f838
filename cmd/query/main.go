// Command query serves authwatch's HTTP API (SPEC §3) with /healthz,
// /readyz and /metrics. Configuration comes from the environment; see the
// README's table.
//
//	query                         serve
//	query mint-token -tenant T -user U [-admin] [-ttl 24h]
//	                              print an HS256 token signed with AUTHWATCH_JWT_SECRET
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
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "query:", err)
		os.Exit(1)
	}
}
