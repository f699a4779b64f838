// Command ingest-bench measures cmd/ingest draining a backlog against the
// minimal loop (fetch → encoding/json → clickhouse-go batch → ack) on the
// same machine, NATS and ClickHouse, then publish→visible latency at a
// steady rate. It runs its own nats-server (bin/nats-server) on a temp dir
// and its own ClickHouse databases, and removes both afterwards.
//
//	go run ./internal/bench/ingest [-n 1000000] [-rate 10000] [-latency 15s]
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/authwatch/authwatch/event"
	"github.com/authwatch/authwatch/internal/bench/benchproc"
	"github.com/authwatch/authwatch/internal/bus"
	"github.com/authwatch/authwatch/internal/geotest"
	"github.com/authwatch/authwatch/internal/store"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "ingest-bench:", err)
		os.Exit(1)
	}
}

type options struct {
	n       int
	rate    int
	latency time.Duration
	chAddr  string
	bin     string
}

func run(ctx context.Context, args []string, out io.Writer) error {
	var o options
	fs := flag.NewFlagSet("ingest-bench", flag.ContinueOnError)
	fs.IntVar(&o.n, "n", 1_000_000, "events to pre-publish and drain")
	fs.IntVar(&o.rate, "rate", 10_000, "steady rate (events/s) for the latency run")
	fs.DurationVar(&o.latency, "latency", 15*time.Second, "length of the latency run")
	fs.StringVar(&o.chAddr, "clickhouse", "127.0.0.1:9000", "ClickHouse native address")
	fs.StringVar(&o.bin, "bin", "bin", "directory holding nats-server and ingest")
	if err := fs.Parse(args); err != nil {
		return err
	}
	env, err := benchproc.Start(ctx, o.bin, "bench")
	if err != nil {
		return err
	}
	defer env.Close()
	tmp, natsURL, js := env.Dir, env.NATSURL, env.JS

	fmt.Fprintf(out, "pre-publishing %d events...\n", o.n)
	t0 := time.Now()
	if err := publish(ctx, js, "bench", o.n, 0, nil); err != nil {
		return err
	}
	fmt.Fprintf(out, "published %d in %s (%.0f events/s)\n", o.n, time.Since(t0).Round(time.Millisecond), float64(o.n)/time.Since(t0).Seconds())

	base, err := baseline(ctx, js, o)
	if err != nil {
		return fmt.Errorf("baseline: %w", err)
	}
	fmt.Fprintf(out, "minimal loop: %.0f events/s, %.1f µs CPU/event\n", base.rate, base.cpuPerEvent)

	res, err := ingestRun(ctx, js, natsURL, tmp, o)
	if err != nil {
		return fmt.Errorf("ingest: %w", err)
	}
	fmt.Fprintf(out, "\n| measure | minimal loop | ingest |\n|---|---|---|\n")
	fmt.Fprintf(out, "| drain %d events | %.0f events/s | %.0f events/s (%.2f×) |\n", o.n, base.rate, res.rate, res.rate/base.rate)
	fmt.Fprintf(out, "| CPU per event (process) | %.1f µs | %.1f µs |\n", base.cpuPerEvent, res.cpuPerEvent)
	fmt.Fprintf(out, "| peak RSS | – | %d MiB |\n", res.peakRSS>>20)
	fmt.Fprintf(out, "| publish→visible at %d events/s | – | p50 %s, p99 %s, max %s (%d samples) |\n",
		o.rate, res.lat50, res.lat99, res.latMax, res.latN)
	return nil
}

var userAgents = []string{
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
	"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15",
	"Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
	"Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36",
	"Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
}

var prefixes = []string{"81.2.69.", "89.160.20.", "216.160.83.", "203.0.113.", "175.16.199."}

// benchEvent is event i of a realistic mix: 60 % logins (mostly successes),
// 40 % token events, 20 tenants, 5,000 users.
func benchEvent(tenant string, i int, at time.Time) *event.Event {
	ev := &event.Event{
		ID: fmt.Sprintf("%s-%09d", tenant, i), TenantID: tenant + strconv.Itoa(i%20),
		UserID:     "user-" + strconv.Itoa(i%5000),
		OccurredAt: at, IPAddress: prefixes[i%len(prefixes)] + strconv.Itoa(i%250+1),
		UserAgent: userAgents[i%len(userAgents)],
		Metadata:  map[string]string{"app": "web", "region": "eu-west-1"},
	}
	if i%5 < 3 {
		ev.Kind = event.KindLogin
		ev.Status = event.StatusSuccess
		if i%10 == 0 {
			ev.Status, ev.FailureReason = event.StatusFailed, "invalid_password"
		}
		ev.User = &event.UserProfile{Name: "User " + strconv.Itoa(i%5000), Email: "user" + strconv.Itoa(i%5000) + "@example.com"}
	} else {
		ev.Kind = event.KindToken
		ev.TokenID, ev.TokenName = "tok_"+strconv.Itoa(i%2000), "ci key"
		ev.TokenType, ev.Environment, ev.Action = event.TokenSecret, event.EnvLive, event.TokenAuthenticated
	}
	return ev
}

// publish sends n events; rate 0 means as fast as JetStream acks. Markers,
// if not nil, receives (id, publish time) of every 100th event.
func publish(ctx context.Context, js jetstream.JetStream, tenant string, n, rate int, markers chan<- marker) error {
	start := time.Now()
	for i := 0; i < n; i++ {
		if rate > 0 && i%100 == 0 {
			due := start.Add(time.Duration(i) * time.Second / time.Duration(rate))
			if d := time.Until(due); d > 0 {
				time.Sleep(d)
			}
		}
		now := time.Now().UTC()
		ev := benchEvent(tenant, i, now)
		b, _ := json.Marshal(ev)
		if _, err := js.PublishAsync(event.Subject(ev.TenantID, ev.Kind), b, jetstream.WithMsgID(ev.ID), jetstream.WithStallWait(30*time.Second)); err != nil {
			return err
		}
		if markers != nil && i%100 == 0 {
			markers <- marker{tenant: ev.TenantID, table: string(ev.Kind), id: ev.ID, at: time.Now()}
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	select {
	case <-js.PublishAsyncComplete():
		return nil
	case <-time.After(time.Minute):
		return errors.New("publish acks missing")
	}
}

type marker struct {
	tenant, table, id string
	at                time.Time
}

type baseResult struct{ rate, cpuPerEvent float64 }

// baseline is the minimal loop the issue measured: Fetch → encoding/json →
// clickhouse-go native batch (row appends) → ack, strictly in turn.
func baseline(ctx context.Context, js jetstream.JetStream, o options) (baseResult, error) {
	cfg := store.Config{Addrs: []string{o.chAddr}, Database: "authwatch_bench_base", User: "default"}
	st, err := store.Open(ctx, cfg)
	if err != nil {
		return baseResult{}, err
	}
	defer func() { _ = st.Conn().Exec(context.Background(), "DROP DATABASE IF EXISTS "+cfg.Database); st.Close() }()
	cons, err := bus.EnsureConsumer(ctx, js, "baseline", bus.EventsStream)
	if err != nil {
		return baseResult{}, err
	}
	conn := st.Conn()
	cpu0 := benchproc.SelfCPU()
	start := time.Now()
	done := 0
	for done < o.n {
		batch, err := cons.Fetch(10_000, jetstream.FetchMaxWait(2*time.Second))
		if err != nil {
			return baseResult{}, err
		}
		logins, err := conn.PrepareBatch(ctx, "INSERT INTO login_events (tenant_id, user_id, occurred_at, occurred_ms, id, status, failure_reason, ip_address, user_agent, user_name, user_email)")
		if err != nil {
			return baseResult{}, err
		}
		tokens, err := conn.PrepareBatch(ctx, "INSERT INTO token_events (tenant_id, token_id, occurred_at, occurred_ms, id, user_id, token_name, token_type, environment, event, ip_address, user_agent)")
		if err != nil {
			return baseResult{}, err
		}
		var msgs []jetstream.Msg
		for m := range batch.Messages() {
			var ev event.Event
			if err := json.Unmarshal(m.Data(), &ev); err != nil {
				return baseResult{}, err
			}
			t := ev.OccurredAt.UTC()
			ms := uint16(t.Nanosecond() / 1e6)
			if ev.Kind == event.KindLogin {
				var name, email string
				if ev.User != nil {
					name, email = ev.User.Name, ev.User.Email
				}
				err = logins.Append(ev.TenantID, ev.UserID, t, ms, ev.ID, string(ev.Status), ev.FailureReason, ev.IPAddress, ev.UserAgent, name, email)
			} else {
				err = tokens.Append(ev.TenantID, ev.TokenID, t, ms, ev.ID, ev.UserID, ev.TokenName, string(ev.TokenType), string(ev.Environment), string(ev.Action), ev.IPAddress, ev.UserAgent)
			}
			if err != nil {
				return baseResult{}, err
			}
			msgs = append(msgs, m)
		}
		if err := logins.Send(); err != nil {
			return baseResult{}, err
		}
		if err := tokens.Send(); err != nil {
			return baseResult{}, err
		}
		for _, m := range msgs {
			_ = m.Ack()
		}
		done += len(msgs)
	}
	el := time.Since(start)
	return baseResult{rate: float64(done) / el.Seconds(), cpuPerEvent: float64((benchproc.SelfCPU() - cpu0).Microseconds()) / float64(done)}, nil
}

type ingestResult struct {
	rate, cpuPerEvent    float64
	peakRSS              int64
	lat50, lat99, latMax time.Duration
	latN                 int
}

func ingestRun(ctx context.Context, js jetstream.JetStream, natsURL, tmp string, o options) (ingestResult, error) {
	var res ingestResult
	geo := filepath.Join(tmp, "city.mmdb")
	if err := geotest.Write(geo, geotest.Demo); err != nil {
		return res, err
	}
	port, _ := benchproc.FreePort()
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	db := "authwatch_bench"
	// Declared before ingest starts, so the drain can be timed from its first delivery.
	cons, err := bus.EnsureConsumer(ctx, js, bus.ConsumerIngest, bus.EventsStream)
	if err != nil {
		return res, err
	}
	cmd := exec.Command(filepath.Join(o.bin, "ingest"))
	cmd.Env = append(os.Environ(), "NATS_URL="+natsURL, "CLICKHOUSE_ADDR="+o.chAddr, "CLICKHOUSE_DATABASE="+db,
		"INGEST_ADDR="+addr, "GEOIP_CITY_DB="+geo)
	logf, _ := os.Create(filepath.Join(tmp, "ingest.log"))
	cmd.Stderr = logf
	if err := cmd.Start(); err != nil {
		return res, err
	}
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
		if st, err := store.Open(context.Background(), store.Config{Addrs: []string{o.chAddr}, Database: db, User: "default"}); err == nil {
			_ = st.Conn().Exec(context.Background(), "DROP DATABASE IF EXISTS "+db)
			st.Close()
		}
	}()
	if err := benchproc.WaitFirstDelivery(ctx, cons); err != nil {
		return res, err
	}
	start := time.Now()
	cpu0 := benchproc.ProcCPU(cmd.Process.Pid)
	for {
		res.peakRSS = max(res.peakRSS, benchproc.ProcRSS(cmd.Process.Pid))
		info, err := cons.Info(ctx)
		if err == nil && info.NumPending == 0 && info.NumAckPending == 0 && info.AckFloor.Stream >= uint64(o.n) {
			break
		}
		if ctx.Err() != nil {
			return res, ctx.Err()
		}
		time.Sleep(50 * time.Millisecond)
	}
	el := time.Since(start)
	res.rate = float64(o.n) / el.Seconds()
	res.cpuPerEvent = float64((benchproc.ProcCPU(cmd.Process.Pid) - cpu0).Microseconds()) / float64(o.n)

	// Latency at a steady rate: markers are looked for in ClickHouse as they come.
	st, err := store.Open(ctx, store.Config{Addrs: []string{o.chAddr}, Database: db, User: "default"})
	if err != nil {
		return res, err
	}
	defer st.Close()
	n := int(o.latency.Seconds() * float64(o.rate))
	markers := make(chan marker, n/100+1)
	pubErr := make(chan error, 1)
	go func() { pubErr <- publish(ctx, js, "lat", n, o.rate, markers); close(markers) }()
	var lats []time.Duration
	pending := map[string]marker{}
	open := true
	for open || len(pending) > 0 {
		for drained := false; !drained && open; {
			select {
			case m, ok := <-markers:
				if !ok {
					open = false
				} else {
					pending[m.id] = m
				}
			default:
				drained = true
			}
		}
		res.peakRSS = max(res.peakRSS, benchproc.ProcRSS(cmd.Process.Pid))
		if len(pending) > 0 {
			ids := make([]string, 0, len(pending))
			for id := range pending {
				ids = append(ids, "'"+id+"'")
			}
			q := "SELECT id FROM login_events WHERE id IN (" + strings.Join(ids, ",") + ") UNION ALL SELECT id FROM token_events WHERE id IN (" + strings.Join(ids, ",") + ")"
			rows, err := st.Conn().Query(ctx, q)
			if err != nil {
				return res, err
			}
			seen := time.Now()
			for rows.Next() {
				var id string
				if rows.Scan(&id) == nil {
					if m, ok := pending[id]; ok {
						lats = append(lats, seen.Sub(m.at))
						delete(pending, id)
					}
				}
			}
			rows.Close()
		}
		if ctx.Err() != nil {
			return res, ctx.Err()
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := <-pubErr; err != nil {
		return res, err
	}
	sort.Slice(lats, func(i, j int) bool { return lats[i] < lats[j] })
	if len(lats) > 0 {
		res.latN = len(lats)
		res.lat50 = lats[len(lats)/2].Round(time.Millisecond)
		res.lat99 = lats[len(lats)*99/100].Round(time.Millisecond)
		res.latMax = lats[len(lats)-1].Round(time.Millisecond)
	}
	return res, nil
}
