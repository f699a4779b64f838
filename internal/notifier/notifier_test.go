package notifier_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/authwatch/authwatch/internal/bus"
	"github.com/authwatch/authwatch/internal/detect"
	"github.com/authwatch/authwatch/internal/notifier"
	"github.com/authwatch/authwatch/internal/notify"
	"github.com/authwatch/authwatch/internal/testenv"
)

func TestSender(t *testing.T) {
	var got *http.Request
	var body []byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, body = r, nil
		body, _ = io.ReadAll(r.Body)
		switch r.URL.Path {
		case "/ok":
			w.WriteHeader(http.StatusAccepted)
		case "/fail":
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = io.WriteString(w, "database\nis down")
		case "/moved":
			http.Redirect(w, r, "/ok", http.StatusFound)
		case "/slow":
			time.Sleep(2 * time.Second)
		}
	}))
	defer srv.Close()
	hook := notify.Webhook{ID: "wh_1", TenantID: "acme", Secret: "0123456789abcdef"}
	open := notifier.NewSender(true, 500*time.Millisecond)
	at := func(path string) notify.Webhook { h := hook; h.URL = srv.URL + path; return h }

	a := open.Send(context.Background(), at("/ok"), "d1", []byte(`{"id":"a1"}`))
	if !a.OK() || a.StatusCode != 202 || a.Err != "" {
		t.Fatalf("ok: %+v", a)
	}
	if got.Method != http.MethodPost || got.Header.Get("Content-Type") != "application/json" || got.Header.Get(notify.HeaderDelivery) != "d1" ||
		string(body) != `{"id":"a1"}` || notify.Verify(hook.Secret, got.Header.Get(notify.HeaderSignature), body, time.Now(), time.Minute) != nil {
		t.Errorf("request: %s %v %s", got.Method, got.Header, body)
	}
	for _, tc := range []struct {
		path, result, err string
		code              int
	}{
		{"/fail", "http_error", "HTTP 500: database is down", 500},
		{"/moved", "http_error", "HTTP 302 (redirects are not followed)", 302},
		{"/slow", "timeout", "no answer within 500ms", 0},
	} {
		a := open.Send(context.Background(), at(tc.path), "d1", []byte(`{}`))
		if a.OK() || a.Result != tc.result || a.StatusCode != tc.code || !strings.HasPrefix(a.Err, tc.err) {
			t.Errorf("%s: %+v", tc.path, a)
		}
	}
	// Connection refused: an error without the URL (it may be a secret).
	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := dead.URL + "/secret-token"
	dead.Close()
	if a := open.Send(context.Background(), notify.Webhook{URL: deadURL, Secret: "x"}, "d1", nil); a.Result != "error" || strings.Contains(a.Err, "secret-token") {
		t.Errorf("dead receiver: %+v", a)
	}
	// Private addresses refused on the address dialed, names included.
	strict := notifier.NewSender(false, time.Second)
	for _, u := range []string{srv.URL + "/ok", strings.Replace(srv.URL, "127.0.0.1", "localhost", 1) + "/ok"} {
		if a := strict.Send(context.Background(), notify.Webhook{URL: u, Secret: "x"}, "d1", nil); a.Result != "refused" ||
			!strings.Contains(a.Err, "loopback") || a.StatusCode != 0 {
			t.Errorf("strict sender to %s: %+v", u, a)
		}
	}
}

// The registry follows the bucket, Sync waits for what was written before
// it, and a webhook gets only alerts published after it was written.
func TestRegistry(t *testing.T) {
	n := testenv.StartNATS(t)
	nc, err := nats.Connect(n.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := bus.EnsureWebhooks(ctx, js, bus.DefaultTopology()); err != nil {
		t.Fatal(err)
	}
	hooks, err := notifier.OpenWebhooks(ctx, js, bus.WebhookBucket)
	if err != nil {
		t.Fatal(err)
	}
	before := time.Now().Add(-time.Hour)
	early := notify.Webhook{ID: "wh_early", TenantID: "acme", URL: "https://93.184.215.14/", Rules: []string{"*"}, MinSeverity: detect.Low, Format: notify.FormatJSON, Secret: "s"}
	if err := hooks.Create(ctx, early); err != nil {
		t.Fatal(err)
	}
	reg, err := notifier.OpenRegistry(ctx, js, bus.WebhookBucket, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	go reg.Run(ctx)
	for i := range 50 { // written and read at once, every time
		h := early
		h.ID, h.Rules = "wh_"+string(rune('a'+i%26))+string(rune('a'+i/26)), []string{"ip_lockout"}
		if err := hooks.Create(ctx, h); err != nil {
			t.Fatal(err)
		}
		sctx, scancel := context.WithTimeout(ctx, 5*time.Second)
		if err := reg.Sync(sctx); err != nil {
			t.Fatal(err)
		}
		scancel()
		if _, ok := reg.Get("acme", h.ID); !ok {
			t.Fatalf("webhook %d not there right after Sync", i)
		}
	}
	now := time.Now().Add(time.Second)
	if got := reg.ForAlert("acme", detect.IPLockout, detect.High, now); len(got) != 51 {
		t.Errorf("ip_lockout goes to %d webhooks, want 51", len(got))
	}
	if got := reg.ForAlert("acme", detect.NewDevice, detect.Low, now); len(got) != 1 || got[0].ID != "wh_early" {
		t.Errorf("new_device goes to %v", got)
	}
	if got := reg.ForAlert("acme", detect.IPLockout, detect.High, before); len(got) != 0 {
		t.Errorf("an alert published before the webhooks goes to %d", len(got))
	}
	if got := reg.ForAlert("globex", detect.IPLockout, detect.High, now); len(got) != 0 {
		t.Errorf("another tenant's alert goes to %d", len(got))
	}
	if err := hooks.Delete(ctx, "acme", "wh_early"); err != nil {
		t.Fatal(err)
	}
	if err := reg.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if _, ok := reg.Get("acme", "wh_early"); ok {
		t.Error("a deleted webhook is still there after Sync")
	}
	if err := hooks.Delete(ctx, "acme", "wh_early"); err != notifier.ErrNotFound {
		t.Errorf("deleting twice: %v", err)
	}
	list, err := hooks.List(ctx, "acme")
	if err != nil || len(list) != 50 {
		t.Errorf("List: %d, %v", len(list), err)
	}
}
