package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/authwatch/authwatch/event"
	"github.com/authwatch/authwatch/internal/testenv"
)

// The ingest process is killed with SIGKILL, mid-batch, several times while
// events flow; afterwards every published event is stored, and the API's
// read path sees each id exactly once although batches were re-inserted.
func TestSIGKILLMidBatchCountsEachEventOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills a real process")
	}
	s := startStack(t, map[string]string{"INGEST_BATCH_SIZE": "2000"})
	bin := filepath.Join(t.TempDir(), "ingest")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	start := func() *exec.Cmd {
		cmd := exec.Command(bin)
		cmd.Env = os.Environ()
		for k, v := range s.env {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		testenv.Eventually(t, 30*time.Second, "ingest process ready", s.ready)
		return cmd
	}

	const total = 30_000
	published := make(chan error, 1)
	go func() { published <- publishMany(s.nc, total) }()

	rng := rand.New(rand.NewPCG(1, 2))
	kills := 0
	for kills < 5 {
		cmd := start()
		time.Sleep(time.Duration(100+rng.IntN(600)) * time.Millisecond) // let batches get under way
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		_ = cmd.Wait()
		kills++
	}
	cmd := start()
	defer func() { _ = cmd.Process.Signal(syscall.SIGTERM); _ = cmd.Wait() }()
	if err := <-published; err != nil {
		t.Fatal(err)
	}

	testenv.Eventually(t, 90*time.Second, "all events stored", func() bool {
		return s.counts(t, "acme").Logins == total
	})
	ids, err := s.store.EventIDs(context.Background(), "acme", "login_events")
	if err != nil {
		t.Fatal(err)
	}
	seen := make(map[string]int, len(ids))
	for _, id := range ids {
		seen[id]++
	}
	for i := range total {
		id := fmt.Sprintf("kill-%06d", i)
		if seen[id] != 1 {
			t.Fatalf("event %s read %d times, want exactly once", id, seen[id])
		}
	}
	if len(ids) != total {
		t.Fatalf("read %d ids, want %d", len(ids), total)
	}
	c := s.counts(t, "acme")
	t.Logf("%d kills: %d raw rows for %d events (%d redelivered copies collapsed at read)", kills, c.LoginRows, c.Logins, c.LoginRows-c.Logins)
}

func publishMany(nc *nats.Conn, n int) error {
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(512))
	if err != nil {
		return err
	}
	at := time.Now().UTC()
	for i := range n {
		ev := loginEvent("acme", fmt.Sprintf("kill-%06d", i), fmt.Sprintf("user-%d", i%300), event.StatusSuccess, "81.2.69.1", at)
		b, _ := json.Marshal(ev)
		if _, err := js.PublishAsync(event.Subject("acme", event.KindLogin), b, jetstream.WithMsgID(ev.ID), jetstream.WithStallWait(10*time.Second)); err != nil {
			return err
		}
		if i%1000 == 999 {
			time.Sleep(50 * time.Millisecond) // a steady flow over the kills rather than one burst
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	select {
	case <-js.PublishAsyncComplete():
		return nil
	case <-ctx.Done():
		return fmt.Errorf("publishing: %d acks missing", js.PublishAsyncPending())
	}
}
