package dashboard_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/authwatch/authwatch/internal/dashboard"
)

func TestServesThePageAndItsAssets(t *testing.T) {
	srv := httptest.NewServer(dashboard.Handler())
	defer srv.Close()
	for _, tc := range []struct {
		path, contentType, contains string
	}{
		{"/", "text/html", "<title>authwatch dashboard</title>"},
		{"/dashboard/", "text/html", "var/dev-admin-token"},
		{"/dashboard/index.html", "text/html", "<title>"},
		{"/dashboard/app.js", "javascript", "/api/v1/alerts/stream"},
		{"/dashboard/style.css", "text/css", "prefers-color-scheme"},
	} {
		resp, body := get(t, srv.URL+tc.path, nil)
		if resp.StatusCode != http.StatusOK || !strings.Contains(resp.Header.Get("Content-Type"), tc.contentType) || !strings.Contains(body, tc.contains) {
			t.Errorf("GET %s = %d %q, body without %q", tc.path, resp.StatusCode, resp.Header.Get("Content-Type"), tc.contains)
		}
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "connect-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") {
			t.Errorf("GET %s: Content-Security-Policy %q", tc.path, csp)
		}
		// A browser revalidates with the ETag and gets a 304.
		etag := resp.Header.Get("ETag")
		if etag == "" {
			t.Errorf("GET %s: no ETag", tc.path)
			continue
		}
		if again, _ := get(t, srv.URL+tc.path, map[string]string{"If-None-Match": etag}); again.StatusCode != http.StatusNotModified {
			t.Errorf("GET %s with its ETag = %d, want 304", tc.path, again.StatusCode)
		}
	}
	for _, path := range []string{"/dashboard/nope.js", "/dashboard/../dashboard.go", "/index.html", "/api/v1/alerts"} {
		if resp, _ := get(t, srv.URL+path, nil); resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s = %d, want 404", path, resp.StatusCode)
		}
	}
	resp, err := http.Post(srv.URL+"/", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST / = %d, want 405", resp.StatusCode)
	}
}

// The machine the page runs on may have no internet, and the token must go
// to this server alone: every script, style and request is same-origin.
func TestThePageLoadsNothingFromElsewhere(t *testing.T) {
	srv := httptest.NewServer(dashboard.Handler())
	defer srv.Close()
	external := regexp.MustCompile(`(?i)(src|href)\s*=\s*["']?(https?:)?//|fetch\(\s*["'\x60]https?:|@import|url\(\s*["']?https?:`)
	for _, path := range []string{"/", "/dashboard/app.js", "/dashboard/style.css"} {
		_, body := get(t, srv.URL+path, nil)
		if m := external.FindString(body); m != "" {
			t.Errorf("%s refers to another origin: %q", path, m)
		}
	}
	_, page := get(t, srv.URL+"/", nil)
	for _, asset := range regexp.MustCompile(`(?:src|href)="(/dashboard/[^"]+)"`).FindAllStringSubmatch(page, -1) {
		if resp, _ := get(t, srv.URL+asset[1], nil); resp.StatusCode != http.StatusOK {
			t.Errorf("the page refers to %s, which answers %d", asset[1], resp.StatusCode)
		}
	}
}

func get(t *testing.T, url string, headers map[string]string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}
