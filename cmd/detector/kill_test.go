package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"syscall"
	"testing"
	"time"

	"github.com/authwatch/authwatch/event"
	"github.com/authwatch/authwatch/internal/bus"
	"github.com/authwatch/authwatch/internal/detect"
	"github.com/authwatch/authwatch/internal/testenv"
)

// The detector process is killed with SIGKILL while it works through a
// backlog, several times. Afterwards every alert an uninterrupted run
// raises is there once: none lost (a state written before its alerts went
// out answers the redelivery with the same verdicts), none twice, no known
// device flagged again, no failure toward a lockout forgotten.
func TestSIGKILLLosesNoAlertAndRepeatsNone(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills a real process")
	}
	s := startStack(t, map[string]string{"DETECTOR_BATCH_SIZE": "50"})
	bin := filepath.Join(t.TempDir(), "detector")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	addr := testenv.FreeAddr(t)
	start := func(waitReady bool) *exec.Cmd {
		cmd := exec.Command(bin)
		cmd.Env = append(os.Environ(), "DETECTOR_ADDR="+addr)
		for k, v := range s.env {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		if waitReady {
			testenv.Eventually(t, 30*time.Second, "detector process ready", func() bool { return testenv.Ready(addr) })
		}
		return cmd
	}

	// 2,000 users log in 4 times from their device, then once from another;
	// 100 IPs fail 5 times each: a backlog of 10,500 events, interleaved so
	// kills land mid-story. Batches of 50 make every kill land mid-batch
	// somewhere: between state writes, alerts and acks.
	now := time.Now().UTC().Truncate(time.Second)
	var want []string
	var events []*event.Event
	for step := range 5 {
		for u := range 2000 {
			ua := chromeWindows
			if step == 4 {
				ua = safariMac
			}
			ev := &event.Event{ID: fmt.Sprintf("k-u%d-%d", u, step), Kind: event.KindLogin, TenantID: "acme", UserID: fmt.Sprintf("user%04d", u),
				OccurredAt: now.Add(-time.Hour + time.Duration(step)*time.Minute), IPAddress: london, UserAgent: ua, Status: event.StatusSuccess}
			events = append(events, ev)
			if step == 4 {
				want = append(want, "new_device "+ev.ID)
			}
		}
		for ip := range 100 {
			ev := &event.Event{ID: fmt.Sprintf("k-ip%d-%d", ip, step), Kind: event.KindLogin, TenantID: "acme", UserID: "someone",
				OccurredAt: now.Add(-10*time.Minute + time.Duration(step)*time.Second), IPAddress: fmt.Sprintf("198.51.%d.%d", 100+ip/200, 10+ip%200),
				UserAgent: firefoxLinux, Status: event.StatusFailed}
			events = append(events, ev)
			if step == 4 {
				want = append(want, "ip_lockout "+ev.ID)
			}
		}
	}
	s.publishAll(t, events)
	if _, err := bus.EnsureConsumer(context.Background(), s.js, bus.ConsumerDetector, bus.EventsStream); err != nil {
		t.Fatal(err)
	}
	sort.Strings(want)

	rng := rand.New(rand.NewPCG(3, 4))
	midway := 0
	for range 4 {
		before := s.undelivered(t)
		cmd := start(false)
		// Kill once it is into the backlog: some events taken, more to go,
		// a little further each time. (What a killed instance held comes
		// back after the consumer's ack wait.)
		step := uint64(200 + rng.IntN(1000))
		testenv.Eventually(t, 30*time.Second, "detector progressing", func() bool {
			left := s.undelivered(t)
			return left == 0 || before-left >= step
		})
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		_ = cmd.Wait()
		if left := s.pending(t); left > 0 {
			midway++
		}
	}
	if midway == 0 {
		t.Fatal("every kill came after the backlog was done: the test proves nothing; give it more events")
	}
	cmd := start(true)
	defer func() { _ = cmd.Process.Signal(syscall.SIGTERM); _ = cmd.Wait() }()
	s.drained(t)
	// What a killed instance held comes back after the ack wait, behind
	// events the next instance has handled meanwhile, so an alert may name
	// another event of its user or IP than an uninterrupted run would. What
	// must hold: every user's new device flagged once, every IP locked
	// once, nothing else, nothing twice.
	got := s.streamAlerts(t)
	perSubject := map[string]int{}
	for _, a := range got {
		switch a.Rule {
		case detect.NewDevice:
			perSubject["user "+*a.UserID]++
		case detect.IPLockout:
			perSubject["ip "+a.IPAddress]++
		default:
			t.Errorf("unexpected alert %s on %s", a.Rule, a.EventID)
		}
	}
	for subject, n := range perSubject {
		if n != 1 {
			t.Errorf("%s: %d alerts, want 1", subject, n)
		}
	}
	if len(got) != len(want) || len(perSubject) != len(want) {
		t.Errorf("after 4 kills: %d alerts on %d users and IPs, want %d", len(got), len(perSubject), len(want))
	}
}
