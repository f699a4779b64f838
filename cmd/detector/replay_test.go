package main

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/authwatch/authwatch/event"
	"github.com/authwatch/authwatch/internal/enrich"
	"github.com/authwatch/authwatch/internal/geotest"
	"github.com/authwatch/authwatch/internal/store"
	"github.com/authwatch/authwatch/internal/testenv"
)

// The backtest runs the rules on stored history and reports what would
// fire under the settings given, without NATS at all (nothing published,
// no live state touched).
func TestReplayReportsWhatWouldFire(t *testing.T) {
	st, cfg := testenv.OpenStore(t)
	geo := filepath.Join(t.TempDir(), "city.mmdb")
	if err := geotest.Write(geo, geotest.Demo); err != nil {
		t.Fatal(err)
	}
	db, err := enrich.OpenGeoDB(geo)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	day := time.Date(2026, 10, 5, 0, 0, 0, 0, time.UTC)
	var events []*event.Event
	add := func(user string, status event.Status, ip, ua string, at time.Time) {
		idSeq++
		events = append(events, &event.Event{ID: fmt.Sprintf("replay-%d", idSeq),
			Kind: event.KindLogin, TenantID: "acme", UserID: user, OccurredAt: at, IPAddress: ip, UserAgent: ua, Status: status})
	}
	add("alice", event.StatusSuccess, london, chromeWindows, day.Add(9*time.Hour))
	add("alice", event.StatusSuccess, london, safariMac, day.Add(10*time.Hour)) // new device
	for i := range 5 {
		add("bob", event.StatusFailed, tokyo, firefoxLinux, day.Add(11*time.Hour+time.Duration(i)*time.Minute))
	}
	add("carol", event.StatusSuccess, london, chromeWindows, day.AddDate(0, 0, 3)) // outside the replayed days
	b := store.NewBatch(len(events))
	enr := enrich.New(db)
	for _, ev := range events {
		b.Add(ev, enr.Enrich(ev.UserAgent, ev.IPAddress), time.Now())
	}
	if err := st.Insert(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{
		"CLICKHOUSE_ADDR": strings.Join(cfg.Addrs, ","), "CLICKHOUSE_DATABASE": cfg.Database, "GEOIP_CITY_DB": geo,
		"NATS_URL": "nats://127.0.0.1:1", // nothing there: replay must not need it
	}
	replayOut := func(args ...string) string {
		t.Helper()
		var out, errOut bytes.Buffer
		if err := run(context.Background(), append([]string{"replay"}, args...), func(k string) string { return env[k] }, &out, &errOut); err != nil {
			t.Fatalf("replay %v: %v\n%s", args, err, errOut.String())
		}
		return out.String()
	}
	row := func(out, rule string) string {
		m := regexp.MustCompile(`(?m)^\s*` + rule + `\s+(\S+)`).FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("no row for %s in\n%s", rule, out)
		}
		return m[1]
	}

	out := replayOut("-from", "2026-10-05", "-to", "2026-10-06")
	if !strings.Contains(out, "replayed 7 stored events") || row(out, "new_device") != "1" || row(out, "ip_lockout") != "1" || row(out, "new_country") != "0" {
		t.Errorf("default settings:\n%s", out)
	}
	if !strings.Contains(out, "acme/alice") || !strings.Contains(out, "Safari on macOS (desktop)") {
		t.Errorf("no example naming alice's new device:\n%s", out)
	}
	out = replayOut("-from", "2026-10-05", "-to", "2026-10-05", "-set", "DETECT_LOCKOUT_FAILURES=6", "-set", "DETECT_DISABLE=new_device")
	if row(out, "ip_lockout") != "0" || row(out, "new_device") != "off" {
		t.Errorf("stricter settings:\n%s", out)
	}
	var errOut bytes.Buffer
	if err := run(context.Background(), []string{"replay", "-from", "2026-10-06", "-to", "2026-10-05"}, func(k string) string { return env[k] }, &bytes.Buffer{}, &errOut); err == nil {
		t.Error("replay with -to before -from: want an error")
	}
}
