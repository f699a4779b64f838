package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/authwatch/authwatch/client"
	"github.com/authwatch/authwatch/internal/bus"
	"github.com/authwatch/authwatch/internal/testenv"
)

// BenchmarkLoginOverhead measures what authwatch adds to a login over
// HTTP: two instances of the example gateway run side by side on loopback,
// one bare (no middleware, no events) and one wrapped (the lockout
// middleware with 1,000 lockouts in its view, and a login event published
// per request, NATS connected and JetStream storing them). Requests
// alternate between the two over keep-alive connections, so both see the
// same machine; each op is one request to each. It reports the p50 and
// p99 latency of both and the difference of the p99s.
//
// Sub-benchmarks: c=1 sends one request at a time; c=8 has 8 clients at
// once (each alternating), as a busy gateway would see; control is c=1
// with two bare gateways, whose "added" figures are the measurement's own
// noise.
func BenchmarkLoginOverhead(b *testing.B) {
	for _, clients := range []int{1, 8} {
		b.Run(fmt.Sprintf("c=%d", clients), func(b *testing.B) { benchLoginOverhead(b, clients, false) })
	}
	b.Run("control", func(b *testing.B) { benchLoginOverhead(b, 1, true) })
}

func benchLoginOverhead(b *testing.B, clients int, control bool) {
	// In production NATS runs elsewhere; BENCH_NATS_URL points the
	// benchmark at a server in another process instead of one embedded in
	// this one (scripts/bench-gateway.sh starts one pinned to a core of its
	// own: the figures of the README).
	url := os.Getenv("BENCH_NATS_URL")
	if url == "" {
		url = testenv.StartNATS(b).URL()
	}
	nc := connect(b, url)
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := bus.EnsureStreams(ctx, js, bus.DefaultTopology()); err != nil {
		b.Fatal(err)
	}
	kv, err := js.KeyValue(ctx, client.LockoutBucket)
	if err != nil {
		b.Fatal(err)
	}
	until := time.Now().Add(15 * time.Minute).UTC().Truncate(time.Second)
	for i := range 1000 {
		ip := fmt.Sprintf("198.18.%d.%d", i/250, i%250)
		v, _ := json.Marshal(client.Lockout{TenantID: tenant, IPAddress: ip, FailedAttempts: 5, LockedUntil: until})
		if _, err := kv.Put(ctx, client.LockoutKey(tenant, ip), v); err != nil {
			b.Fatal(err)
		}
	}
	pub, err := client.NewPublisher(nc, client.WithLogger(quiet()))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = pub.Close(ctx)
	})
	lockouts, err := client.NewLockouts(nc, client.LockoutsConfig{TenantID: tenant, Logger: quiet()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(lockouts.Close)
	if err := lockouts.WaitReady(ctx); err != nil {
		b.Fatal(err)
	}
	clientIP, err := client.TrustedProxies("127.0.0.0/8")
	if err != nil {
		b.Fatal(err)
	}
	guard := &client.LoginGuard{Lockouts: lockouts, Publisher: pub, TenantID: tenant, ClientIP: clientIP}

	bare := httptest.NewServer(newServer(demoUsers, nil, quiet()))
	defer bare.Close()
	if control {
		guard = nil
	}
	wrapped := httptest.NewServer(newServer(demoUsers, guard, quiet()))
	defer wrapped.Close()
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients * 2}}
	body := `{"username":"alice","password":"wonderland"}`
	send := func(url string) time.Duration {
		req, _ := http.NewRequest("POST", url, strings.NewReader(body))
		req.Header.Set("X-Forwarded-For", "203.0.113.9")
		req.Header.Set("User-Agent", "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0")
		start := time.Now()
		resp, err := hc.Do(req)
		if err != nil {
			b.Error(err)
			return 0
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		took := time.Since(start)
		if resp.StatusCode != http.StatusOK {
			b.Errorf("status %d", resp.StatusCode)
		}
		return took
	}
	// Warm up the connections and both handlers.
	for range 200 {
		send(bare.URL + "/login")
		send(wrapped.URL + "/login")
	}

	type sample struct{ bare, wrapped time.Duration }
	results := make(chan []sample, clients)
	b.ResetTimer()
	work := make(chan struct{}, clients)
	for range clients {
		go func() {
			var s []sample
			for range work {
				s = append(s, sample{send(bare.URL + "/login"), send(wrapped.URL + "/login")})
			}
			results <- s
		}()
	}
	for b.Loop() {
		work <- struct{}{}
	}
	close(work)
	var bareLat, wrappedLat []time.Duration
	for range clients {
		for _, s := range <-results {
			bareLat = append(bareLat, s.bare)
			wrappedLat = append(wrappedLat, s.wrapped)
		}
	}
	b.StopTimer()
	slices.Sort(bareLat)
	slices.Sort(wrappedLat)
	pct := func(lat []time.Duration, q float64) float64 {
		return float64(lat[int(q*float64(len(lat)-1))].Nanoseconds()) / 1e3
	}
	b.ReportMetric(pct(bareLat, 0.50), "bare-p50-us")
	b.ReportMetric(pct(bareLat, 0.99), "bare-p99-us")
	b.ReportMetric(pct(wrappedLat, 0.50), "wrapped-p50-us")
	b.ReportMetric(pct(wrappedLat, 0.99), "wrapped-p99-us")
	b.ReportMetric(pct(wrappedLat, 0.99)-pct(bareLat, 0.99), "added-p99-us")
	b.ReportMetric(float64(pub.Stats().Dropped), "events-dropped")
}
