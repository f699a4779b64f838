// Command loadgen sends realistic login and API-token traffic to authwatch
// through client.Publisher, the same path a gateway takes, optionally with
// attacks mixed in for the detector to find.
//
//	loadgen -rate 200 -duration 10m -attacks bruteforce,spray,travel
//
// With -rate it sends open loop, like a gateway: events the publisher
// cannot take are dropped and counted. With -rate 0 (the default) it sends
// as fast as the publisher takes them (closed loop), to measure throughput;
// stop it with -n, -duration or Ctrl-C, which flushes what was accepted.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/authwatch/authwatch/client"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(2)
		}
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}

type config struct {
	natsURL      string
	rate         float64
	total        int64
	duration     time.Duration
	backfill     time.Duration // stamp events over this past span instead of the wall clock
	until        time.Time     // the span's end (default: now)
	flushTimeout time.Duration
	quiet        bool
	gen          genConfig
}

func parseConfig(args []string, getenv func(string) string, stderr io.Writer) (config, error) {
	var cfg config
	natsURL := getenv("NATS_URL")
	if natsURL == "" {
		natsURL = "nats://127.0.0.1:4222"
	}
	var attacks string
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.natsURL, "nats", natsURL, "NATS server URL(s), comma separated (env NATS_URL)")
	fs.Float64Var(&cfg.rate, "rate", 0, "events per second; 0 = as fast as the publisher takes them")
	fs.Int64Var(&cfg.total, "n", 0, "total events to send; 0 = unlimited")
	fs.DurationVar(&cfg.duration, "duration", 0, "how long to send; 0 = unlimited")
	fs.IntVar(&cfg.gen.Tenants, "tenants", 5, "number of tenants")
	fs.IntVar(&cfg.gen.Users, "users", 200, "users per tenant")
	fs.IntVar(&cfg.gen.Tokens, "tokens", 50, "API tokens per tenant")
	fs.Float64Var(&cfg.gen.TokenShare, "token-share", 0.4, "fraction of events that are token events")
	fs.StringVar(&attacks, "attacks", "", "attacks to mix in, comma separated: "+strings.Join(attackNames, ","))
	fs.DurationVar(&cfg.gen.AttackEvery, "attack-every", 15*time.Second, "how often an attack starts (round robin over -attacks)")
	fs.Uint64Var(&cfg.gen.Seed, "seed", 0, "random seed; 0 = a new one each run")
	fs.DurationVar(&cfg.backfill, "backfill", 0, "stamp the -n events evenly over this long a past ending now, instead of the wall clock (history for the detector to learn)")
	fs.Func("until", "with -backfill: when the span ends, RFC 3339 (default now); the same -seed and -until give the same events", func(v string) error {
		t, err := time.Parse(time.RFC3339, v)
		cfg.until = t
		return err
	})
	fs.BoolVar(&cfg.quiet, "quiet", false, "no progress line")
	fs.DurationVar(&cfg.flushTimeout, "flush-timeout", 30*time.Second, "how long to wait at the end for JetStream to confirm what was sent")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	if cfg.rate < 0 || cfg.total < 0 || cfg.duration < 0 || cfg.backfill < 0 {
		return cfg, errors.New("-rate, -n, -duration and -backfill must not be negative")
	}
	if cfg.backfill > 0 && cfg.total == 0 {
		return cfg, errors.New("-backfill needs -n: the events are spread evenly over the span")
	}
	if !cfg.until.IsZero() && cfg.backfill == 0 {
		return cfg, errors.New("-until goes with -backfill")
	}
	for a := range strings.SplitSeq(attacks, ",") {
		if a = strings.TrimSpace(a); a != "" {
			cfg.gen.Attacks = append(cfg.gen.Attacks, a)
		}
	}
	if cfg.gen.Seed == 0 {
		cfg.gen.Seed = uint64(time.Now().UnixNano())
	}
	return cfg, nil
}

// natsOptions adds the credentials of SPEC §1's environment, when set.
// closed is closed by the connection's last callback, so that run can wait
// for the callbacks (which log to stderr) before it returns.
func natsOptions(getenv func(string) string, log *slog.Logger, closed chan struct{}) []nats.Option {
	opts := []nats.Option{
		nats.Name("authwatch-loadgen"),
		nats.MaxReconnects(-1), // ride out a server restart
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil { // nil: we closed the connection
				log.Warn("NATS disconnected", "error", err)
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			log.Info("NATS reconnected", "url", nc.ConnectedUrl())
		}),
		nats.ClosedHandler(func(*nats.Conn) { close(closed) }),
	}
	if creds := getenv("NATS_CREDS"); creds != "" {
		opts = append(opts, nats.UserCredentials(creds))
	}
	if user := getenv("NATS_USER"); user != "" {
		opts = append(opts, nats.UserInfo(user, getenv("NATS_PASSWORD")))
	}
	if token := getenv("NATS_TOKEN"); token != "" {
		opts = append(opts, nats.Token(token))
	}
	return opts
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, err := parseConfig(args, getenv, stderr)
	if err != nil {
		return err
	}
	gen, err := newGenerator(cfg.gen)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))

	closed := make(chan struct{})
	nc, err := nats.Connect(cfg.natsURL, natsOptions(getenv, log, closed)...)
	if err != nil {
		return fmt.Errorf("connect to NATS at %s: %w", cfg.natsURL, err)
	}
	defer func() {
		nc.Close()
		// The callbacks run on nats.go's goroutine; they are done when
		// the closed callback has run.
		select {
		case <-closed:
		case <-time.After(5 * time.Second):
		}
	}()
	pub, err := client.NewPublisher(nc, client.WithLogger(log))
	if err != nil {
		return err
	}
	log.Info("sending", "nats", cfg.natsURL, "rate", cfg.rate, "n", cfg.total, "duration", cfg.duration,
		"tenants", cfg.gen.Tenants, "attacks", strings.Join(cfg.gen.Attacks, ","), "seed", cfg.gen.Seed)

	var counts counters
	start := time.Now()
	var wg sync.WaitGroup
	progressCtx, stopProgress := context.WithCancel(ctx)
	if !cfg.quiet {
		p := newProgress(stderr, &counts, cfg.total, start)
		wg.Go(func() { p.run(progressCtx) })
	}

	sendErr := send(ctx, cfg, gen, pub, &counts, start)

	stopProgress()
	wg.Wait()

	// Flush even when ctx was cancelled: stopping should not lose what was
	// already accepted.
	flushCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.flushTimeout)
	defer cancel()
	closeErr := pub.Close(flushCtx)
	elapsed := time.Since(start)

	st := pub.Stats()
	fmt.Fprintf(stdout, "sent      %d\n", counts.sent.Load())
	fmt.Fprintf(stdout, "published %d\n", st.Published)
	fmt.Fprintf(stdout, "dropped   %d\n", counts.dropped.Load())
	fmt.Fprintf(stdout, "failed    %d\n", st.Failed)
	fmt.Fprintf(stdout, "duration  %s\n", elapsed.Round(time.Millisecond))
	fmt.Fprintf(stdout, "events/s  %.0f\n", float64(st.Published)/elapsed.Seconds())

	return errors.Join(sendErr, closeErr)
}

// counters are what the send loop did, read by the progress line.
type counters struct {
	sent    atomic.Int64 // accepted by the publisher
	dropped atomic.Int64 // refused by the publisher (open loop only)
}

// send generates and publishes events until -n or -duration is reached or
// ctx ends (which is not an error: an operator stopped the run).
func send(ctx context.Context, cfg config, gen *generator, pub *client.Publisher, counts *counters, start time.Time) error {
	timer := time.NewTimer(0)
	defer timer.Stop()
	wait := func(d time.Duration) bool {
		timer.Reset(d)
		select {
		case <-ctx.Done():
			return false
		case <-timer.C:
			return true
		}
	}

	var attempted int64
	for cfg.total == 0 || attempted < cfg.total {
		if ctx.Err() != nil {
			return nil
		}
		now := time.Now()
		elapsed := now.Sub(start)
		if cfg.duration > 0 && elapsed >= cfg.duration {
			return nil
		}
		if cfg.rate > 0 {
			// Event number attempted is due at attempted/rate seconds; a
			// late loop catches up in a burst, as real traffic would.
			due := time.Duration(float64(attempted) / cfg.rate * float64(time.Second))
			if due > elapsed {
				if !wait(min(due-elapsed, 100*time.Millisecond)) {
					return nil
				}
				continue
			}
		}

		stamp := now
		if cfg.backfill > 0 {
			end := start
			if !cfg.until.IsZero() {
				end = cfg.until
			}
			stamp = end.Add(-cfg.backfill + time.Duration(float64(cfg.backfill)*float64(attempted)/float64(cfg.total)))
		}
		ev := gen.Next(stamp)
		attempted++
		for {
			err := pub.Publish(ev)
			if err == nil {
				counts.sent.Add(1)
				break
			}
			if !errors.Is(err, client.ErrBufferFull) {
				return fmt.Errorf("publish: %w", err)
			}
			if cfg.rate > 0 {
				counts.dropped.Add(1)
				break
			}
			// Closed loop: give the publisher a moment to make room.
			if !wait(200 * time.Microsecond) {
				return nil
			}
		}
	}
	return nil
}
