// Command notifier-bench measures cmd/notifier: alert published on
// AUTH_ALERTS → webhook POST received, at a steady rate, with healthy local
// receivers that verify each signature as a real one would. It runs its own
// nats-server (bin/nats-server) on a temp dir, bin/notifier, and its own
// ClickHouse database, and removes them afterwards.
//
//	go run ./internal/bench/notifier [-rate 100] [-duration 30s] [-webhooks 2]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/authwatch/authwatch/internal/bench/benchproc"
	"github.com/authwatch/authwatch/internal/bus"
	"github.com/authwatch/authwatch/internal/detect"
	"github.com/authwatch/authwatch/internal/notifier"
	"github.com/authwatch/authwatch/internal/notify"
	"github.com/authwatch/authwatch/internal/store"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "notifier-bench:", err)
		os.Exit(1)
	}
}

type options struct {
	rate, webhooks int
	duration       time.Duration
	chAddr, bin    string
}

func run(ctx context.Context, args []string, out io.Writer) error {
	var o options
	fs := flag.NewFlagSet("notifier-bench", flag.ContinueOnError)
	fs.IntVar(&o.rate, "rate", 100, "alerts published per second")
	fs.DurationVar(&o.duration, "duration", 30*time.Second, "length of the run")
	fs.IntVar(&o.webhooks, "webhooks", 2, "webhooks of the tenant (half json, half slack), each wanting every alert")
	fs.StringVar(&o.chAddr, "clickhouse", "127.0.0.1:9000", "ClickHouse native address")
	fs.StringVar(&o.bin, "bin", "bin", "directory holding nats-server and notifier")
	if err := fs.Parse(args); err != nil {
		return err
	}
	env, err := benchproc.Start(ctx, o.bin, "notifier-bench")
	if err != nil {
		return err
	}
	defer env.Close()
	tmp, natsURL, js := env.Dir, env.NATSURL, env.JS
	topo := bus.DefaultTopology()
	if err := bus.EnsureWebhooks(ctx, js, topo); err != nil {
		return err
	}
	hooks, err := notifier.OpenWebhooks(ctx, js, bus.WebhookBucket)
	if err != nil {
		return err
	}

	// The receivers: one local server, a path per webhook.
	rc := &receiver{secrets: map[string]string{}, got: map[string]time.Time{}}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: rc, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(l) }()
	defer srv.Close()
	var ids []string
	for i := range o.webhooks {
		f := notify.FormatJSON
		if i%2 == 1 {
			f = notify.FormatSlack
		}
		h := notify.Webhook{ID: notify.NewWebhookID(), TenantID: "bench", Rules: []string{"*"}, MinSeverity: detect.Low, Format: f,
			Secret: "bench-secret-" + strconv.Itoa(i) + "-0123456789", CreatedAt: time.Now().UTC()}
		h.URL = "http://" + l.Addr().String() + "/" + h.ID
		rc.secrets["/"+h.ID] = h.Secret
		if err := hooks.Create(ctx, h); err != nil {
			return err
		}
		ids = append(ids, h.ID)
	}

	port, _ := benchproc.FreePort()
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	db := "authwatch_bench_notifier"
	cmd := exec.Command(filepath.Join(o.bin, "notifier"))
	cmd.Env = append(os.Environ(), "NATS_URL="+natsURL, "CLICKHOUSE_ADDR="+o.chAddr, "CLICKHOUSE_DATABASE="+db,
		"NOTIFIER_ADDR="+addr, "WEBHOOK_ALLOW_PRIVATE=true")
	logf, _ := os.Create(filepath.Join(tmp, "notifier.log"))
	cmd.Stderr = logf
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start notifier (make build): %w", err)
	}
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
		if st, err := store.Open(context.Background(), store.Config{Addrs: []string{o.chAddr}, Database: db, User: "default"}); err == nil {
			_ = st.Conn().Exec(context.Background(), "DROP DATABASE IF EXISTS "+db)
			st.Close()
		}
	}()
	for !benchproc.Ready(addr) {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		time.Sleep(20 * time.Millisecond)
	}

	// Warm up (connections, the first insert), then the measured run.
	if _, err := publishAt(ctx, js, 20, 2*time.Second); err != nil {
		return err
	}
	time.Sleep(2 * time.Second)
	rc.reset()
	cpu0 := benchproc.ProcCPU(cmd.Process.Pid)
	sent, err := publishAt(ctx, js, o.rate, o.duration)
	if err != nil {
		return err
	}
	want := len(sent) * len(ids)
	deadline := time.Now().Add(30 * time.Second)
	for rc.count() < want && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	cpu := benchproc.ProcCPU(cmd.Process.Pid) - cpu0
	rss := benchproc.ProcRSS(cmd.Process.Pid)

	var lats []time.Duration
	missing := 0
	rc.mu.Lock()
	for alertID, at := range sent {
		for _, id := range ids {
			got, ok := rc.got[notify.DeliveryID(id, alertID)]
			if !ok {
				missing++
				continue
			}
			lats = append(lats, got.Sub(at))
		}
	}
	bad, dup := rc.badSignatures, rc.duplicates
	rc.mu.Unlock()
	if len(lats) == 0 {
		return errors.New("no POST arrived")
	}
	sort.Slice(lats, func(i, j int) bool { return lats[i] < lats[j] })
	q := func(p float64) time.Duration {
		return lats[min(len(lats)-1, int(float64(len(lats))*p))].Round(100 * time.Microsecond)
	}
	fmt.Fprintf(out, "\n| measure | notifier |\n|---|---|\n")
	fmt.Fprintf(out, "| alerts | %d at %d/s for %s, to %d webhooks (%d POSTs) |\n", len(sent), o.rate, o.duration, len(ids), want)
	fmt.Fprintf(out, "| alert published → POST received | **p50 %s, p99 %s**, max %s |\n", q(0.5), q(0.99), lats[len(lats)-1].Round(100*time.Microsecond))
	fmt.Fprintf(out, "| missing / bad signatures / duplicates | %d / %d / %d |\n", missing, bad, dup)
	fmt.Fprintf(out, "| notifier CPU | %.0f µs per POST (%.1f%% of a core) |\n", float64(cpu.Microseconds())/float64(want),
		100*cpu.Seconds()/o.duration.Seconds())
	fmt.Fprintf(out, "| notifier RSS | %d MiB |\n", rss>>20)
	return nil
}

// publishAt publishes n = rate × d alerts of tenant "bench", evenly spaced,
// and returns each one's id with the time just before its publish.
func publishAt(ctx context.Context, js jetstream.JetStream, rate int, d time.Duration) (map[string]time.Time, error) {
	total := int(d.Seconds() * float64(rate))
	sent := make(map[string]time.Time, total)
	start := time.Now()
	user := "u1"
	for i := range total {
		if w := time.Until(start.Add(time.Duration(i) * time.Second / time.Duration(rate))); w > 0 {
			time.Sleep(w)
		}
		ev := fmt.Sprintf("e%d-%d", start.UnixNano(), i)
		now := time.Now().UTC()
		a := detect.Alert{ID: detect.AlertID("bench", ev, detect.NewDevice), TenantID: "bench", UserID: &user, EventID: ev,
			Rule: detect.NewDevice, Severity: detect.Low, Reasons: []string{"first successful login from Firefox on Linux (desktop) in 90 days"},
			IPAddress: "81.2.69.10", OccurredAt: now, DetectedAt: now}
		data, err := a.Marshal()
		if err != nil {
			return nil, err
		}
		sent[a.ID] = time.Now()
		if _, err := js.PublishAsync(detect.AlertSubject("bench", a.Rule), data, jetstream.WithMsgID(a.ID)); err != nil {
			return nil, err
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
	}
	select {
	case <-js.PublishAsyncComplete():
		return sent, nil
	case <-time.After(30 * time.Second):
		return nil, errors.New("publish acks missing")
	}
}

// receiver records when each delivery first arrived, checking signatures.
type receiver struct {
	secrets                   map[string]string // path → secret
	mu                        sync.Mutex
	got                       map[string]time.Time
	badSignatures, duplicates int
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	at := time.Now()
	body, _ := io.ReadAll(r.Body)
	ok := notify.Verify(rc.secrets[r.URL.Path], r.Header.Get(notify.HeaderSignature), body, at, 5*time.Minute) == nil
	id := r.Header.Get(notify.HeaderDelivery)
	rc.mu.Lock()
	if !ok {
		rc.badSignatures++
	}
	if _, seen := rc.got[id]; seen {
		rc.duplicates++
	} else {
		rc.got[id] = at
	}
	rc.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func (rc *receiver) count() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return len(rc.got)
}

func (rc *receiver) reset() {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.got = map[string]time.Time{}
	rc.badSignatures, rc.duplicates = 0, 0
}
