// Package benchproc has what the benchmark programs share: a real
// nats-server on a temp dir, free ports, and a child process's CPU and RSS.
package benchproc

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/authwatch/authwatch/internal/bus"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// StartNATS runs bin (make nats builds it) with JetStream on dir and
// returns its URL and a function that stops it.
func StartNATS(bin, dir string) (string, func(), error) {
	port, err := FreePort()
	if err != nil {
		return "", nil, err
	}
	conf := filepath.Join(dir, "nats.conf")
	body := fmt.Sprintf("listen: 127.0.0.1:%d\nmax_payload: 2MB\njetstream { store_dir: %q }\n", port, filepath.Join(dir, "js"))
	// BENCH_NATS_PROF_PORT serves the server's pprof there, to see where
	// its CPU goes during a run.
	if p := os.Getenv("BENCH_NATS_PROF_PORT"); p != "" {
		body += "prof_port: " + p + "\n"
	}
	if err := os.WriteFile(conf, []byte(body), 0o644); err != nil {
		return "", nil, err
	}
	cmd := exec.Command(bin, "-c", conf)
	if err := cmd.Start(); err != nil {
		return "", nil, fmt.Errorf("start %s (make nats builds it): %w", bin, err)
	}
	url := fmt.Sprintf("nats://127.0.0.1:%d", port)
	for i := 0; i < 100; i++ {
		if nc, err := nats.Connect(url); err == nil {
			nc.Close()
			return url, func() { _ = cmd.Process.Signal(syscall.SIGTERM); _ = cmd.Wait() }, nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	_ = cmd.Process.Kill()
	return "", nil, errors.New("nats-server did not start")
}

// FreePort is a TCP port nobody listens on right now.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Ready says whether a service's /readyz answers 200.
func Ready(addr string) bool {
	resp, err := http.Get("http://" + addr + "/readyz")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// SelfCPU is this process's CPU time so far.
func SelfCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// ProcCPU reads utime+stime of pid from /proc (clock ticks of 10 ms).
func ProcCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	ut, _ := strconv.ParseInt(fields[11], 10, 64)
	st, _ := strconv.ParseInt(fields[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond
}

// ProcRSS is pid's resident memory in bytes.
func ProcRSS(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			kb, _ := strconv.ParseInt(strings.Fields(line)[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}

// Env is what every benchmark program starts with: a temp dir, its own
// nats-server on it, a connection and the streams declared.
type Env struct {
	Dir     string
	NATSURL string
	NC      *nats.Conn
	JS      jetstream.JetStream
	stop    func()
}

// Start makes an Env for the benchmark called name, with nats-server from bin.
func Start(ctx context.Context, bin, name string) (*Env, error) {
	dir, err := os.MkdirTemp("", "authwatch-"+name+"-")
	if err != nil {
		return nil, err
	}
	e := &Env{Dir: dir}
	if e.NATSURL, e.stop, err = StartNATS(filepath.Join(bin, "nats-server"), dir); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	if e.NC, err = nats.Connect(e.NATSURL); err != nil {
		e.Close()
		return nil, err
	}
	e.JS, _ = jetstream.New(e.NC, jetstream.WithPublishAsyncMaxPending(4096))
	if err := bus.EnsureStreams(ctx, e.JS, bus.DefaultTopology()); err != nil {
		e.Close()
		return nil, err
	}
	return e, nil
}

// Close stops the server and removes the dir.
func (e *Env) Close() {
	if e.NC != nil {
		e.NC.Close()
	}
	if e.stop != nil {
		e.stop()
	}
	os.RemoveAll(e.Dir)
}

// WaitFirstDelivery waits until cons has handed out its first message: the
// moment a drain starts. Waiting for /readyz instead would start the clock
// late (readiness is polled every 2 s; a small backlog is gone by then).
func WaitFirstDelivery(ctx context.Context, cons jetstream.Consumer) error {
	for {
		if info, err := cons.Info(ctx); err == nil && info.Delivered.Consumer > 0 {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		time.Sleep(5 * time.Millisecond)
	}
}
