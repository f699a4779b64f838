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
	"github.com/authwatch/authwatch/internal/enrich"
	"github.com/authwatch/authwatch/internal/ingest"
	"github.com/authwatch/authwatch/internal/ops"
	"github.com/authwatch/authwatch/internal/store"
)

// run wires the ingest service and blocks until ctx ends and the batch in
// flight is written. Tests call it with their own environment.
func run(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	fs := flag.NewFlagSet("ingest", flag.ContinueOnError)
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		return err
	}
	log := ops.NewLogger(stderr, "ingest")
	env := config.New(getenv)
	addr := env.String("INGEST_ADDR", "127.0.0.1:9101")
	cfg := ingest.DefaultConfig()
	cfg.BatchSize = env.Int("INGEST_BATCH_SIZE", cfg.BatchSize)
	cfg.FlushInterval = env.Duration("INGEST_FLUSH_INTERVAL", cfg.FlushInterval)
	topo := config.Topology(env)
	geoPath := env.String("GEOIP_CITY_DB", "")
	if err := env.Err(); err != nil {
		return err
	}

	var geo *enrich.GeoDB
	if geoPath != "" {
		var err error
		if geo, err = enrich.OpenGeoDB(geoPath); err != nil {
			return err
		}
		defer geo.Close()
	} else {
		log.Info("GEOIP_CITY_DB is not set: events are stored without country, city and coordinates")
	}

	reg := ops.NewRegistry()
	metrics := ingest.NewMetrics(reg)
	ready := ops.NewReadiness()

	nc, err := bus.Connect(bus.ConfigFromEnv(getenv), "authwatch-ingest", log)
	if err != nil {
		return err
	}
	defer nc.Close()
	ready.Add("nats", func(context.Context) error {
		if !nc.IsConnected() {
			return errors.New("not connected to " + nc.Opts.Servers[0])
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
	var cons jetstream.Consumer
	err = bus.Retry(ctx, log, "declare streams", func(ctx context.Context) error {
		if err := bus.EnsureStreams(ctx, js, topo); err != nil {
			return err
		}
		cons, err = bus.EnsureConsumer(ctx, js, cfg.Consumer, bus.EventsStream)
		return err
	})
	if err != nil {
		return shutdownErr(ctx, err)
	}
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

	w := ingest.NewWorker(cfg, js, cons, st.Load(), geo, log, metrics)
	wg.Add(1)
	go func() { defer wg.Done(); w.WatchLag(ctx, 5*time.Second) }()
	log.Info("ingesting", "consumer", cfg.Consumer, "batch", cfg.BatchSize, "flush", cfg.FlushInterval.String())
	err = w.Run(ctx)
	log.Info("stopped")
	return err
}

// shutdownErr turns "gave up because we were asked to stop" into a clean exit.
func shutdownErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return nil
	}
	return err
}
