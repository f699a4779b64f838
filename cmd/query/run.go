package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/authwatch/authwatch/internal/auth"
	"github.com/authwatch/authwatch/internal/bus"
	"github.com/authwatch/authwatch/internal/config"
	"github.com/authwatch/authwatch/internal/dashboard"
	"github.com/authwatch/authwatch/internal/erasure"
	"github.com/authwatch/authwatch/internal/httpapi"
	"github.com/authwatch/authwatch/internal/notifier"
	"github.com/authwatch/authwatch/internal/notify"
	"github.com/authwatch/authwatch/internal/ops"
	"github.com/authwatch/authwatch/internal/store"
)

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "mint-token" {
		return mintToken(args[1:], getenv, stdout, stderr)
	}
	fs := flag.NewFlagSet("query", flag.ContinueOnError)
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		return err
	}
	log := ops.NewLogger(stderr, "query")
	env := config.New(getenv)
	addr := env.String("QUERY_ADDR", "127.0.0.1:8080")
	rollupEvery := env.Duration("ROLLUP_INTERVAL", time.Minute)
	retention := retentionFromEnv(env)
	retentionEvery := env.Duration("RETENTION_INTERVAL", time.Hour)
	compact := env.Bool("COMPACT_CLOSED_MONTHS", true)
	summaryEvery := env.Duration("SUMMARY_MERGE_INTERVAL", 10*time.Minute)
	topo := config.Topology(env)
	allowPrivateWebhooks := env.Bool("WEBHOOK_ALLOW_PRIVATE", false)
	scfg, scfgErr := store.ConfigFromEnv(getenv)
	if err := errors.Join(env.Err(), scfgErr); err != nil {
		return err
	}
	verifier, err := newVerifier(ctx, getenv)
	if err != nil {
		return err
	}

	reg := ops.NewRegistry()
	ready := ops.NewReadiness()
	// NATS serves the alert stream and the lockout routes only; the
	// connection retries by itself, and those routes answer 503 until it is up.
	nc, err := bus.Connect(bus.ConfigFromEnv(getenv), "authwatch-query", log)
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	var lockouts atomic.Pointer[jetstream.KeyValue] // set once the bucket is declared
	var webhooks atomic.Pointer[notifier.Webhooks]  // set once the bucket and AUTH_DELIVERIES are declared
	ready.Add("nats", func(context.Context) error {
		switch {
		case !nc.IsConnected():
			return errors.New("not connected to " + nc.Opts.Servers[0])
		case lockouts.Load() == nil || webhooks.Load() == nil:
			return errors.New("declaring streams and the lockout and webhook buckets")
		}
		return nil
	})
	var st atomic.Pointer[store.Store]
	ready.Add("clickhouse", func(ctx context.Context) error {
		s := st.Load()
		if s == nil {
			return errors.New("connecting and applying migrations")
		}
		return s.Ping(ctx)
	})

	// The API answers 503 until ClickHouse is open; probes answer from the start.
	var api atomic.Pointer[http.Handler]
	mux := http.NewServeMux()
	opsHandler := ops.Handler(reg, ready)
	mux.Handle("GET /healthz", opsHandler)
	mux.Handle("GET /readyz", opsHandler)
	mux.Handle("GET /metrics", opsHandler)
	// The dashboard is static and served from the start, so it can say why
	// the API is not answering yet; /api/... falls through to the API.
	dash := dashboard.Handler()
	mux.Handle("GET /{$}", dash)
	mux.Handle("GET "+dashboard.Prefix, dash)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		h := api.Load()
		if h == nil {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Retry-After", "5")
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = io.WriteString(w, `{"message":"Starting: ClickHouse is not reachable yet."}`+"\n")
			return
		}
		(*h).ServeHTTP(w, r)
	})

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()
	serveErr := make(chan error, 1)
	wg.Add(2)
	go func() { defer wg.Done(); serveErr <- ops.Serve(ctx, addr, mux, log, nil) }()
	go func() { defer wg.Done(); ready.Run(ctx, 2*time.Second) }()
	// Streams and the lockout bucket are declared in the background, as
	// every service does on start, so a NATS outage delays only the routes
	// that need them.
	wg.Add(1)
	go func() {
		defer wg.Done()
		_ = bus.Retry(ctx, log, "declare streams", func(ctx context.Context) error {
			if err := bus.EnsureStreams(ctx, js, topo); err != nil {
				return err
			}
			kv, err := js.KeyValue(ctx, bus.LockoutBucket)
			if err != nil {
				return err
			}
			lockouts.Store(&kv)
			// The webhook routes need the webhook bucket and the deliveries stream.
			if err := bus.EnsureWebhooks(ctx, js, topo); err != nil {
				return err
			}
			hooks, err := notifier.OpenWebhooks(ctx, js, bus.WebhookBucket)
			if err == nil {
				webhooks.Store(hooks)
			}
			return err
		})
	}()

	opened := make(chan error, 1)
	go func() {
		opened <- bus.Retry(ctx, log, "open clickhouse", func(ctx context.Context) error {
			s, err := store.Open(ctx, scfg)
			if err == nil {
				st.Store(s)
			}
			return err
		})
	}()
	select {
	case err := <-serveErr:
		if err == nil {
			return nil // stopped before ClickHouse answered
		}
		return fmt.Errorf("listen %s: %w", addr, err)
	case err := <-opened:
		if err != nil {
			return nil // stopped before ClickHouse answered
		}
	}
	defer st.Load().Close()
	// Exact counts of closed hours and days, so analytics read a small table
	// (every replica may run it: the newest computation of a bucket wins).
	rollup := store.NewRollup(st.Load(), store.RollupConfig{Log: log, Registry: reg})
	wg.Add(1)
	go func() { defer wg.Done(); rollup.Run(ctx, rollupEvery) }()
	// Old partitions go by themselves, closed months are merged into one
	// part (every replica may run it: dropping a dropped partition, or
	// merging a merged one, is a no-op).
	wg.Add(1)
	go func() { defer wg.Done(); runRetention(ctx, st.Load(), retention, compact, retentionEvery, log) }()
	// The small per-token, per-IP and per-user tables are merged into one
	// part every few minutes (SUMMARY_MERGE_INTERVAL=0 turns it off).
	if summaryEvery > 0 {
		wg.Add(1)
		go func() { defer wg.Done(); runSummaryMerges(ctx, st.Load(), summaryEvery, log) }()
	}
	eraser := &erasure.Job{Store: st.Load(), Rollup: rollup, Log: log, States: func() jetstream.KeyValue {
		// The detector declares its state bucket; until it has, there is no state to erase.
		kv, err := js.KeyValue(ctx, bus.StateBucket)
		if err != nil {
			return nil
		}
		return kv
	}}
	e := httpapi.New(httpapi.Deps{Store: st.Load(), Verifier: verifier, Log: log, Registry: reg,
		NATS: nc, Done: ctx.Done(), Eraser: eraser,
		Lockouts: func() jetstream.KeyValue {
			if kv := lockouts.Load(); kv != nil {
				return *kv
			}
			return nil
		},
		Webhooks:    webhooks.Load,
		WebhookURLs: notify.URLPolicy{AllowPrivate: allowPrivateWebhooks},
	})
	var h http.Handler = e
	api.Store(&h)
	log.Info("serving the API", "addr", addr)

	select {
	case err := <-serveErr:
		if err != nil {
			return fmt.Errorf("listen %s: %w", addr, err)
		}
	case <-ctx.Done():
		<-serveErr
	}
	return nil
}

// newVerifier picks HS256 or JWKS; the API never starts without one.
func newVerifier(ctx context.Context, getenv func(string) string) (*auth.Verifier, error) {
	secret, jwks := getenv("AUTHWATCH_JWT_SECRET"), getenv("AUTHWATCH_JWKS_URL")
	switch {
	case secret != "" && jwks != "":
		return nil, errors.New("set AUTHWATCH_JWT_SECRET or AUTHWATCH_JWKS_URL, not both")
	case secret != "":
		return auth.NewHS256([]byte(secret))
	case jwks != "":
		return auth.NewJWKS(ctx, jwks)
	}
	return nil, errors.New("refusing to start without AUTHWATCH_JWT_SECRET or AUTHWATCH_JWKS_URL: every API route needs a way to verify tokens")
}

func mintToken(args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("mint-token", flag.ContinueOnError)
	fs.SetOutput(stderr)
	tenant := fs.String("tenant", "", "tenant_id claim")
	user := fs.String("user", "", "sub claim")
	admin := fs.Bool("admin", false, "grant admin.audit_log")
	perms := fs.String("permissions", "", "comma-separated extra permissions")
	ttl := fs.Duration("ttl", 24*time.Hour, "lifetime")
	if err := fs.Parse(args); err != nil {
		return err
	}
	secret := getenv("AUTHWATCH_JWT_SECRET")
	if secret == "" || *tenant == "" || *user == "" {
		return errors.New("mint-token needs AUTHWATCH_JWT_SECRET, -tenant and -user")
	}
	var p []string
	if *admin {
		p = append(p, auth.PermAuditLog)
	}
	for _, x := range strings.Split(*perms, ",") {
		if x = strings.TrimSpace(x); x != "" {
			p = append(p, x)
		}
	}
	tok, err := auth.SignHS256([]byte(secret), auth.Principal{UserID: *user, TenantID: *tenant, Permissions: p}, *ttl)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(stdout, tok)
	return err
}
