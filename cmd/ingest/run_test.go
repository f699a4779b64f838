package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/authwatch/authwatch/event"
	"github.com/authwatch/authwatch/internal/bus"
	"github.com/authwatch/authwatch/internal/geotest"
	"github.com/authwatch/authwatch/internal/store"
	"github.com/authwatch/authwatch/internal/testenv"
)

const chromeWindows = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"

// stack is one ingest service running through run(), as main runs it, on an
// embedded NATS and a fresh ClickHouse database.
type stack struct {
	nats  *testenv.NATS
	store *store.Store
	env   map[string]string
	addr  string
	nc    *nats.Conn
	js    jetstream.JetStream
}

func startStack(t *testing.T, extraEnv map[string]string) *stack {
	t.Helper()
	n := testenv.StartNATS(t)
	st, cfg := testenv.OpenStore(t)
	geo := filepath.Join(t.TempDir(), "city.mmdb")
	if err := geotest.Write(geo, geotest.Demo); err != nil {
		t.Fatal(err)
	}
	addr := testenv.FreeAddr(t)
	env := map[string]string{
		"NATS_URL":              n.URL(),
		"CLICKHOUSE_ADDR":       strings.Join(cfg.Addrs, ","),
		"CLICKHOUSE_DATABASE":   cfg.Database,
		"INGEST_ADDR":           addr,
		"GEOIP_CITY_DB":         geo,
		"INGEST_FLUSH_INTERVAL": "200ms",
	}
	for k, v := range extraEnv {
		env[k] = v
	}
	nc, err := nats.Connect(n.URL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, _ := jetstream.New(nc)
	return &stack{nats: n, store: st, env: env, addr: addr, nc: nc, js: js}
}

// run starts the service and returns a function that stops it and waits.
func (s *stack) run(t *testing.T) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- run(ctx, nil, func(k string) string { return s.env[k] }, io.Discard) }()
	testenv.Eventually(t, 30*time.Second, "ingest /readyz", func() bool { return s.ready() })
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-errc:
			if err != nil {
				t.Errorf("run: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("ingest did not stop within 30s of its context ending")
		}
	}
	t.Cleanup(stop)
	return stop
}

func (s *stack) ready() bool { return testenv.Ready(s.addr) }

func (s *stack) publish(t *testing.T, subject string, payload []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := s.js.Publish(ctx, subject, payload); err != nil {
		t.Fatalf("publish %s: %v", subject, err)
	}
}

func (s *stack) publishEvent(t *testing.T, ev *event.Event) {
	t.Helper()
	b, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	s.publish(t, event.Subject(ev.TenantID, ev.Kind), b)
}

func (s *stack) counts(t *testing.T, tenant string) store.EventCounts {
	t.Helper()
	c, err := s.store.CountEvents(context.Background(), tenant)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func loginEvent(tenant, id, user string, status event.Status, ip string, at time.Time) *event.Event {
	ev := &event.Event{ID: id, Kind: event.KindLogin, TenantID: tenant, UserID: user, OccurredAt: at,
		IPAddress: ip, UserAgent: chromeWindows, Status: status}
	if status == event.StatusFailed {
		ev.FailureReason = "wrong password"
	}
	return ev
}

func TestIngestStoresEnrichedEvents(t *testing.T) {
	s := startStack(t, nil)
	stop := s.run(t)
	at := time.Date(2026, 11, 20, 8, 30, 15, 250_000_000, time.UTC)

	login := loginEvent("acme", "ev-login-1", "u1", event.StatusSuccess, "81.2.69.160", at)
	login.User = &event.UserProfile{Name: "Ada Lovelace", Email: "ada@example.com"}
	login.Metadata = map[string]string{"app": "web"}
	s.publishEvent(t, login)
	s.publishEvent(t, &event.Event{ID: "ev-token-1", Kind: event.KindToken, TenantID: "acme", UserID: "u1",
		OccurredAt: at, IPAddress: "2001:db8:1::5", TokenID: "tok_1", TokenName: "ci", TokenType: event.TokenSecret,
		Environment: event.EnvLive, Action: event.TokenAuthenticated})
	unknown := loginEvent("acme", "ev-login-2", "", event.StatusFailed, "203.0.113.9", at)
	unknown.Identifier = "nobody@example.com"
	s.publishEvent(t, unknown)

	testenv.Eventually(t, 20*time.Second, "3 events in ClickHouse", func() bool {
		c := s.counts(t, "acme")
		return c.Logins == 2 && c.Tokens == 1
	})

	ctx := context.Background()
	var (
		device, browser, platform, country, city, userName, metadata string
		occurred                                                     time.Time
		ms                                                           uint16
	)
	row := s.store.Conn().QueryRow(ctx, `SELECT toString(device_type), browser, platform, country, city, user_name,
		metadata, occurred_at, occurred_ms FROM login_events WHERE id = 'ev-login-1'`)
	if err := row.Scan(&device, &browser, &platform, &country, &city, &userName, &metadata, &occurred, &ms); err != nil {
		t.Fatal(err)
	}
	if device != "desktop" || browser != "Chrome" || platform != "Windows" {
		t.Errorf("device = %s/%s/%s, want desktop/Chrome/Windows", device, browser, platform)
	}
	if country != "GB" || city != "London" {
		t.Errorf("place = %s/%s, want GB/London", country, city)
	}
	if !occurred.Equal(at.Truncate(time.Second)) || ms != 250 {
		t.Errorf("occurred = %s + %d ms, want %s + 250 ms", occurred.UTC(), ms, at.Truncate(time.Second))
	}
	if userName != "Ada Lovelace" || metadata != `{"app":"web"}` {
		t.Errorf("user_name %q metadata %q", userName, metadata)
	}
	// The profile is written after the events of its batch.
	testenv.Eventually(t, 10*time.Second, "the user's profile stored", func() bool {
		var email string
		err := s.store.Conn().QueryRow(ctx, `SELECT argMax(email, seen_at) FROM users WHERE tenant_id = 'acme' AND user_id = 'u1'`).Scan(&email)
		return err == nil && email == "ada@example.com"
	})
	var identifier, userID string
	if err := s.store.Conn().QueryRow(ctx, `SELECT identifier, user_id FROM login_events WHERE id = 'ev-login-2'`).Scan(&identifier, &userID); err != nil {
		t.Fatal(err)
	}
	if identifier != "nobody@example.com" || userID != "" {
		t.Errorf("unknown-account failure stored as identifier %q user %q", identifier, userID)
	}
	var tokCountry string
	if err := s.store.Conn().QueryRow(ctx, `SELECT country FROM token_events WHERE id = 'ev-token-1'`).Scan(&tokCountry); err != nil || tokCountry != "DE" {
		t.Errorf("token event country = %q, %v; want DE", tokCountry, err)
	}

	// Every message was acked: nothing pending on the consumer.
	testenv.Eventually(t, 10*time.Second, "consumer fully acked", func() bool {
		info, err := s.js.Consumer(ctx, bus.EventsStream, bus.ConsumerIngest)
		if err != nil {
			return false
		}
		i, err := info.Info(ctx)
		return err == nil && i.NumAckPending == 0 && i.NumPending == 0
	})
	stop()
}

func TestPoisonMessagesGoToDLQ(t *testing.T) {
	s := startStack(t, nil)
	s.run(t)
	at := time.Now().UTC()
	good := func(id string) []byte {
		b, _ := json.Marshal(loginEvent("acme", id, "u1", event.StatusSuccess, "81.2.69.1", at))
		return b
	}
	oversize := loginEvent("acme", "big", "u1", event.StatusSuccess, "81.2.69.1", at)
	oversize.FailureReason = strings.Repeat("x", event.MaxPayloadBytes)
	big, _ := json.Marshal(oversize)

	poison := []struct {
		subject string
		payload []byte
		reason  string
	}{
		{"auth.events.acme.login", []byte("not json at all"), "not_json"},
		{"auth.events.acme.login", []byte(`{"id":"x1","kind":"login","tenant_id":"acme"}`), "invalid"},
		{"auth.events.other.login", good("wrong-tenant"), "subject_mismatch"},
		{"auth.events.acme.token", good("wrong-kind"), "subject_mismatch"},
		{"auth.events.acme.login", big, "oversize"},
	}
	s.publish(t, "auth.events.acme.login", good("before"))
	for _, p := range poison {
		s.publish(t, p.subject, p.payload)
	}
	s.publish(t, "auth.events.acme.login", good("after"))

	testenv.Eventually(t, 20*time.Second, "the good events around the poison stored", func() bool {
		return s.counts(t, "acme").Logins == 2
	})
	ctx := context.Background()
	dlq, err := s.js.Stream(ctx, bus.DLQStream)
	if err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 10*time.Second, "5 dead letters", func() bool {
		i, err := dlq.Info(ctx)
		return err == nil && i.State.Msgs == uint64(len(poison))
	})
	for i, p := range poison {
		m, err := dlq.GetMsg(ctx, uint64(i+1))
		if err != nil {
			t.Fatal(err)
		}
		if m.Subject != "auth.dlq.ingest" {
			t.Errorf("dead letter %d on %s", i, m.Subject)
		}
		if string(m.Data) != string(p.payload) {
			t.Errorf("dead letter %d payload changed: %.60q", i, m.Data)
		}
		if got := m.Header.Get(bus.HeaderSubject); got != p.subject {
			t.Errorf("dead letter %d subject header %q, want %q", i, got, p.subject)
		}
		if m.Header.Get(bus.HeaderReason) == "" || m.Header.Get(bus.HeaderStreamSeq) != fmt.Sprint(i+2) {
			t.Errorf("dead letter %d headers %v", i, m.Header)
		}
	}
	// Counted once the unit holding them is acked, just after the dead letters are stored.
	wants := []string{
		`authwatch_events_rejected_total{consumer="ingest",reason="not_json"} 1`,
		`authwatch_events_rejected_total{consumer="ingest",reason="invalid"} 1`,
		`authwatch_events_rejected_total{consumer="ingest",reason="subject_mismatch"} 2`,
		`authwatch_events_rejected_total{consumer="ingest",reason="oversize"} 1`,
		`authwatch_events_ingested_total{kind="login"} 2`,
	}
	testenv.Eventually(t, 10*time.Second, "rejections and ingests counted in /metrics", func() bool {
		metrics := get(t, "http://"+s.addr+"/metrics")
		for _, want := range wants {
			if !strings.Contains(metrics, want) {
				return false
			}
		}
		return true
	})
}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// A gateway retrying past JetStream's duplicate window publishes the same
// event id again under another Nats-Msg-Id: two rows land, one is read.
func TestRepublishedEventCountsOnce(t *testing.T) {
	s := startStack(t, nil)
	s.run(t)
	ev := loginEvent("acme", "retried-1", "u1", event.StatusSuccess, "81.2.69.1", time.Now().UTC())
	b, _ := json.Marshal(ev)
	ctx := context.Background()
	for _, msgID := range []string{"first-try", "second-try"} {
		if _, err := s.js.Publish(ctx, event.Subject("acme", event.KindLogin), b, jetstream.WithMsgID(msgID)); err != nil {
			t.Fatal(err)
		}
	}
	testenv.Eventually(t, 20*time.Second, "both deliveries stored", func() bool {
		return s.counts(t, "acme").LoginRows == 2
	})
	if c := s.counts(t, "acme"); c.Logins != 1 {
		t.Errorf("distinct events = %d, want 1", c.Logins)
	}
	ids, err := s.store.EventIDs(ctx, "acme", "login_events")
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) != 1 || ids[0] != "retried-1" {
		t.Errorf("read path lists %v, want [retried-1]", ids)
	}
}
