package main

import (
	"strings"

	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/authwatch/authwatch/internal/detect"
)

// Benign traffic from cmd/loadgen (no attack mix: users on their own
// devices, from their own addresses, in their own waking hours, with the
// odd typo, a few logins a day in their routine hours) raises no alert
// once the detector has learned each user: the false alarms peers are
// hated for. A week of history is replayed in event time; the first three
// days are the learning period, when a user's second and third device are
// still news to a detector that has just started.
func TestBenignTrafficRaisesNoAlert(t *testing.T) {
	if testing.Short() {
		t.Skip("runs cmd/loadgen")
	}
	s := startStack(t, nil)
	s.run(t)
	// A fixed seed and a span ending at midnight make the same events every
	// run (only the date moves), so the outcome does not depend on the hour.
	until := time.Now().UTC().Truncate(24 * time.Hour)
	out, err := exec.Command("go", "run", filepath.Join("..", "loadgen"), "-nats", s.env["NATS_URL"], "-n", "80000", "-backfill", "168h",
		"-until", until.Format(time.RFC3339), "-tenants", "2", "-users", "100", "-tokens", "20", "-seed", "42", "-quiet").CombinedOutput()
	if err != nil {
		t.Fatalf("loadgen: %v\n%s", err, out)
	}
	s.drained(t)
	learned := until.Add(-4 * 24 * time.Hour)
	late := map[detect.Rule]int{}
	var examples []string
	for _, a := range s.streamAlerts(t) {
		if a.OccurredAt.After(learned) {
			late[a.Rule]++
			if late[a.Rule] <= 3 {
				examples = append(examples, string(a.Rule)+" at "+a.OccurredAt.Format(time.RFC3339)+": "+strings.Join(a.Reasons, "; "))
			}
		}
	}
	if len(late) > 0 {
		t.Errorf("alerts on benign traffic after the learning days: %v\n%s", late, strings.Join(examples, "\n"))
	}
	t.Logf("%d alerts in all, all in the learning days", len(s.streamAlerts(t)))
}
