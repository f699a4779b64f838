package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/authwatch/authwatch/internal/bus"
	"github.com/authwatch/authwatch/internal/config"
	"github.com/authwatch/authwatch/internal/notifier"
	"github.com/authwatch/authwatch/internal/notify"
	"github.com/authwatch/authwatch/internal/ops"
	"github.com/authwatch/authwatch/internal/service"
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

	var hooks atomic.Pointer[notifier.Registry]
	p, ctx, err := service.Start(ctx, "notifier", addr, getenv, log, func() error {
		if hooks.Load() == nil {
			return errors.New("declaring streams, consumers and the webhook bucket")
		}
		return nil
	})
	if err != nil {
		return err
	}
	defer p.Close()
	metrics := notifier.NewMetrics(p.Reg)
	js := p.JS
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
		return service.ShutdownErr(ctx, err)
	}
	p.Go(func() { registry.Run(ctx) })
	hooks.Store(registry)

	st, err := p.OpenStore(ctx, getenv)
	if err != nil {
		return service.ShutdownErr(ctx, err)
	}

	w := notifier.NewWorker(cfg, js, alerts, jobs, registry, st, log, metrics)
	p.Go(func() { w.WatchLag(ctx, 5*time.Second) })
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
