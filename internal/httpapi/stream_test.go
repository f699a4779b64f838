package httpapi_test

import (
	"bufio"
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/authwatch/authwatch/internal/detect"
	"github.com/authwatch/authwatch/internal/testenv"
)

// sseStream is an open GET /api/v1/alerts/stream, read frame by frame.
type sseStream struct {
	t      *testing.T
	resp   *http.Response
	frames chan string // each frame's lines without the blank line; closed at EOF
	cancel context.CancelFunc
}

func (a *api) openStream(tok string) *sseStream {
	a.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, a.srv.URL+"/api/v1/alerts/stream", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		a.t.Fatal(err)
	}
	s := &sseStream{t: a.t, resp: resp, frames: make(chan string, 64), cancel: cancel}
	a.t.Cleanup(s.close)
	go func() {
		defer close(s.frames)
		r := bufio.NewReader(resp.Body)
		var frame strings.Builder
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			if line == "\n" {
				s.frames <- frame.String()
				frame.Reset()
				continue
			}
			frame.WriteString(line)
		}
	}()
	return s
}

func (s *sseStream) close() {
	s.cancel()
	s.resp.Body.Close()
}

// next returns the next frame, or false at the end of the stream.
func (s *sseStream) next() (string, bool) {
	s.t.Helper()
	select {
	case f, ok := <-s.frames:
		return f, ok
	case <-time.After(10 * time.Second):
		s.t.Fatal("no frame within 10 s")
		return "", false
	}
}

// waitEnd reads frames until the stream ends, failing after 10 s.
func (s *sseStream) waitEnd() {
	s.t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case _, ok := <-s.frames:
			if !ok {
				return
			}
		case <-deadline:
			s.t.Fatal("the stream did not end within 10 s")
		}
	}
}

// nextAlert skips comment frames and returns the next alert's data.
func (s *sseStream) nextAlert() string {
	s.t.Helper()
	for {
		f, ok := s.next()
		if !ok {
			s.t.Fatal("the stream ended before an alert came")
		}
		if strings.HasPrefix(f, ":") {
			continue
		}
		data, ok := strings.CutPrefix(f, "event: alert\ndata: ")
		if !ok || !strings.HasSuffix(data, "\n") || strings.Count(data, "\n") != 1 {
			s.t.Fatalf("frame %q is not one alert event", f)
		}
		return strings.TrimSuffix(data, "\n")
	}
}

// publishAlert publishes an alert as the detector does: JetStream, on its
// subject, with its id as Nats-Msg-Id.
func publishAlert(t *testing.T, js jetstream.JetStream, al detect.Alert) *jetstream.PubAck {
	t.Helper()
	doc, err := al.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	ack, err := js.Publish(context.Background(), detect.AlertSubject(al.TenantID, al.Rule), doc, jetstream.WithMsgID(al.ID))
	if err != nil {
		t.Fatal(err)
	}
	return ack
}

func TestAlertStream(t *testing.T) {
	a := newAPI(t, time.Now(), withNATS(), withKeepalive(50*time.Millisecond))
	baseSubs := a.nc.NumSubscriptions()
	admin := a.token("acme", "root", "admin.audit_log")

	acme := a.openStream(admin)
	other := a.openStream(a.token("other", "root", "admin.audit_log"))
	for name, s := range map[string]*sseStream{"acme": acme, "other": other} {
		if s.resp.StatusCode != http.StatusOK || s.resp.Header.Get("Content-Type") != "text/event-stream" ||
			s.resp.Header.Get("Cache-Control") != "no-cache" {
			t.Fatalf("%s stream: %d %v", name, s.resp.StatusCode, s.resp.Header)
		}
	}
	if f, _ := acme.next(); f != ": stream open\n" {
		t.Errorf("first frame %q", f)
	}

	// The detector runs on a connection of its own.
	pub, err := nats.Connect(a.nats.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	js, err := jetstream.New(pub)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Now().UTC()
	theirs := newAlert("other", "o1", detect.NewDevice, "alice", "1.1.1.1", at)
	first := newAlert("acme", "e1", detect.IPLockout, "", "198.51.100.9", at)
	second := newAlert("acme", "e2", detect.NewDevice, "alice", "203.0.113.7", at)
	second.Reasons = append(second.Reasons, "line one\nline two") // JSON escapes it: still one data line
	publishAlert(t, js, theirs)
	publishAlert(t, js, first)
	if ack := publishAlert(t, js, first); !ack.Duplicate { // a redelivered detector message
		t.Fatal("JetStream did not take the second publish as a duplicate")
	}
	publishAlert(t, js, second)

	// Exactly the tenant's alerts, each once, in order, as published.
	for _, want := range []detect.Alert{first, second} {
		doc, _ := want.Marshal()
		if got := acme.nextAlert(); got != string(doc) {
			t.Errorf("acme got %s\nwant %s", got, doc)
		}
	}
	if doc, _ := theirs.Marshal(); other.nextAlert() != string(doc) {
		t.Error("the other tenant's stream did not get its alert")
	}

	// Keepalive comments come while nothing happens.
	for {
		f, ok := acme.next()
		if !ok {
			t.Fatal("stream ended")
		}
		if f == ": keepalive\n" {
			break
		}
		if !strings.HasPrefix(f, ":") {
			t.Fatalf("unexpected frame %q", f)
		}
	}

	// The client hangs up: its subscription goes.
	acme.close()
	testenv.Eventually(t, 10*time.Second, "the closed stream's subscription to end", func() bool {
		return a.nc.NumSubscriptions() == baseSubs+1
	})
	// The server shuts down: open streams end cleanly.
	a.stop()
	other.waitEnd()
	testenv.Eventually(t, 10*time.Second, "every stream's subscription to end", func() bool {
		return a.nc.NumSubscriptions() == baseSubs
	})
}

func TestAlertStreamAccess(t *testing.T) {
	a := newAPI(t, time.Now(), withNATS())
	if code, _ := a.get(a.token("acme", "alice"), "/api/v1/alerts/stream", nil); code != http.StatusForbidden {
		t.Errorf("non-admin: %d, want 403", code)
	}
	if code, _ := a.get("", "/api/v1/alerts/stream", nil); code != http.StatusUnauthorized {
		t.Errorf("no token: %d, want 401", code)
	}
	// A tenant claim that would be a wildcard subject is refused.
	if code, _ := a.get(a.token("*", "root", "admin.audit_log"), "/api/v1/alerts/stream", nil); code != http.StatusUnauthorized {
		t.Errorf("tenant *: %d, want 401", code)
	}
}
