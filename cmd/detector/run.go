package main

import (
	"context"
	"flag"
	"io"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/authwatch/authwatch/internal/bus"
	"github.com/authwatch/authwatch/internal/config"
	"github.com/authwatch/authwatch/internal/detect"
	"github.com/authwatch/authwatch/internal/detector"
	"github.com/authwatch/authwatch/internal/enrich"
	"github.com/authwatch/authwatch/internal/ops"
	"github.com/authwatch/authwatch/internal/service"
)

// run wires the detector and blocks until ctx ends and the batch in hand
// is finished. Tests call it with their own environment.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "replay" {
		return replay(ctx, args[1:], getenv, stdout, stderr)
	}
	fs := flag.NewFlagSet("detector", flag.ContinueOnError)
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		return err
	}
	log := ops.NewLogger(stderr, "detector")
	env := config.New(getenv)
	addr := env.String("DETECTOR_ADDR", "127.0.0.1:9102")
	cfg := detector.DefaultConfig()
	cfg.BatchSize = env.Int("DETECTOR_BATCH_SIZE", cfg.BatchSize)
	cfg.FlushInterval = env.Duration("DETECTOR_FLUSH_INTERVAL", cfg.FlushInterval)
	cfg.MaxCached = env.Int("DETECTOR_CACHE_STATES", cfg.MaxCached)
	topo := config.Topology(env)
	geoPath := env.String("GEOIP_CITY_DB", "")
	if err := env.Err(); err != nil {
		return err
	}
	rules, err := detect.FromEnv(getenv, geoPath != "")
	if err != nil {
		return err
	}
	cfg.Rules = rules

	var geo *enrich.GeoDB
	if geoPath != "" {
		if geo, err = enrich.OpenGeoDB(geoPath); err != nil {
			return err
		}
		defer geo.Close()
	} else {
		log.Warn("GEOIP_CITY_DB is not set: rules new_country and impossible_travel are off")
	}
	for _, r := range detect.Rules {
		if !rules.On(r) && rules.Off[r] {
			log.Info("rule switched off", "rule", r)
		}
	}

	p, ctx, err := service.Start(ctx, "detector", addr, getenv, log, nil)
	if err != nil {
		return err
	}
	defer p.Close()
	metrics := detector.NewMetrics(p.Reg)
	js := p.JS
	var (
		cons   jetstream.Consumer
		locks  jetstream.KeyValue
		states *detector.States
	)
	err = bus.Retry(ctx, log, "declare streams", func(ctx context.Context) error {
		if err := bus.EnsureStreams(ctx, js, topo); err != nil {
			return err
		}
		if _, err := bus.EnsureStateBucket(ctx, js, topo, stateMaxAge(rules)); err != nil {
			return err
		}
		if locks, err = js.KeyValue(ctx, bus.LockoutBucket); err != nil {
			return err
		}
		if states, err = detector.OpenStates(ctx, js, cfg.MaxCached, log); err != nil {
			return err
		}
		cons, err = bus.EnsureConsumer(ctx, js, cfg.Consumer, bus.EventsStream)
		return err
	})
	if err != nil {
		return service.ShutdownErr(ctx, err)
	}
	st, err := p.OpenStore(ctx, getenv)
	if err != nil {
		return service.ShutdownErr(ctx, err)
	}

	w := detector.NewWorker(cfg, js, cons, locks, states, st, geo, log, metrics)
	p.Go(func() { w.WatchLag(ctx, 5*time.Second) })
	p.Go(func() { w.CountLockouts(ctx, 15*time.Second) })
	log.Info("detecting", "consumer", cfg.Consumer, "batch", cfg.BatchSize, "flush", cfg.FlushInterval.String())
	err = w.Run(ctx)
	log.Info("stopped")
	return err
}

// stateMaxAge is how long an untouched state is kept: longer than any rule
// remembers, so only states that would be empty anyway expire.
func stateMaxAge(c detect.Config) time.Duration {
	return max(c.HabitWindow, c.TokenNetworkWindow) + 7*24*time.Hour
}
