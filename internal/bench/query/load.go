package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// endpoint is one row of the report: a GET with fixed parameters, called as
// one of the seeded principals.
type endpoint struct {
	name  string // what the row says: route, parameters, caller
	path  string // path and query
	token string // bearer token; "" for a public route
}

// callers are the bearer tokens of the seeded principals.
type callers struct {
	heavy, normal, admin string
}

// endpoints lists every GET route of internal/httpapi/routes.go with the
// parameters a real caller would send. today is the UTC date the ranges end on.
func endpoints(c callers, today time.Time) []endpoint {
	day := func(d time.Time) string { return d.Format("2006-01-02") }
	last90 := "from=" + day(today.AddDate(0, 0, -89)) + "&to=" + day(today)
	last7 := "from=" + day(today.AddDate(0, 0, -6)) + "&to=" + day(today)
	tok := "/api/v1/tokens/" + busyToken
	return []endpoint{
		{"openapi.json", "/api/openapi.json", ""},

		{"login-history (heavy user)", "/api/v1/login-history", c.heavy},
		{"login-history (normal user)", "/api/v1/login-history", c.normal},
		{"login-history status=failed (heavy user)", "/api/v1/login-history?status=failed", c.heavy},
		{"login-history page=40 per_page=100 (heavy user)", "/api/v1/login-history?page=40&per_page=100", c.heavy},
		{"login-history/stats (heavy user)", "/api/v1/login-history/stats", c.heavy},
		{"login-history/stats (normal user)", "/api/v1/login-history/stats", c.normal},
		{"login-history/suspicious (heavy user)", "/api/v1/login-history/suspicious", c.heavy},
		{"login-history/tenant page 1 (big tenant admin)", "/api/v1/login-history/tenant", c.admin},
		{"login-history/tenant status=failed page 1", "/api/v1/login-history/tenant?status=failed", c.admin},
		{"login-history/tenant status=failed page=1000 per_page=100", "/api/v1/login-history/tenant?status=failed&page=1000&per_page=100", c.admin},
		{"login-history/tenant page=2000 per_page=100", "/api/v1/login-history/tenant?page=2000&per_page=100", c.admin},
		{"login-history/tenant suspicious_only=true", "/api/v1/login-history/tenant?suspicious_only=true", c.admin},
		{"login-history/tenant user_id=<heavy user>", "/api/v1/login-history/tenant?user_id=" + heavyUser, c.admin},

		{"tokens/stats days=30 (heavy user)", "/api/v1/tokens/stats?days=30", c.heavy},
		{"tokens/stats days=30 (big tenant admin)", "/api/v1/tokens/stats?days=30", c.admin},
		{"tokens/top limit=10 (heavy user)", "/api/v1/tokens/top?limit=10", c.heavy},
		{"tokens/top limit=10 (big tenant admin)", "/api/v1/tokens/top?limit=10", c.admin},
		{"tokens/{busy}/usage days=30", tok + "/usage?days=30", c.admin},
		{"tokens/{busy}/usage/hourly days=30", tok + "/usage/hourly?days=30", c.admin},
		{"tokens/{busy}/usage/ips days=30 limit=100", tok + "/usage/ips?days=30&limit=100", c.admin},
		{"tokens/{busy}/summary", tok + "/summary", c.admin},
		{"tokens/{busy}/events page 1", tok + "/events", c.admin},
		{"tokens/{busy}/events event=failed", tok + "/events?event=failed", c.admin},

		{"security/failures hours=24 page 1", "/api/v1/security/failures?hours=24", c.admin},
		{"security/failures hours=24 page=100", "/api/v1/security/failures?hours=24&page=100", c.admin},
		{"security/suspicious-ips minutes=60 min_failures=10", "/api/v1/security/suspicious-ips?minutes=60&min_failures=10", c.admin},

		{"analytics/logins 90 days by day", "/api/v1/analytics/logins?interval=day&" + last90, c.admin},
		{"analytics/logins 7 days by hour", "/api/v1/analytics/logins?interval=hour&" + last7, c.admin},
		{"analytics/tokens 90 days by day", "/api/v1/analytics/tokens?interval=day&" + last90, c.admin},
		{"analytics/tokens 7 days by hour", "/api/v1/analytics/tokens?interval=hour&" + last7, c.admin},
	}
}

// result is what one endpoint measured.
type result struct {
	endpoint       endpoint
	notImplemented bool
	requests       int
	errors         int // non-2xx answers and transport failures
	elapsed        time.Duration
	p50, p99       time.Duration
	sampleError    string // the first error seen, for the notes under the table
}

func (r result) perSecond() float64 { return float64(r.requests) / r.elapsed.Seconds() }

// drive calls one endpoint from `concurrency` clients in a loop for d. A
// first call decides whether the route exists yet: a 501 skips the run.
func drive(ctx context.Context, client *http.Client, base string, ep endpoint, concurrency int, d time.Duration) result {
	res := result{endpoint: ep}
	code, body, _, err := call(ctx, client, base, ep)
	switch {
	case err != nil:
		res.sampleError = err.Error()
	case code == http.StatusNotImplemented:
		res.notImplemented = true
		return res
	case code/100 != 2:
		res.sampleError = fmt.Sprintf("%d %s", code, body)
	}

	// Each client stops after the deadline rather than being cancelled at it,
	// so no request is cut off half way (and logged by the server as failed).
	deadline := time.Now().Add(d)
	var mu sync.Mutex
	var all []time.Duration
	var wg sync.WaitGroup
	start := time.Now()
	for range concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			errs := 0
			sample := ""
			for time.Now().Before(deadline) && ctx.Err() == nil {
				code, body, took, err := call(ctx, client, base, ep)
				mine = append(mine, took)
				if err != nil || code/100 != 2 {
					errs++
					if sample == "" && err != nil {
						sample = err.Error()
					} else if sample == "" {
						sample = fmt.Sprintf("%d %s", code, body)
					}
				}
			}
			mu.Lock()
			defer mu.Unlock()
			all = append(all, mine...)
			res.errors += errs
			if res.sampleError == "" {
				res.sampleError = sample
			}
		}()
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	res.requests = len(all)
	slices.Sort(all)
	res.p50 = percentile(all, 50)
	res.p99 = percentile(all, 99)
	return res
}

// call makes one request and reads the whole answer (so the connection is
// reused); body is the start of a non-2xx answer.
func call(ctx context.Context, client *http.Client, base string, ep endpoint) (int, string, time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+ep.path, nil)
	if err != nil {
		return 0, "", 0, err
	}
	if ep.token != "" {
		req.Header.Set("Authorization", "Bearer "+ep.token)
	}
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return 0, "", time.Since(start), err
	}
	defer resp.Body.Close()
	var body []byte
	if resp.StatusCode/100 != 2 {
		body, _ = io.ReadAll(io.LimitReader(resp.Body, 300))
	}
	_, err = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(body)), time.Since(start), err
}

// percentile of sorted durations (nearest rank).
func percentile(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := (len(sorted)*p + 99) / 100 // ceil(n × p / 100)
	return sorted[max(rank, 1)-1]
}

// report writes the Markdown table and, under it, the slowest routes and a
// sample of each failing route's error.
func report(w io.Writer, results []result, concurrency int, d time.Duration, serverLog string) {
	fmt.Fprintf(w, "| endpoint | requests/s | p50 | p99 | errors (non-2xx) | p99 < 50 ms |\n")
	fmt.Fprintf(w, "|---|---:|---:|---:|---:|:---:|\n")
	for _, r := range results {
		if r.notImplemented {
			fmt.Fprintf(w, "| %s | – | – | – | – | not implemented |\n", r.endpoint.name)
			continue
		}
		ok := "yes"
		if r.p99 >= 50*time.Millisecond || r.errors > 0 {
			ok = "**no**"
		}
		fmt.Fprintf(w, "| %s | %.0f | %s | %s | %d / %d | %s |\n",
			r.endpoint.name, r.perSecond(), ms(r.p50), ms(r.p99), r.errors, r.requests, ok)
	}

	measured := slices.DeleteFunc(slices.Clone(results), func(r result) bool { return r.notImplemented })
	slices.SortFunc(measured, func(a, b result) int { return cmp.Compare(b.p99, a.p99) })
	if len(measured) > 0 {
		fmt.Fprintf(w, "\nSlowest at concurrency %d (%s each):\n", concurrency, d)
		for _, r := range measured[:min(5, len(measured))] {
			fmt.Fprintf(w, "- %s: p99 %s (`GET %s`)\n", r.endpoint.name, ms(r.p99), r.endpoint.path)
		}
	}
	first := true
	for _, r := range results {
		if r.sampleError == "" {
			continue
		}
		if first {
			fmt.Fprintf(w, "\nErrors (first of each route; the server's log is %s):\n", serverLog)
			first = false
		}
		fmt.Fprintf(w, "- %s: %s\n", r.endpoint.name, r.sampleError)
	}
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }
