package store_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/authwatch/authwatch/event"
	"github.com/authwatch/authwatch/internal/enrich"
	"github.com/authwatch/authwatch/internal/store"
	"github.com/authwatch/authwatch/internal/testenv"
)

// An install given user_profiles without the copy of the profiles users
// already held (a cluster whose operator has not run 0008's INSERTs yet)
// still shows every user's latest profile: reads stay on users until
// rollup_state says the copy is there. After the copy they show the same
// profiles, and newer ones as they come.
func TestProfilesBeforeAndAfterTheCopy(t *testing.T) {
	s, cfg := testenv.OpenStore(t)
	ctx := context.Background()
	now := time.Now().UTC()
	login := func(name string, at time.Time) {
		t.Helper()
		b := store.NewBatch(1)
		b.Add(&event.Event{ID: "ev-" + name, Kind: event.KindLogin, TenantID: "acme", UserID: "alice", OccurredAt: at,
			IPAddress: "81.2.69.1", Status: event.StatusSuccess, User: &event.UserProfile{Name: name, Email: "alice@example.com"}},
			enrich.Result{}, now)
		if err := s.Insert(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	exec := func(q string) {
		t.Helper()
		if err := s.Conn().Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	profile := func(when string) string {
		t.Helper()
		// A store opened afresh: nothing cached from before.
		fresh, err := store.Open(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer fresh.Close()
		got, err := fresh.Profiles(ctx, "acme", []string{"alice", "nobody"})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 {
			t.Errorf("%s: profiles %v, want alice's alone", when, got)
		}
		return got["alice"].Name
	}

	login("Alice", now.Add(-2*time.Hour))
	if got := profile("migrated"); got != "Alice" {
		t.Fatalf("migrated: alice is %q, want Alice", got)
	}
	// The cluster before its copy: user_profiles holds none of the rows
	// users held, and no state says it does.
	exec("TRUNCATE TABLE user_profiles")
	exec("ALTER TABLE rollup_state DELETE WHERE name = 'user_profiles'")
	testenv.Eventually(t, 30*time.Second, "rollup_state deletion applied", func() bool {
		var pending uint64
		err := s.Conn().QueryRow(ctx, "SELECT count() FROM system.mutations WHERE database = ? AND table = 'rollup_state' AND is_done = 0",
			cfg.Database).Scan(&pending)
		return err == nil && pending == 0
	})
	if got := profile("before the copy"); got != "Alice" {
		t.Errorf("before the copy: alice is %q, want Alice", got)
	}

	// The operator runs 0008's INSERTs.
	migs, err := store.Migrations()
	if err != nil {
		t.Fatal(err)
	}
	ran := 0
	for _, m := range migs {
		if m.Name != "0008_user_profiles.sql" {
			continue
		}
		for _, stmt := range m.Statements {
			if strings.HasPrefix(stmt, "INSERT") {
				exec(stmt)
				ran++
			}
		}
	}
	if ran != 2 {
		t.Fatalf("0008 has %d INSERTs, want the copy and the state", ran)
	}
	if got := profile("after the copy"); got != "Alice" {
		t.Errorf("after the copy: alice is %q, want Alice", got)
	}
	login("Alice B", now.Add(-time.Hour))
	if got := profile("after a newer login"); got != "Alice B" {
		t.Errorf("after a newer login: alice is %q, want Alice B", got)
	}
}
