// Command chaos is `make chaos`: the real stack on this machine (a
// nats-server, a ClickHouse server of its own, bin/ingest, bin/detector,
// bin/query) under steady load, through five faults, each followed by the
// checks a user relies on:
//
//	a  SIGKILL ingest 20 times at random moments
//	b  SIGKILL detector 20 times
//	c  SIGKILL query 5 times while clients read
//	d  ClickHouse unreachable (SIGSTOP) for 60 s, then killed and restarted on the same data
//	e  nats-server restarted while gateways publish
//
// Checks: every event JetStream acknowledged is in ClickHouse and the API
// counts it once; every expected alert (one new_device per user, one
// ip_lockout per IP) is there once; no known device flagged; every lockout
// kept. The table goes to stdout and var/chaos.md.
//
//	go run ./internal/chaos [-only a,b] [-rate 800] [-duration 40s] [-outage 60s]
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/authwatch/authwatch/event"
	"github.com/authwatch/authwatch/internal/auth"
	"github.com/authwatch/authwatch/internal/bench/benchproc"
	"github.com/authwatch/authwatch/internal/bus"
	"github.com/authwatch/authwatch/internal/geotest"
	"github.com/authwatch/authwatch/internal/store"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "chaos:", err)
		os.Exit(1)
	}
}

type options struct {
	only     string
	rate     int
	loadgen  int
	duration time.Duration
	outage   time.Duration
	bin      string
}

const secret = "chaos-secret-of-at-least-32-bytes"

func run(ctx context.Context, args []string, out io.Writer) error {
	var o options
	fs := flag.NewFlagSet("chaos", flag.ContinueOnError)
	fs.StringVar(&o.only, "only", "a,b,c,d,e", "scenarios to run")
	fs.IntVar(&o.rate, "rate", 800, "events published per second during a scenario")
	fs.IntVar(&o.loadgen, "loadgen-rate", 200, "events per second of steady background traffic from bin/loadgen (other tenants) during a scenario; 0 for none")
	fs.DurationVar(&o.duration, "duration", 40*time.Second, "how long each scenario publishes")
	fs.DurationVar(&o.outage, "outage", 60*time.Second, "how long ClickHouse is unreachable in scenario d")
	fs.StringVar(&o.bin, "bin", "bin", "directory with nats-server, ingest, detector, query, loadgen (make build nats)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	s, err := newStack(ctx, o)
	if err != nil {
		return err
	}
	defer s.close()
	scenarios := []struct {
		key, name string
		fault     func(ctx context.Context, s *stack, sc *scenario) error
	}{
		{"a", "SIGKILL ingest ×20", killing("ingest", 20)},
		{"b", "SIGKILL detector ×20", killing("detector", 20)},
		{"c", "SIGKILL query ×5 while clients read", killing("query", 5)},
		{"d", fmt.Sprintf("ClickHouse stopped %s, then killed and restarted", o.outage), clickhouseOutage},
		{"e", "nats-server restarted while publishing", natsRestart},
	}
	var rows []result
	for _, sc := range scenarios {
		if !strings.Contains(","+o.only+",", ","+sc.key+",") {
			continue
		}
		fmt.Fprintf(out, "scenario %s: %s...\n", sc.key, sc.name)
		r, err := runScenario(ctx, s, o, sc.key, sc.name, sc.fault)
		if err != nil {
			return fmt.Errorf("scenario %s: %w", sc.key, err)
		}
		fmt.Fprintf(out, "  %s\n", r.line())
		rows = append(rows, r)
	}
	table := "| scenario | events acked | lost | duplicated | raw copies before merge | loadgen events acked | loadgen lost | alerts expected | alerts lost | alerts duplicated | known devices re-flagged | lockouts kept | API reads failed | max lag (messages) | recovery |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n"
	for _, r := range rows {
		table += r.row() + "\n"
	}
	fmt.Fprintf(out, "\n%s", table)
	_ = os.MkdirAll("var", 0o755)
	_ = os.WriteFile(filepath.Join("var", "chaos.md"), []byte(table), 0o644)
	for _, r := range rows {
		if r.lost > 0 || r.loadgenLost > 0 || r.duplicated > 0 || r.alertsLost > 0 || r.alertsDup > 0 || r.reflagged > 0 || r.lockoutsKept < r.lockoutsWanted {
			return errors.New("a scenario lost or duplicated something (table above)")
		}
	}
	return nil
}

// stack is the processes under test.
type stack struct {
	o        options
	dir      string
	natsPort int
	natsURL  string
	nats     *exec.Cmd
	chPort   int
	ch       *exec.Cmd
	svcs     map[string]*exec.Cmd
	addrs    map[string]string
	env      []string
	nc       *nats.Conn
	js       jetstream.JetStream
	st       *store.Store
	mu       sync.Mutex
}

func newStack(ctx context.Context, o options) (*stack, error) {
	dir, err := os.MkdirTemp("", "authwatch-chaos-")
	if err != nil {
		return nil, err
	}
	s := &stack{o: o, dir: dir, svcs: map[string]*exec.Cmd{}, addrs: map[string]string{}}
	if s.natsPort, err = benchproc.FreePort(); err != nil {
		return nil, err
	}
	s.natsURL = fmt.Sprintf("nats://127.0.0.1:%d", s.natsPort)
	if err := s.startNATS(); err != nil {
		return nil, err
	}
	if err := s.startClickHouse(ctx); err != nil {
		return nil, err
	}
	geo := filepath.Join(dir, "city.mmdb")
	if err := geotest.Write(geo, geotest.Demo); err != nil {
		return nil, err
	}
	for _, name := range []string{"ingest", "detector", "query"} {
		p, _ := benchproc.FreePort()
		s.addrs[name] = fmt.Sprintf("127.0.0.1:%d", p)
	}
	s.env = append(os.Environ(), "NATS_URL="+s.natsURL, fmt.Sprintf("CLICKHOUSE_ADDR=127.0.0.1:%d", s.chPort),
		"CLICKHOUSE_DATABASE=authwatch_chaos", "GEOIP_CITY_DB="+geo, "AUTHWATCH_JWT_SECRET="+secret,
		"INGEST_ADDR="+s.addrs["ingest"], "DETECTOR_ADDR="+s.addrs["detector"], "QUERY_ADDR="+s.addrs["query"],
		"INGEST_FLUSH_INTERVAL=200ms")
	for _, name := range []string{"ingest", "detector", "query"} {
		if err := s.start(name); err != nil {
			return nil, err
		}
	}
	for _, name := range []string{"ingest", "detector", "query"} {
		if err := s.waitReady(ctx, name, time.Minute); err != nil {
			return nil, err
		}
	}
	s.nc, err = nats.Connect(s.natsURL, nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	if err != nil {
		return nil, err
	}
	s.js, _ = jetstream.New(s.nc)
	s.st, err = store.Open(ctx, store.Config{Addrs: []string{fmt.Sprintf("127.0.0.1:%d", s.chPort)}, Database: "authwatch_chaos", User: "default"})
	return s, err
}

func (s *stack) startNATS() error {
	conf := filepath.Join(s.dir, "nats.conf")
	body := fmt.Sprintf("listen: 127.0.0.1:%d\nmax_payload: 2MB\njetstream { store_dir: %q }\n", s.natsPort, filepath.Join(s.dir, "js"))
	if err := os.WriteFile(conf, []byte(body), 0o644); err != nil {
		return err
	}
	cmd := exec.Command(filepath.Join(s.o.bin, "nats-server"), "-c", conf)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("nats-server (make nats builds it): %w", err)
	}
	s.nats = cmd
	for range 100 {
		if nc, err := nats.Connect(s.natsURL); err == nil {
			nc.Close()
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return errors.New("nats-server did not start")
}

// startClickHouse runs a ClickHouse server of the chaos run's own, on free
// ports and its own data, so stopping it touches nothing else.
func (s *stack) startClickHouse(ctx context.Context) error {
	if s.chPort == 0 {
		s.chPort, _ = benchproc.FreePort()
	}
	data := filepath.Join(s.dir, "clickhouse") + "/"
	for _, d := range []string{"tmp", "user_files", "format_schemas"} {
		if err := os.MkdirAll(data+d, 0o755); err != nil {
			return err
		}
	}
	httpPort, _ := benchproc.FreePort()
	interPort, _ := benchproc.FreePort()
	cmd := exec.Command("clickhouse-server", "--config-file=/etc/clickhouse-server/config.xml", "--",
		"--path="+data, "--tmp_path="+data+"tmp/", "--user_files_path="+data+"user_files/", "--format_schema_path="+data+"format_schemas/",
		"--logger.log="+data+"server.log", "--logger.errorlog="+data+"server.err.log",
		fmt.Sprintf("--tcp_port=%d", s.chPort), fmt.Sprintf("--http_port=%d", httpPort), fmt.Sprintf("--interserver_http_port=%d", interPort))
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("clickhouse-server (scripts/clickhouse.sh installs it): %w", err)
	}
	s.ch = cmd
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		if exec.CommandContext(ctx, "clickhouse-client", "--port", fmt.Sprint(s.chPort), "-q", "SELECT 1").Run() == nil {
			return nil
		}
		time.Sleep(300 * time.Millisecond)
	}
	return errors.New("clickhouse-server did not answer")
}

func (s *stack) start(name string) error {
	cmd := exec.Command(filepath.Join(s.o.bin, name))
	cmd.Env = s.env
	logf, err := os.OpenFile(filepath.Join(s.dir, name+".log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("%s (make build): %w", name, err)
	}
	s.mu.Lock()
	s.svcs[name] = cmd
	s.mu.Unlock()
	return nil
}

func (s *stack) kill(name string) {
	s.mu.Lock()
	cmd := s.svcs[name]
	s.mu.Unlock()
	_ = cmd.Process.Signal(syscall.SIGKILL)
	_ = cmd.Wait()
}

func (s *stack) waitReady(ctx context.Context, name string, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for !benchproc.Ready(s.addrs[name]) {
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("%s not ready after %s (log: %s)", name, limit, filepath.Join(s.dir, name+".log"))
		}
		time.Sleep(100 * time.Millisecond)
	}
	return nil
}

func (s *stack) close() {
	for _, cmd := range s.svcs {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	}
	if s.nc != nil {
		s.nc.Close()
	}
	if s.st != nil {
		s.st.Close()
	}
	if s.nats != nil {
		_ = s.nats.Process.Signal(syscall.SIGTERM)
		_ = s.nats.Wait()
	}
	if s.ch != nil {
		_ = s.ch.Process.Signal(syscall.SIGTERM)
		_ = s.ch.Wait()
	}
	_ = os.RemoveAll(s.dir)
}

// pending is what a consumer has not acknowledged.
func (s *stack) pending(ctx context.Context, consumer string) (uint64, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	c, err := s.js.Consumer(ctx, bus.EventsStream, consumer)
	if err != nil {
		return 0, err
	}
	i, err := c.Info(ctx)
	if err != nil {
		return 0, err
	}
	return i.NumPending + uint64(i.NumAckPending), nil
}

// scenario is one run's events and what they must produce.
type scenario struct {
	tenant  string
	users   int
	ips     int
	acked   sync.Map // event id → kind
	nAcked  atomic.Int64
	maxLag  atomic.Uint64
	readErr atomic.Int64
	readOK  atomic.Int64
}

type result struct {
	key, name                                      string
	acked, lost, duplicated, rawCopies             int
	loadgenAcked, loadgenLost                      int
	alertsWanted, alertsLost, alertsDup, reflagged int
	lockoutsWanted, lockoutsKept                   int
	readErr, readOK                                int64
	maxLag                                         uint64
	recovery                                       time.Duration
}

func (r result) line() string {
	return fmt.Sprintf("acked %d, lost %d, duplicated %d; loadgen acked %d, lost %d; alerts %d, lost %d, duplicated %d, re-flagged %d; lockouts kept %d/%d; max lag %d; recovery %s",
		r.acked, r.lost, r.duplicated, r.loadgenAcked, r.loadgenLost, r.alertsWanted, r.alertsLost, r.alertsDup, r.reflagged, r.lockoutsKept, r.lockoutsWanted, r.maxLag, r.recovery.Round(100*time.Millisecond))
}

func (r result) row() string {
	reads := "–"
	if r.readOK+r.readErr > 0 {
		reads = fmt.Sprintf("%d of %d", r.readErr, r.readOK+r.readErr)
	}
	return fmt.Sprintf("| %s: %s | %d | %d | %d | %d | %d | %d | %d | %d | %d | %d | %d/%d | %s | %d | %s |", r.key, r.name, r.acked, r.lost, r.duplicated, r.rawCopies,
		r.loadgenAcked, r.loadgenLost, r.alertsWanted, r.alertsLost, r.alertsDup, r.reflagged, r.lockoutsKept, r.lockoutsWanted, reads, r.maxLag, r.recovery.Round(100*time.Millisecond))
}

const (
	chrome = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
	safari = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15"
)

// events is the scenario's traffic: users logging in four times from
// their device and a fifth from a new one, IPs failing five times each,
// and token traffic around them, interleaved over the whole run.
func (sc *scenario) events(total int, start time.Time, span time.Duration) []*event.Event {
	var structured []*event.Event
	for round := range 5 {
		for u := range sc.users {
			ua := chrome
			if round == 4 {
				ua = safari
			}
			structured = append(structured, &event.Event{ID: fmt.Sprintf("%s-u%d-r%d", sc.tenant, u, round), Kind: event.KindLogin, TenantID: sc.tenant,
				UserID: fmt.Sprintf("user%d", u), IPAddress: "81.2.69." + fmt.Sprint(u%200+10), UserAgent: ua, Status: event.StatusSuccess})
		}
		for ip := range sc.ips {
			structured = append(structured, &event.Event{ID: fmt.Sprintf("%s-ip%d-r%d", sc.tenant, ip, round), Kind: event.KindLogin, TenantID: sc.tenant,
				UserID: "victim", IPAddress: fmt.Sprintf("198.51.100.%d", ip+10), UserAgent: chrome, Status: event.StatusFailed})
		}
	}
	out := make([]*event.Event, 0, total)
	every := max(total/len(structured), 1)
	for i := range total {
		var ev *event.Event
		if i%every == 0 && i/every < len(structured) {
			ev = structured[i/every]
		} else {
			ev = &event.Event{ID: fmt.Sprintf("%s-t%d", sc.tenant, i), Kind: event.KindToken, TenantID: sc.tenant, UserID: "svc",
				IPAddress: "203.0.113.7", TokenID: "tok_chaos", TokenType: event.TokenSecret, Environment: event.EnvLive, Action: event.TokenAuthenticated}
		}
		ev.OccurredAt = start.Add(span * time.Duration(i) / time.Duration(total)).UTC()
		out = append(out, ev)
	}
	for j := (total / every); j < len(structured); j++ { // too few slots: the rest at the end
		ev := structured[j]
		ev.OccurredAt = start.Add(span).UTC()
		out = append(out, ev)
	}
	return out
}

func runScenario(ctx context.Context, s *stack, o options, key, name string, fault func(context.Context, *stack, *scenario) error) (result, error) {
	sc := &scenario{tenant: "chaos-" + key, users: 150, ips: 30}
	r := result{key: key, name: name, alertsWanted: sc.users + sc.ips, lockoutsWanted: sc.ips}
	total := int(o.duration.Seconds()) * o.rate
	evs := sc.events(total, time.Now(), o.duration)

	runCtx, stopRun := context.WithCancel(ctx)
	defer stopRun()
	var wg sync.WaitGroup
	// Lag of the ingest consumer, sampled.
	wg.Add(1)
	go func() {
		defer wg.Done()
		for runCtx.Err() == nil {
			if n, err := s.pending(runCtx, bus.ConsumerIngest); err == nil && n > sc.maxLag.Load() {
				sc.maxLag.Store(n)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}()
	// Readers of the API (they matter in scenario c).
	tok, _ := auth.SignHS256([]byte(secret), auth.Principal{UserID: "chaos", TenantID: sc.tenant, Permissions: []string{"admin.audit_log"}}, time.Hour)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			client := &http.Client{Timeout: 5 * time.Second}
			for runCtx.Err() == nil {
				req, _ := http.NewRequestWithContext(runCtx, http.MethodGet, "http://"+s.addrs["query"]+"/api/v1/login-history/tenant?per_page=10", nil)
				req.Header.Set("Authorization", "Bearer "+tok)
				resp, err := client.Do(req)
				if err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				if runCtx.Err() != nil {
					return
				}
				if err != nil || resp.StatusCode != http.StatusOK {
					sc.readErr.Add(1)
				} else {
					sc.readOK.Add(1)
				}
				time.Sleep(50 * time.Millisecond)
			}
		}()
	}
	// Steady background traffic from cmd/loadgen on its own tenants: the
	// pipeline carries it through every fault too, and what JetStream
	// acknowledged of it ("published") must all be stored.
	var lg *loadgenRun
	if o.loadgen > 0 {
		var err error
		if lg, err = s.startLoadgen(ctx); err != nil {
			return r, err
		}
	}
	// Publishing, like gateways that retry until JetStream acknowledges.
	pubDone := make(chan struct{})
	go func() {
		defer close(pubDone)
		start := time.Now()
		jobs := make(chan *event.Event, 256)
		var pw sync.WaitGroup
		for range 8 {
			pw.Add(1)
			go func() {
				defer pw.Done()
				for ev := range jobs {
					b, _ := json.Marshal(ev)
					for ctx.Err() == nil {
						pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
						_, err := s.js.Publish(pctx, event.Subject(ev.TenantID, ev.Kind), b, jetstream.WithMsgID(ev.ID))
						cancel()
						if err == nil {
							sc.acked.Store(ev.ID, ev.Kind)
							sc.nAcked.Add(1)
							break
						}
						time.Sleep(100 * time.Millisecond)
					}
				}
			}()
		}
		for i, ev := range evs {
			if d := time.Until(start.Add(time.Duration(i) * time.Second / time.Duration(o.rate))); d > 0 {
				time.Sleep(d)
			}
			jobs <- ev
		}
		close(jobs)
		pw.Wait()
	}()
	if err := fault(runCtx, s, sc); err != nil {
		return r, err
	}
	faultsEnd := time.Now()
	<-pubDone
	if lg != nil {
		if err := lg.wait(); err != nil {
			return r, err
		}
	}
	// Recovery: both consumers drained and every acknowledged event stored.
	deadline := time.Now().Add(5 * time.Minute)
	for {
		ni, err1 := s.pending(ctx, bus.ConsumerIngest)
		nd, err2 := s.pending(ctx, bus.ConsumerDetector)
		if err1 == nil && err2 == nil && ni == 0 && nd == 0 {
			break
		}
		if time.Now().After(deadline) {
			return r, fmt.Errorf("consumers not drained after 5 minutes (ingest %d, detector %d pending)", ni, nd)
		}
		time.Sleep(200 * time.Millisecond)
	}
	r.recovery = time.Since(faultsEnd)
	stopRun()
	wg.Wait()
	r.maxLag, r.readErr, r.readOK = sc.maxLag.Load(), sc.readErr.Load(), sc.readOK.Load()
	if key != "c" {
		r.readErr, r.readOK = 0, 0
	}
	if err := check(ctx, s, sc, &r); err != nil {
		return r, err
	}
	if lg != nil {
		stored, err := s.loadgenStored(ctx)
		if err != nil {
			return r, err
		}
		r.loadgenAcked = lg.published
		r.loadgenLost = max(0, lg.published-int(stored-lg.storedBefore))
	}
	return r, nil
}

// loadgenTenants are the tenants `bin/loadgen -tenants 3` publishes for.
var loadgenTenants = []any{"acme", "globex", "initech"}

// loadgenRun is bin/loadgen sending for one scenario.
type loadgenRun struct {
	cmd          *exec.Cmd
	out          bytes.Buffer
	storedBefore uint64
	published    int
}

func (s *stack) startLoadgen(ctx context.Context) (*loadgenRun, error) {
	before, err := s.loadgenStored(ctx)
	if err != nil {
		return nil, err
	}
	lg := &loadgenRun{storedBefore: before}
	lg.cmd = exec.Command(filepath.Join(s.o.bin, "loadgen"), "-nats", s.natsURL, "-rate", fmt.Sprint(s.o.loadgen),
		"-duration", s.o.duration.String(), "-tenants", fmt.Sprint(len(loadgenTenants)), "-quiet", "-flush-timeout", "3m")
	lg.cmd.Stdout = &lg.out
	logf, err := os.OpenFile(filepath.Join(s.dir, "loadgen.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, err
	}
	defer logf.Close() // the child has its own copy once started
	lg.cmd.Stderr = logf
	if err := lg.cmd.Start(); err != nil {
		return nil, fmt.Errorf("loadgen (make build): %w", err)
	}
	return lg, nil
}

// wait waits for loadgen to finish and reads how many of its events
// JetStream acknowledged.
func (lg *loadgenRun) wait() error {
	if err := lg.cmd.Wait(); err != nil {
		return fmt.Errorf("loadgen: %w: %s", err, lg.out.String())
	}
	for _, line := range strings.Split(lg.out.String(), "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[0] == "published" {
			n, err := strconv.Atoi(f[1])
			if err != nil {
				return fmt.Errorf("loadgen said %q", line)
			}
			lg.published = n
			return nil
		}
	}
	return fmt.Errorf("loadgen printed no published count: %s", lg.out.String())
}

// loadgenStored counts the distinct events of loadgen's tenants in ClickHouse.
func (s *stack) loadgenStored(ctx context.Context) (uint64, error) {
	var n uint64
	for _, table := range []string{"login_events", "token_events"} {
		var m uint64
		if err := s.st.Conn().QueryRow(ctx, "SELECT uniqExact(id) FROM "+table+" WHERE tenant_id IN (?, ?, ?)", loadgenTenants...).Scan(&m); err != nil {
			return 0, err
		}
		n += m
	}
	return n, nil
}

func check(ctx context.Context, s *stack, sc *scenario, r *result) error {
	r.acked = int(sc.nAcked.Load())
	stored := map[string]bool{}
	var rows uint64
	for _, table := range []string{"login_events", "token_events"} {
		ids, err := s.st.EventIDs(ctx, sc.tenant, table)
		if err != nil {
			return err
		}
		for _, id := range ids {
			stored[id] = true
		}
		var n uint64
		if err := s.st.Conn().QueryRow(ctx, "SELECT count() FROM "+table+" WHERE tenant_id = ?", sc.tenant).Scan(&n); err != nil {
			return err
		}
		rows += n
	}
	sc.acked.Range(func(id, _ any) bool {
		if !stored[id.(string)] {
			r.lost++
		}
		return true
	})
	r.rawCopies = int(rows) - len(stored)
	// Copies of a redelivered event wait for a merge to collapse (same sort
	// key in a ReplacingMergeTree). Force the merges: a copy that survives
	// one (a key that differs between copies) would be counted twice by any
	// plain read, in the tables and in their by-time copies alike.
	for _, pair := range [][2]string{{"login_events", "login_events_by_time"}, {"token_events", "token_events_by_time"}} {
		var distinct uint64
		for i, table := range pair {
			if err := s.st.Conn().Exec(ctx, "OPTIMIZE TABLE "+table+" FINAL"); err != nil {
				return fmt.Errorf("merge %s: %w", table, err)
			}
			var n, ids uint64
			if err := s.st.Conn().QueryRow(ctx, "SELECT count(), uniqExact(id) FROM "+table+" WHERE tenant_id = ?", sc.tenant).Scan(&n, &ids); err != nil {
				return err
			}
			if i == 0 {
				distinct = ids
			}
			r.duplicated += int(n - ids)
			if ids != distinct {
				return fmt.Errorf("%s holds %d ids, %s %d", table, ids, pair[0], distinct)
			}
		}
	}
	// Alerts, as the API's store holds them.
	type alertRow struct {
		rule, user, ip, event string
	}
	rowsQ, err := s.st.Conn().Query(ctx, `SELECT rule, user_id, ip_address, event_id FROM alerts WHERE tenant_id = ? LIMIT 1 BY id`, sc.tenant)
	if err != nil {
		return err
	}
	perSubject := map[string]int{}
	for rowsQ.Next() {
		var a alertRow
		if err := rowsQ.Scan(&a.rule, &a.user, &a.ip, &a.event); err != nil {
			rowsQ.Close()
			return err
		}
		switch a.rule {
		case "new_device":
			perSubject["user "+a.user]++
			if !strings.HasSuffix(a.event, "-r4") {
				r.reflagged++ // a known device (rounds 0–3) flagged
			}
		case "ip_lockout":
			perSubject["ip "+a.ip]++
		}
	}
	rowsQ.Close()
	for u := range sc.users {
		switch n := perSubject[fmt.Sprintf("user user%d", u)]; {
		case n == 0:
			r.alertsLost++
		case n > 1:
			r.alertsDup += n - 1
		}
	}
	kv, err := s.js.KeyValue(ctx, bus.LockoutBucket)
	if err != nil {
		return err
	}
	for ip := range sc.ips {
		addr := fmt.Sprintf("198.51.100.%d", ip+10)
		switch n := perSubject["ip "+addr]; {
		case n == 0:
			r.alertsLost++
		case n > 1:
			r.alertsDup += n - 1
		}
		if e, err := kv.Get(ctx, bus.LockoutKey(sc.tenant, addr)); err == nil {
			var l bus.Lockout
			if json.Unmarshal(e.Value(), &l) == nil && l.LockedUntil.After(time.Now()) {
				r.lockoutsKept++
			}
		}
	}
	return nil
}

// killing SIGKILLs a service n times at random moments over the run,
// restarting it each time at once.
func killing(name string, n int) func(context.Context, *stack, *scenario) error {
	return func(ctx context.Context, s *stack, _ *scenario) error {
		rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
		span := s.o.duration
		for range n {
			wait := time.Duration(rng.Int64N(int64(2 * span / time.Duration(n))))
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(wait):
			}
			s.kill(name)
			if err := s.start(name); err != nil {
				return err
			}
		}
		return s.waitReady(ctx, name, time.Minute)
	}
}

// clickhouseOutage stops ClickHouse (SIGSTOP: connections hang, as on a
// dead host) for the outage, then kills it and starts it on the same data.
func clickhouseOutage(ctx context.Context, s *stack, _ *scenario) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(s.o.duration / 4):
	}
	_ = s.ch.Process.Signal(syscall.SIGSTOP)
	select {
	case <-ctx.Done():
	case <-time.After(s.o.outage):
	}
	_ = s.ch.Process.Signal(syscall.SIGKILL)
	_ = s.ch.Process.Signal(syscall.SIGCONT)
	_ = s.ch.Wait()
	return s.startClickHouse(ctx)
}

// natsRestart stops the NATS server (SIGTERM, as an operator's restart)
// half way and starts it again on the same store.
func natsRestart(ctx context.Context, s *stack, _ *scenario) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(s.o.duration / 2):
	}
	_ = s.nats.Process.Signal(syscall.SIGTERM)
	_ = s.nats.Wait()
	time.Sleep(2 * time.Second) // the gateways publish into a gap
	return s.startNATS()
}
