// Command detector-bench measures cmd/detector: draining a backlog
// (events/s, CPU per event, peak RSS), publish→alert latency at a steady
// rate, and what the state of its users costs (bytes per user in KV and in
// memory, extrapolated to 1,000,000 users). It runs its own nats-server
// (bin/nats-server) on a temp dir and its own ClickHouse database, and
// removes both afterwards.
//
//	go run ./internal/bench/detector [-users 100000] [-per-user 5] [-rate 1000] [-latency 15s]
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
	"sync"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/authwatch/authwatch/event"
	"github.com/authwatch/authwatch/internal/bench/benchproc"
	"github.com/authwatch/authwatch/internal/bus"
	"github.com/authwatch/authwatch/internal/detect"
	"github.com/authwatch/authwatch/internal/geotest"
	"github.com/authwatch/authwatch/internal/store"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "detector-bench:", err)
		os.Exit(1)
	}
}

type options struct {
	users, perUser, rate int
	latency              time.Duration
	chAddr, bin          string
}

func run(ctx context.Context, args []string, out io.Writer) error {
	var o options
	fs := flag.NewFlagSet("detector-bench", flag.ContinueOnError)
	fs.IntVar(&o.users, "users", 100_000, "distinct users in the backlog")
	fs.IntVar(&o.perUser, "per-user", 5, "logins per user in the backlog (plus 1 token use per 5 logins)")
	fs.IntVar(&o.rate, "rate", 1000, "steady rate (events/s) for the latency run")
	fs.DurationVar(&o.latency, "latency", 15*time.Second, "length of the latency run")
	fs.StringVar(&o.chAddr, "clickhouse", "127.0.0.1:9000", "ClickHouse native address")
	fs.StringVar(&o.bin, "bin", "bin", "directory holding nats-server and detector")
	if err := fs.Parse(args); err != nil {
		return err
	}
	env, err := benchproc.Start(ctx, o.bin, "detector-bench")
	if err != nil {
		return err
	}
	defer env.Close()
	tmp, natsURL, nc, js := env.Dir, env.NATSURL, env.NC, env.JS

	now := time.Now().UTC()
	n := o.users * o.perUser * 6 / 5
	fmt.Fprintf(out, "pre-publishing %d events of %d users...\n", n, o.users)
	t0 := time.Now()
	if err := publishBacklog(ctx, js, o, now); err != nil {
		return err
	}
	fmt.Fprintf(out, "published in %s\n", time.Since(t0).Round(time.Millisecond))

	geo := filepath.Join(tmp, "city.mmdb")
	if err := geotest.Write(geo, geotest.Demo); err != nil {
		return err
	}
	port, _ := benchproc.FreePort()
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	db := "authwatch_bench_detector"
	// Declared before the detector starts, so the drain can be timed from its first delivery.
	cons, err := bus.EnsureConsumer(ctx, js, bus.ConsumerDetector, bus.EventsStream)
	if err != nil {
		return err
	}
	cmd := exec.Command(filepath.Join(o.bin, "detector"))
	cmd.Env = append(os.Environ(), "NATS_URL="+natsURL, "CLICKHOUSE_ADDR="+o.chAddr, "CLICKHOUSE_DATABASE="+db,
		"DETECTOR_ADDR="+addr, "GEOIP_CITY_DB="+geo, "DETECTOR_CACHE_STATES="+strconv.Itoa(2*o.users+10_000))
	logf, _ := os.Create(filepath.Join(tmp, "detector.log"))
	cmd.Stderr = logf
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start detector (make build): %w", err)
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
		return err
	}
	rssIdle := benchproc.ProcRSS(cmd.Process.Pid)
	start := time.Now()
	cpu0 := benchproc.ProcCPU(cmd.Process.Pid)
	var peak int64
	for {
		peak = max(peak, benchproc.ProcRSS(cmd.Process.Pid))
		info, err := cons.Info(ctx)
		if err == nil && info.NumPending == 0 && info.NumAckPending == 0 && info.AckFloor.Stream >= uint64(n) {
			break
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		time.Sleep(50 * time.Millisecond)
	}
	el := time.Since(start)
	cpu := benchproc.ProcCPU(cmd.Process.Pid) - cpu0
	rssFull := benchproc.ProcRSS(cmd.Process.Pid)

	kvInfo, err := js.Stream(ctx, "KV_"+bus.StateBucket)
	if err != nil {
		return err
	}
	si, err := kvInfo.Info(ctx)
	if err != nil {
		return err
	}
	states := si.State.Msgs
	perState := float64(si.State.Bytes) / float64(states)
	memPer := float64(rssFull-rssIdle) / float64(states)

	lat, err := latencyRun(ctx, js, nc, o, now)
	if err != nil {
		return err
	}

	fmt.Fprintf(out, "\n| measure | detector |\n|---|---|\n")
	fmt.Fprintf(out, "| drain %d events (%d users, one instance) | %.0f events/s in %s |\n", n, o.users, float64(n)/el.Seconds(), el.Round(time.Millisecond))
	fmt.Fprintf(out, "| CPU per event (detector process) | %.1f µs |\n", float64(cpu.Microseconds())/float64(n))
	fmt.Fprintf(out, "| peak RSS | %d MiB (%d states cached) |\n", peak>>20, states)
	fmt.Fprintf(out, "| state in KV | %d keys, %.0f bytes each with KV overhead → %.0f MiB per 1,000,000 users |\n", states, perState, perState*1e6/(1<<20))
	fmt.Fprintf(out, "| state in memory | ~%.0f bytes per cached state → %.0f MiB per 1,000,000 cached users |\n", memPer, memPer*1e6/(1<<20))
	fmt.Fprintf(out, "| publish→alert at %d events/s | p50 %s, p99 %s, max %s (%d alerts) |\n", o.rate, lat.p50, lat.p99, lat.max, lat.n)
	return nil
}

var userAgents = []string{
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
	"Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
	"Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
}

var homes = []string{"81.2.69.", "89.160.20.", "216.160.83.", "149.101.100.", "202.196.224."}

// login is user u's k-th login: mostly successes from the user's own
// device and home address, one in ten a failure.
func login(u, k int, at time.Time) *event.Event {
	ev := &event.Event{ID: fmt.Sprintf("b%d-%d", u, k), Kind: event.KindLogin, TenantID: "t" + strconv.Itoa(u%50),
		UserID: "u" + strconv.Itoa(u), OccurredAt: at, IPAddress: homes[u%len(homes)] + strconv.Itoa(u%250+1),
		UserAgent: userAgents[u%2], Status: event.StatusSuccess}
	if k%10 == 9 {
		ev.Status, ev.FailureReason = event.StatusFailed, "invalid_password"
	}
	return ev
}

func tokenUse(u, k int, at time.Time) *event.Event {
	return &event.Event{ID: fmt.Sprintf("t%d-%d", u, k), Kind: event.KindToken, TenantID: "t" + strconv.Itoa(u%50),
		UserID: "u" + strconv.Itoa(u), OccurredAt: at, IPAddress: homes[(u+1)%len(homes)] + "7", TokenID: "tok" + strconv.Itoa(u%20000),
		TokenType: event.TokenSecret, Environment: event.EnvLive, Action: event.TokenAuthenticated}
}

// publishBacklog publishes perUser logins for every user, round by round,
// stamped over the past perUser hours, with a token use every 5 logins.
func publishBacklog(ctx context.Context, js jetstream.JetStream, o options, now time.Time) error {
	i := 0
	for k := range o.perUser {
		base := now.Add(-time.Duration(o.perUser-k) * time.Hour)
		for u := range o.users {
			at := base.Add(time.Duration(u) * time.Hour / time.Duration(o.users))
			evs := []*event.Event{login(u, k, at)}
			if i%5 == 4 {
				evs = append(evs, tokenUse(u, k, at))
			}
			i++
			for _, ev := range evs {
				b, _ := json.Marshal(ev)
				if _, err := js.PublishAsync(event.Subject(ev.TenantID, ev.Kind), b, jetstream.WithMsgID(ev.ID), jetstream.WithStallWait(30*time.Second)); err != nil {
					return err
				}
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
		}
	}
	select {
	case <-js.PublishAsyncComplete():
		return nil
	case <-time.After(2 * time.Minute):
		return errors.New("publish acks missing")
	}
}

type latency struct {
	p50, p99, max time.Duration
	n             int
}

// latencyRun publishes at o.rate for o.latency: known users logging in
// from their device, and every 50th event a known user on a new device,
// which raises new_device. Latency is publish → alert received.
func latencyRun(ctx context.Context, js jetstream.JetStream, nc *nats.Conn, o options, now time.Time) (latency, error) {
	var mu sync.Mutex
	sent := map[string]time.Time{}
	var lats []time.Duration
	sub, err := nc.Subscribe("auth.alerts.>", func(m *nats.Msg) {
		got := time.Now()
		var a detect.Alert
		if json.Unmarshal(m.Data, &a) != nil || a.Rule != detect.NewDevice {
			return
		}
		mu.Lock()
		if at, ok := sent[a.EventID]; ok {
			lats = append(lats, got.Sub(at))
			delete(sent, a.EventID)
		}
		mu.Unlock()
	})
	if err != nil {
		return latency{}, err
	}
	defer sub.Unsubscribe() //nolint:errcheck
	total := int(o.latency.Seconds()) * o.rate
	start := time.Now()
	for i := range total {
		if d := time.Until(start.Add(time.Duration(i) * time.Second / time.Duration(o.rate))); d > 0 {
			time.Sleep(d)
		}
		u := (i * 7919) % o.users
		ev := login(u, 1000+i, time.Now().UTC())
		ev.Status = event.StatusSuccess
		if i%50 == 0 {
			ev.UserAgent = userAgents[2] // a device this user never used
			mu.Lock()
			sent[ev.ID] = time.Now()
			mu.Unlock()
		}
		b, _ := json.Marshal(ev)
		if _, err := js.PublishAsync(event.Subject(ev.TenantID, ev.Kind), b, jetstream.WithMsgID(ev.ID)); err != nil {
			return latency{}, err
		}
		if ctx.Err() != nil {
			return latency{}, ctx.Err()
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		mu.Lock()
		left := len(sent)
		mu.Unlock()
		if left == 0 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(lats) == 0 {
		return latency{}, errors.New("no alert arrived")
	}
	sort.Slice(lats, func(i, j int) bool { return lats[i] < lats[j] })
	return latency{p50: lats[len(lats)/2].Round(time.Millisecond), p99: lats[len(lats)*99/100].Round(time.Millisecond),
		max: lats[len(lats)-1].Round(time.Millisecond), n: len(lats)}, nil
}
