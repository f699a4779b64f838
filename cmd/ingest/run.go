package main

import (
	"context"
	"flag"
	"io"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/authwatch/authwatch/internal/bus"
	"github.com/authwatch/authwatch/internal/config"
	"github.com/authwatch/authwatch/internal/enrich"
	"github.com/authwatch/authwatch/internal/ingest"
	"github.com/authwatch/authwatch/internal/ops"
	"github.com/authwatch/authwatch/internal/service"
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

	p, ctx, err := service.Start(ctx, "ingest", addr, getenv, log, nil)
	if err != nil {
		return err
	}
	defer p.Close()
	metrics := ingest.NewMetrics(p.Reg)
	js := p.JS
	var cons jetstream.Consumer
	err = bus.Retry(ctx, log, "declare streams", func(ctx context.Context) error {
		if err := bus.EnsureStreams(ctx, js, topo); err != nil {
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

	w := ingest.NewWorker(cfg, js, cons, st, geo, log, metrics)
	p.Go(func() { w.WatchLag(ctx, 5*time.Second) })
	log.Info("ingesting", "consumer", cfg.Consumer, "batch", cfg.BatchSize, "flush", cfg.FlushInterval.String())
	err = w.Run(ctx)
	log.Info("stopped")
	return err
}
