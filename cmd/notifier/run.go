package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/authwatch/authwatch/internal/bus"
	"github.com/authwatch/authwatch/internal/config"
	"github.com/authwatch/authwatch/internal/notifier"
	"github.com/authwatch/authwatch/internal/notify"
	"github.com/authwatch/authwatch/internal/ops"
	"github.com/authwatch/authwatch/internal/store"
)

// run wires the notifier and blocks until ctx ends and the attempts in
// flight are logged (for the drain timeout at most). Tests call it with
// their own environment.
func run(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	fs := flag.NewFlagSet("notifier", flag.ContinueOnError)
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		return err
	}
	log := ops.NewLogger(stderr, "notifier")
	cfg, addr, topo, err := loadConfig(getenv)
	if err != nil {
		return err
	}
	if cfg.AllowPrivate {
		log.Warn("WEBHOOK_ALLOW_PRIVATE is true: webhooks may reach loopback and private addresses")
	}

	reg := ops.NewRegistry()
	metrics := notifier.NewMetrics(reg)
	ready := ops.NewReadiness()
	nc, err := bus.Connect(bus.ConfigFromEnv(getenv), "authwatch-notifier", log)
	if err != nil {
		return err
	}
	defer nc.Close()
	var hooks atomic.Pointer[notifier.Registry]
	ready.Add("nats", func(context.Context) error {
		switch {
		case !nc.IsConnected():
			return errors.New("not connected to " + nc.Opts.Servers[0])
		case hooks.Load() == nil:
			return errors.New("declaring streams, consumers and the webhook bucket")
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

	var wg sync.WaitGroup
	defer wg.Wait()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	serveErr := make(chan error, 1)
	wg.Add(2)
	go func() { defer wg.Done(); serveErr <- ops.Serve(ctx, addr, ops.Handler(reg, ready), log, nil) }()
	go func() { defer wg.Done(); ready.Run(ctx, 2*time.Second) }()
	select {
	case err := <-serveErr:
		return fmt.Errorf("listen %s: %w", addr, err)
	case <-time.After(50 * time.Millisecond):
	}

	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	var alerts, jobs jetstream.Consumer
	var registry *notifier.Registry
	err = bus.Retry(ctx, log, "declare streams", func(ctx context.Context) error {
		if err := bus.EnsureStreams(ctx, js, topo); err != nil {
			return err
		}
		if err := bus.EnsureWebhooks(ctx, js, topo); err != nil {
			return err
		}
		if alerts, err = bus.EnsureConsumer(ctx, js, bus.ConsumerNotifier, bus.AlertsStream); err != nil {
			return err
		}
		if jobs, err = js.CreateOrUpdateConsumer(ctx, bus.DeliveriesStream, bus.DeliveriesConsumerConfig()); err != nil {
			return fmt.Errorf("consumer %s on %s: %w", bus.ConsumerNotifier, bus.DeliveriesStream, err)
		}
		registry, err = notifier.OpenRegistry(ctx, js, bus.WebhookBucket, log)
		return err
	})
	if err != nil {
		return shutdownErr(ctx, err)
	}
	wg.Add(1)
	go func() { defer wg.Done(); registry.Run(ctx) }()
	hooks.Store(registry)

	scfg := store.ConfigFromEnv(getenv)
	err = bus.Retry(ctx, log, "open clickhouse", func(ctx context.Context) error {
		s, err := store.Open(ctx, scfg)
		if err == nil {
			st.Store(s)
		}
		return err
	})
	if err != nil {
		return shutdownErr(ctx, err)
	}
	defer st.Load().Close()

	w := notifier.NewWorker(cfg, js, alerts, jobs, registry, st.Load(), log, metrics)
	wg.Add(1)
	go func() { defer wg.Done(); w.WatchLag(ctx, 5*time.Second) }()
	log.Info("notifying", "schedule", fmt.Sprint(cfg.Schedule.Delays), "retry_for", cfg.Schedule.For.String(),
		"attempt_timeout", cfg.AttemptTimeout.String(), "concurrency_per_webhook", cfg.Concurrency)
	err = w.Run(ctx)
	log.Info("stopped")
	return err
}

// loadConfig reads the notifier's environment (README, Configuration).
func loadConfig(getenv func(string) string) (notifier.Config, string, bus.Topology, error) {
	env := config.New(getenv)
	cfg := notifier.DefaultConfig()
	addr := env.String("NOTIFIER_ADDR", "127.0.0.1:9103")
	var scheduleErr error
	if s := getenv("NOTIFIER_RETRY_SCHEDULE"); s != "" {
		var delays []time.Duration
		if delays, scheduleErr = notify.ParseDelays(s); scheduleErr == nil {
			cfg.Schedule.Delays = delays
		} else {
			scheduleErr = fmt.Errorf("NOTIFIER_RETRY_SCHEDULE=%w", scheduleErr)
		}
	}
	cfg.Schedule.For = env.Duration("NOTIFIER_RETRY_FOR", cfg.Schedule.For)
	cfg.AttemptTimeout = env.Duration("NOTIFIER_ATTEMPT_TIMEOUT", cfg.AttemptTimeout)
	cfg.Concurrency = env.Int("NOTIFIER_WEBHOOK_CONCURRENCY", cfg.Concurrency)
	cfg.Queue = env.Int("NOTIFIER_WEBHOOK_QUEUE", cfg.Queue)
	cfg.BusyDelay = env.Duration("NOTIFIER_BUSY_DELAY", cfg.BusyDelay)
	cfg.LogFlush = env.Duration("NOTIFIER_LOG_FLUSH_INTERVAL", cfg.LogFlush)
	cfg.DrainTimeout = env.Duration("NOTIFIER_DRAIN_TIMEOUT", cfg.DrainTimeout)
	cfg.AllowPrivate = env.Bool("WEBHOOK_ALLOW_PRIVATE", false)
	topo := config.Topology(env)
	if err := errors.Join(env.Err(), scheduleErr); err != nil {
		return cfg, "", topo, err
	}
	return cfg, addr, topo, nil
}

// shutdownErr turns "gave up because we were asked to stop" into a clean exit.
func shutdownErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return nil
	}
	return err
}
