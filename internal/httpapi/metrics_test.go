package httpapi_test

import (
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/authwatch/authwatch/internal/auth"
	"github.com/authwatch/authwatch/internal/httpapi"
)

// Requests are counted by the Echo route pattern, never by the raw path, so
// callers cannot create series: two token ids make one series, and paths
// that match no route share a label.
func TestHTTPMetricsUseTheRoutePattern(t *testing.T) {
	v, err := auth.NewHS256(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	// No store: every request below is answered before a handler runs (401, 404).
	srv := httptest.NewServer(httpapi.New(httpapi.Deps{Verifier: v, Registry: reg,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))}))
	defer srv.Close()
	for _, path := range []string{
		"/api/v1/tokens/tok_secret_1/usage",
		"/api/v1/tokens/tok_secret_2/usage",
		"/api/v1/no-such-route-a1b2",
		"/no-such-page-c3d4",
	} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}

	requests, latency := gather(t, reg, "authwatch_http_requests_total"), gather(t, reg, "authwatch_http_request_seconds")
	want := map[string]float64{
		"code=401,route=/api/v1/tokens/:token_id/usage": 2,
		"code=401,route=/api/v1/*":                      1, // the group's catch-all: authentication runs first
		"code=404,route=unmatched":                      1,
	}
	if !maps.Equal(requests, want) {
		t.Errorf("authwatch_http_requests_total = %v, want %v", requests, want)
	}
	if got := latency["route=/api/v1/tokens/:token_id/usage"]; got != 2 {
		t.Errorf("latency observations of /api/v1/tokens/:token_id/usage = %v, want 2; series: %v", got, latency)
	}
	for series := range latency {
		for _, raw := range []string{"tok_secret", "a1b2", "c3d4"} {
			if strings.Contains(series, raw) {
				t.Errorf("latency series %q carries the raw path", series)
			}
		}
	}
}

// gather returns the counter values (or histogram sample counts) of the
// family name, keyed by "label=value,..." in label order.
func gather(t *testing.T, reg *prometheus.Registry, name string) map[string]float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			out[labelKey(m.GetLabel())] = value(m)
		}
	}
	return out
}

func labelKey(labels []*dto.LabelPair) string {
	parts := make([]string, len(labels))
	for i, l := range labels {
		parts[i] = l.GetName() + "=" + l.GetValue()
	}
	return strings.Join(parts, ",")
}

func value(m *dto.Metric) float64 {
	if h := m.GetHistogram(); h != nil {
		return float64(h.GetSampleCount())
	}
	return m.GetCounter().GetValue()
}
