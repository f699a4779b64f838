package main

import (
	"encoding/json"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/authwatch/authwatch/internal/detect"
	"github.com/authwatch/authwatch/internal/notify"
	"github.com/authwatch/authwatch/internal/testenv"
)

// The notifier process is killed with SIGKILL while it delivers a backlog,
// several times. Afterwards every alert has reached every webhook that
// wants it, each logged as delivered; an attempt the kill interrupted is
// made again, with the same Authwatch-Delivery, so receivers can dedup.
func TestSIGKILLLosesNoAlert(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills a real process")
	}
	s := startStack(t, map[string]string{"NOTIFIER_WEBHOOK_CONCURRENCY": "4"})
	bin := filepath.Join(t.TempDir(), "notifier")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	addr := testenv.FreeAddr(t)
	start := func(waitReady bool) *exec.Cmd {
		cmd := exec.Command(bin)
		cmd.Env = append(os.Environ(), "NOTIFIER_ADDR="+addr)
		for k, v := range s.env {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		if waitReady {
			testenv.Eventually(t, 30*time.Second, "notifier process ready", func() bool { return testenv.Ready(addr) })
		}
		return cmd
	}

	// Receivers a little slow, so that kills land with attempts in flight.
	slow := func(int, *http.Request) int { time.Sleep(10 * time.Millisecond); return http.StatusOK }
	jsonAll, slackAll, highOnly := newReceiver(t, slow), newReceiver(t, slow), newReceiver(t, slow)
	hooks := map[*receiver]notify.Webhook{
		jsonAll:  s.addWebhook(t, "acme", jsonAll.srv.URL, notify.FormatJSON, detect.Low),
		slackAll: s.addWebhook(t, "acme", slackAll.srv.URL, notify.FormatSlack, detect.Low),
		highOnly: s.addWebhook(t, "acme", highOnly.srv.URL, notify.FormatJSON, detect.High),
	}
	var alerts []detect.Alert
	for i := range 400 {
		rule := detect.NewDevice
		if i%2 == 0 {
			rule = detect.IPLockout
		}
		alerts = append(alerts, alert("acme", rule, "user"))
	}
	s.publish(t, alerts...)
	want := map[*receiver]map[string]string{} // delivery id → alert id
	for rc, h := range hooks {
		want[rc] = map[string]string{}
		for _, a := range alerts {
			if h.Wants(a.Rule, a.Severity) {
				want[rc][notify.DeliveryID(h.ID, a.ID)] = a.ID
			}
		}
	}
	total := func() int { return jsonAll.count() + slackAll.count() + highOnly.count() }
	wantTotal := len(want[jsonAll]) + len(want[slackAll]) + len(want[highOnly])

	rng := rand.New(rand.NewPCG(7, 8))
	midway := 0
	for range 3 {
		before := total()
		cmd := start(false)
		step := 60 + rng.IntN(120)
		testenv.Eventually(t, 30*time.Second, "notifier progressing", func() bool { return total()-before >= step || s.idle(t) })
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		_ = cmd.Wait()
		if total() < wantTotal {
			midway++
		}
	}
	if midway == 0 {
		t.Fatal("every kill came after the backlog was done: the test proves nothing; give it more alerts")
	}
	cmd := start(true)
	defer func() { _ = cmd.Process.Signal(syscall.SIGTERM); _ = cmd.Wait() }()
	testenv.Eventually(t, 120*time.Second, "every delivery made", func() bool { return s.idle(t) })

	duplicates := 0
	for rc, h := range hooks {
		seen := map[string]int{}
		for _, r := range rc.requests() {
			alertID, ok := want[rc][r.delivery]
			if !ok {
				t.Fatalf("%s got delivery %s, which is no alert it wants", h.Format, r.delivery)
			}
			if h.Format == notify.FormatJSON {
				var a detect.Alert
				if err := json.Unmarshal(r.body, &a); err != nil || a.ID != alertID {
					t.Fatalf("delivery %s carried alert %s, want %s", r.delivery, a.ID, alertID)
				}
			}
			if err := notify.Verify(h.Secret, r.signature, r.body, r.at, 2*time.Second); err != nil {
				t.Fatalf("delivery %s: %v", r.delivery, err)
			}
			seen[r.delivery]++
		}
		for id := range want[rc] {
			if seen[id] == 0 {
				t.Errorf("%s webhook never got delivery %s (alert %s): lost", h.Format, id, want[rc][id])
			}
			if seen[id] > 1 {
				duplicates += seen[id] - 1
			}
		}
		delivered := map[string]bool{}
		rows := s.deliveries(t, h.ID)
		for _, r := range rows {
			if r.Outcome == "delivered" {
				delivered[r.DeliveryID] = true
			}
		}
		if len(delivered) != len(want[rc]) {
			t.Errorf("%s webhook: %d deliveries logged as delivered, want %d", h.Format, len(delivered), len(want[rc]))
		}
	}
	t.Logf("%d deliveries to 3 webhooks across %d kills mid-way; %d made twice (same delivery id)", wantTotal, midway, duplicates)
}
