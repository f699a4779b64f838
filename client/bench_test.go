package client_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/authwatch/authwatch/client"
	"github.com/authwatch/authwatch/event"
	"github.com/authwatch/authwatch/internal/testenv"
)

// BenchmarkPublish measures the path a gateway pays per login: validate and
// enqueue, with NATS connected and the worker publishing behind it. When
// the worker falls behind, the benchmark waits for it with the timer
// stopped, so every measured call takes the enqueue path, not the drop
// path. It reports the p50, p99 and p999 of single calls (timing each call
// adds two clock reads to ns/op).
//
// B/op and allocs/op count every allocation in the process, the worker's
// and the embedded server's included; TestPublishDoesNotAllocate checks
// the enqueue path alone. proc-cpu-ns/op is likewise the CPU time of the
// whole process per event while timed: Publish, the worker, nats.go, the
// embedded NATS server storing the event, and the GC.
func BenchmarkPublish(b *testing.B) {
	_, nc, js := setup(b)
	createStream(b, js, 0)
	p := newPublisher(b, nc)
	evs := benchEvents()
	lat := make([]time.Duration, 0, 1<<20)

	b.ReportAllocs()
	b.ResetTimer()
	var cpu, cpuFrom time.Duration // process CPU over the timed stretches
	for i := 0; b.Loop(); i++ {
		if i == 0 {
			cpuFrom = processCPU()
		}
		if i%1024 == 0 && p.Stats().Buffered > client.DefaultBufferSize/2 {
			cpu += processCPU() - cpuFrom
			b.StopTimer()
			for p.Stats().Buffered > client.DefaultBufferSize/8 {
				time.Sleep(100 * time.Microsecond)
			}
			b.StartTimer()
			cpuFrom = processCPU()
		}
		start := time.Now()
		_ = p.Publish(evs[i%len(evs)])
		if len(lat) < cap(lat) {
			lat = append(lat, time.Since(start))
		}
	}
	b.StopTimer()
	cpu += processCPU() - cpuFrom
	if cpuFrom >= 0 {
		b.ReportMetric(float64(cpu)/float64(b.N), "proc-cpu-ns/op")
	}
	slices.Sort(lat)
	pct := func(q float64) float64 { return float64(lat[int(q*float64(len(lat)-1))].Nanoseconds()) }
	b.ReportMetric(pct(0.50), "p50-ns")
	b.ReportMetric(pct(0.99), "p99-ns")
	b.ReportMetric(pct(0.999), "p999-ns")
	b.ReportMetric(float64(p.Stats().Dropped)/float64(b.N), "dropped/op")
}

// BenchmarkPublishCallerCPU measures the CPU time Publish costs the
// goroutine that calls it, apart from the worker and the embedded server
// that share the machine's cores: the calling goroutine is locked to its
// thread, whose CPU clock is read around the timed stretches. calls/s/core
// is the rate of Publish calls one core would sustain. (Locking the
// thread slows hand-offs between goroutines, so its ns/op is not
// BenchmarkPublish's.)
func BenchmarkPublishCallerCPU(b *testing.B) {
	if threadCPU() < 0 {
		b.Skip("no per-thread CPU clock on this system")
	}
	_, nc, js := setup(b)
	createStream(b, js, 0)
	p := newPublisher(b, nc)
	evs := benchEvents()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()

	b.ResetTimer()
	var cpu, cpuFrom time.Duration
	for i := 0; b.Loop(); i++ {
		if i == 0 {
			cpuFrom = threadCPU()
		}
		if i%1024 == 0 && p.Stats().Buffered > client.DefaultBufferSize/2 {
			cpu += threadCPU() - cpuFrom
			b.StopTimer()
			for p.Stats().Buffered > client.DefaultBufferSize/8 {
				time.Sleep(100 * time.Microsecond)
			}
			b.StartTimer()
			cpuFrom = threadCPU()
		}
		_ = p.Publish(evs[i%len(evs)])
	}
	b.StopTimer()
	cpu += threadCPU() - cpuFrom
	perCall := float64(cpu) / float64(b.N)
	b.ReportMetric(perCall, "cpu-ns/op")
	b.ReportMetric(1e9/perCall, "calls/s/core")
	b.ReportMetric(float64(p.Stats().Dropped)/float64(b.N), "dropped/op")
}

// BenchmarkPublishParallel calls Publish from many goroutines as fast as
// they can, as the request handlers of a gateway under a flood would. The
// worker cannot keep up with that, so most calls take the drop path
// (dropped/op says how many): this measures contention, and that Publish
// stays cheap when it refuses.
func BenchmarkPublishParallel(b *testing.B) {
	_, nc, js := setup(b)
	createStream(b, js, 0)
	p := newPublisher(b, nc)
	evs := benchEvents()

	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		ev := *evs[0]
		for i := 0; pb.Next(); i++ {
			ev.ID = evs[i%len(evs)].ID
			_ = p.Publish(&ev)
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(p.Stats().Dropped)/float64(b.N), "dropped/op")
}

// TestPublishDoesNotAllocate checks that enqueueing costs no allocation.
// The server is stopped and the connection does not try to reconnect
// meanwhile, so nothing else in the process allocates while it counts.
func TestPublishDoesNotAllocate(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a NATS server")
	}
	srv := testenv.StartNATS(t)
	nc, err := nats.Connect(srv.URL(), nats.MaxReconnects(-1), nats.ReconnectWait(time.Hour))
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer nc.Close()
	p := newPublisher(t, nc)
	srv.Stop()
	waitFor(t, 5*time.Second, "the client to see the disconnect", func() bool { return !nc.IsConnected() })

	ev := benchEvents()[0]
	var failed error
	allocs := testing.AllocsPerRun(1000, func() {
		if err := p.Publish(ev); err != nil {
			failed = err
		}
	})
	if failed != nil {
		t.Fatalf("publish: %v", failed)
	}
	if allocs != 0 {
		t.Errorf("Publish allocates %.1f times per call, want 0", allocs)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	_ = p.Close(ctx)
}

func benchEvents() []*event.Event {
	evs := make([]*event.Event, 4096)
	run := time.Now().UnixNano()
	for i := range evs {
		ev := loginEvent(i)
		ev.ID = fmt.Sprintf("bench-%d-%06d", run, i)
		ev.User = &event.UserProfile{Name: "Ada Lovelace", Email: "ada@acme.example"}
		ev.Metadata = map[string]string{"client": "web"}
		evs[i] = ev
	}
	return evs
}

// lockoutsForBench loads a view of n lockouts over 10 tenants, as a busy
// multi-tenant gateway might hold, and returns the IPs that are locked.
func lockoutsForBench(b *testing.B, n int) (*client.Lockouts, []netip.Addr) {
	b.Helper()
	_, nc, js := setup(b)
	kv := createLockoutBucket(b, js)
	until := time.Now().Add(15 * time.Minute)
	ips := make([]netip.Addr, n)
	for i := range n {
		ips[i] = netip.AddrFrom4([4]byte{198, 18, byte(i >> 8), byte(i)})
		if i%2 == 1 {
			ips[i] = netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 14: byte(i >> 8), 15: byte(i)})
		}
		lock(b, kv, fmt.Sprintf("tenant%d", i%10), ips[i].String(), until, 0)
	}
	l := newLockouts(b, nc, client.LockoutsConfig{})
	waitReady(b, l)
	if st := l.Stats(); st.Entries != n {
		b.Fatalf("view holds %d lockouts, want %d", st.Entries, n)
	}
	return l, ips
}

// BenchmarkLocked measures the lockout check a gateway makes per login,
// over a view of 2,000 lockouts in 10 tenants: for a locked IPv4 and IPv6
// address (the path that also reads the clock), and for an IP that is not
// locked (the common case).
func BenchmarkLocked(b *testing.B) {
	l, ips := lockoutsForBench(b, 2000)
	for _, bb := range []struct {
		name   string
		tenant string
		ip     netip.Addr
		want   bool
	}{
		{"locked-v4", "tenant0", ips[0], true},
		{"locked-v6", "tenant1", ips[1], true},
		{"not-locked", "tenant0", netip.MustParseAddr("203.0.113.99"), false},
	} {
		b.Run(bb.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if locked, _ := l.Locked(bb.tenant, bb.ip); locked != bb.want {
					b.Fatalf("Locked(%s, %s) = %v", bb.tenant, bb.ip, locked)
				}
			}
		})
	}
}

// BenchmarkLockedParallel is BenchmarkLocked from every core at once.
func BenchmarkLockedParallel(b *testing.B) {
	l, ips := lockoutsForBench(b, 2000)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for i := 0; pb.Next(); i++ {
			_, _ = l.Locked("tenant0", ips[(i*10)%len(ips)])
		}
	})
}

// BenchmarkLoginGuard measures what the guard adds to one login request in
// process (no network): the middleware's check on an unlocked IP and
// RecordLogin's event (id, validation, enqueue), NATS connected. The
// end-to-end figure over HTTP is examples/gateway's BenchmarkLoginOverhead.
func BenchmarkLoginGuard(b *testing.B) {
	l, _ := lockoutsForBench(b, 2000)
	_, nc, js := setup(b)
	createStream(b, js, 0)
	p := newPublisher(b, nc)
	guard := &client.LoginGuard{Lockouts: l, Publisher: p, TenantID: "tenant0"}
	h := guard.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = guard.RecordLogin(r, client.LoginAttempt{Status: event.StatusFailed, UserID: "usr_1", FailureReason: "wrong password"})
	}))
	r := httptest.NewRequest("POST", "/login", nil)
	r.RemoteAddr = "203.0.113.7:4711"
	r.Header.Set("User-Agent", "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0")
	w := httptest.NewRecorder()
	lat := make([]time.Duration, 0, 1<<20)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if i%1024 == 0 && p.Stats().Buffered > client.DefaultBufferSize/2 {
			b.StopTimer()
			for p.Stats().Buffered > client.DefaultBufferSize/8 {
				time.Sleep(100 * time.Microsecond)
			}
			b.StartTimer()
		}
		start := time.Now()
		h.ServeHTTP(w, r)
		if len(lat) < cap(lat) {
			lat = append(lat, time.Since(start))
		}
	}
	b.StopTimer()
	slices.Sort(lat)
	pct := func(q float64) float64 { return float64(lat[int(q*float64(len(lat)-1))].Nanoseconds()) }
	b.ReportMetric(pct(0.50), "p50-ns")
	b.ReportMetric(pct(0.99), "p99-ns")
	b.ReportMetric(float64(p.Stats().Dropped)/float64(b.N), "dropped/op")
}
