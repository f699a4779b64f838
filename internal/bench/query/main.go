// Command bench-query measures the query API (SPEC §3) on a realistic data
// set: it seeds a ClickHouse database with 10M login and 10M token events
// over 90 days (reused on the next run when it already holds them), serves
// internal/httpapi in-process on a free port, calls every GET route from 8
// keep-alive clients for 30 s each, and prints requests/s, p50 and p99 as a
// Markdown table, also written to var/bench-query.md.
//
//	go run ./internal/bench/query [-duration 30s] [-only tenant,analytics] [-reseed] [-db name]
package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/authwatch/authwatch/internal/auth"
	"github.com/authwatch/authwatch/internal/httpapi"
	"github.com/authwatch/authwatch/internal/store"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "bench-query:", err)
		os.Exit(1)
	}
}

type options struct {
	db          string
	reseed      bool
	logins      uint64
	tokens      uint64
	duration    time.Duration
	concurrency int
	only        string
	out         string
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	var o options
	fs := flag.NewFlagSet("bench-query", flag.ContinueOnError)
	fs.StringVar(&o.db, "db", "authwatch_bench_query", "ClickHouse database to seed and query (CLICKHOUSE_ADDR and credentials from the environment)")
	fs.BoolVar(&o.reseed, "reseed", false, "drop and seed the database again even if it already holds the data set")
	fs.Uint64Var(&o.logins, "logins", 10_000_000, "login event rows to seed (2 % are redelivered copies)")
	fs.Uint64Var(&o.tokens, "tokens", 10_000_000, "token event rows to seed (2 % are redelivered copies)")
	fs.DurationVar(&o.duration, "duration", 30*time.Second, "how long each endpoint is driven")
	fs.IntVar(&o.concurrency, "concurrency", 8, "concurrent keep-alive clients")
	fs.StringVar(&o.only, "only", "", "comma-separated substrings: run only endpoints whose name or path contains one")
	fs.StringVar(&o.out, "out", "var/bench-query.md", "where to write the Markdown table")
	if err := fs.Parse(args); err != nil {
		return err
	}

	cfg, err := store.ConfigFromEnv(os.Getenv)
	if err != nil {
		return err
	}
	cfg.Database = o.db
	st, err := ensureSeeded(ctx, cfg, seedSize{Logins: o.logins, Tokens: o.tokens}, o.reseed, stdout)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := runRollup(ctx, st, stdout); err != nil {
		return err
	}
	if err := mergeParts(ctx, st, stdout); err != nil {
		return err
	}
	if err := waitForMerges(ctx, st, 5*time.Minute, stdout); err != nil {
		return err
	}

	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return err
	}
	verifier, err := auth.NewHS256(secret)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(o.out), 0o755); err != nil {
		return err
	}
	logPath := filepath.Join(filepath.Dir(o.out), "bench-query.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer logFile.Close()
	api := httpapi.New(httpapi.Deps{
		Store:    st,
		Verifier: verifier,
		Log:      slog.New(slog.NewTextHandler(logFile, nil)),
		Registry: nil,
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: api, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			fmt.Fprintln(os.Stderr, "bench-query: serve:", err)
		}
	}()
	defer srv.Close()
	base := "http://" + ln.Addr().String()

	c, err := signCallers(secret)
	if err != nil {
		return err
	}
	eps := selectEndpoints(endpoints(c, time.Now().UTC()), o.only)
	if len(eps) == 0 {
		return fmt.Errorf("-only %q matches no endpoint", o.only)
	}
	client := &http.Client{
		Timeout: 60 * time.Second,
		Transport: &http.Transport{
			MaxIdleConns:        o.concurrency * 2,
			MaxIdleConnsPerHost: o.concurrency * 2,
			IdleConnTimeout:     time.Minute,
		},
	}
	fmt.Fprintf(stdout, "driving %d endpoints at concurrency %d for %s each (API on %s)\n", len(eps), o.concurrency, o.duration, base)
	loadBefore := loadAverage()
	var results []result
	for _, ep := range eps {
		if err := ctx.Err(); err != nil {
			return err
		}
		r := drive(ctx, client, base, ep, o.concurrency, o.duration)
		if r.notImplemented {
			fmt.Fprintf(stdout, "  %-60s not implemented (501)\n", ep.name)
		} else {
			fmt.Fprintf(stdout, "  %-60s %6.0f req/s  p50 %9s  p99 %9s  errors %d  (load %s)\n",
				ep.name, r.perSecond(), ms(r.p50), ms(r.p99), r.errors, loadAverage())
		}
		results = append(results, r)
	}

	var table strings.Builder
	fmt.Fprintf(&table, "# bench-query, %s\n\n", time.Now().UTC().Format(time.RFC3339))
	fmt.Fprintf(&table, "%d login and %d token event rows (90 days, 1,000 tenants, tenant-0 holds 40 %%) in `%s`; "+
		"concurrency %d, %s per endpoint, API in-process over HTTP keep-alive. "+
		"1-minute load average before / after: %s / %s (2 cores; the benchmark's own clients count, so does anything else running).\n\n",
		o.logins, o.tokens, o.db, o.concurrency, o.duration, loadBefore, loadAverage())
	report(&table, results, o.concurrency, o.duration, logPath)
	fmt.Fprintln(stdout)
	fmt.Fprint(stdout, table.String())
	if err := os.WriteFile(o.out, []byte(table.String()), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "\nwritten to %s\n", o.out)
	return nil
}

// signCallers issues the bearer tokens of the three seeded principals.
func signCallers(secret []byte) (callers, error) {
	var c callers
	var err error
	sign := func(user string, perms ...string) string {
		if err != nil {
			return ""
		}
		var tok string
		tok, err = auth.SignHS256(secret, auth.Principal{UserID: user, TenantID: bigTenant, Permissions: perms}, 24*time.Hour)
		return tok
	}
	c.heavy = sign(heavyUser)
	c.normal = sign(normalUser)
	c.admin = sign(tenantAdmin, auth.PermAuditLog)
	return c, err
}

// selectEndpoints keeps the endpoints whose name or path contains one of
// the comma-separated words of only (all when only is empty).
func selectEndpoints(all []endpoint, only string) []endpoint {
	if only == "" {
		return all
	}
	var out []endpoint
	for _, ep := range all {
		for _, w := range strings.Split(only, ",") {
			if w = strings.TrimSpace(w); w != "" && (strings.Contains(ep.name, w) || strings.Contains(ep.path, w)) {
				out = append(out, ep)
				break
			}
		}
	}
	return out
}

// loadAverage is the 1-minute load average, or "?" where /proc has none.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return "?"
	}
	return f[0]
}
