package detector

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/authwatch/authwatch/internal/bus"
	"github.com/authwatch/authwatch/internal/testenv"
)

// load reads states in batches of many keys per request; where a server
// cannot, one request per key. Both must see the same thing: the latest
// value and revision of each key, and an empty state at revision 0 for a
// key never written (so a write creates it) or at its marker's revision
// for a deleted one.
func TestLoadReadsWhatKVHolds(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	js := testenv.StartNATS(t).JetStream(t)
	kv, err := bus.EnsureStateBucket(ctx, js, bus.DefaultTopology(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	// More keys than one batched request takes.
	var keys []string
	want := map[string]string{}
	revs := map[string]uint64{}
	for i := range multiGetChunk + 100 {
		k := userKey("t1", fmt.Sprintf("user-%d", i))
		keys = append(keys, k)
		switch i % 4 {
		case 0: // never written
		case 1, 2:
			v := fmt.Sprintf(`{"n":%d}`, i)
			if i%4 == 2 {
				if _, err := kv.Put(ctx, k, []byte(`{"old":true}`)); err != nil {
					t.Fatal(err)
				}
			}
			rev, err := kv.Put(ctx, k, []byte(v))
			if err != nil {
				t.Fatal(err)
			}
			want[k], revs[k] = v, rev
		case 3: // written, then deleted
			if _, err := kv.Put(ctx, k, []byte(`{"gone":true}`)); err != nil {
				t.Fatal(err)
			}
			if err := kv.Delete(ctx, k); err != nil {
				t.Fatal(err)
			}
			st, err := js.Stream(ctx, "KV_"+bus.StateBucket)
			if err != nil {
				t.Fatal(err)
			}
			e, err := st.GetLastMsgForSubject(ctx, subjectOf(k))
			if err != nil {
				t.Fatal(err)
			}
			revs[k] = e.Sequence
		}
	}
	keys = append(keys, ipKey("t1", "10.0.0.1"), tokenKey("t1", "tok_1"))

	for _, multi := range []bool{true, false} {
		t.Run(fmt.Sprintf("batched=%v", multi), func(t *testing.T) {
			s, err := OpenStates(ctx, js, 10_000, slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			s.noMulti = !multi
			if err := s.load(ctx, keys); err != nil {
				t.Fatal(err)
			}
			if s.noMulti == multi {
				t.Fatalf("batched reads in use: %v, want %v", !s.noMulti, multi)
			}
			for _, k := range keys {
				e := s.cache[k]
				if e == nil {
					t.Fatalf("%s not loaded", k)
				}
				if e.rev != revs[k] || string(e.data) != want[k] || e.kind != kindOf(k) {
					t.Errorf("%s: rev %d data %q kind %s; want rev %d data %q kind %s",
						k, e.rev, e.data, e.kind, revs[k], want[k], kindOf(k))
				}
			}
		})
	}
}

// After the connection to NATS was lost, cached states are not trusted: a
// single server that was killed can come back without its last writes.
func TestStatesForgetTheCacheAfterAReconnect(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	srv := testenv.StartNATS(t)
	js := srv.JetStream(t)
	if _, err := bus.EnsureStateBucket(ctx, js, bus.DefaultTopology(), time.Hour); err != nil {
		t.Fatal(err)
	}
	s, err := OpenStates(ctx, js, 100, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	k := userKey("t1", "alice")
	if err := s.load(ctx, []string{k}); err != nil {
		t.Fatal(err)
	}
	s.checkConnection()
	if s.cache[k] == nil {
		t.Fatal("the cache was emptied with no reconnect")
	}

	reconnected := make(chan struct{}, 1)
	js.Conn().SetReconnectHandler(func(*nats.Conn) { reconnected <- struct{}{} })
	srv.Stop()
	srv.Start()
	select {
	case <-reconnected:
	case <-ctx.Done():
		t.Fatal("no reconnect")
	}
	s.checkConnection()
	if len(s.cache) != 0 {
		t.Fatalf("%d states still cached after a reconnect", len(s.cache))
	}
}

// A write that fails for any reason other than a lost compare-and-set is
// written again by the next call: the batch's retry must not find the
// state gone from the cache and skip it, acknowledging events whose update
// was never stored.
func TestFailedStateWriteIsWrittenAgain(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	js := testenv.StartNATS(t).JetStream(t)
	if _, err := bus.EnsureStateBucket(ctx, js, bus.DefaultTopology(), time.Hour); err != nil {
		t.Fatal(err)
	}
	s, err := OpenStates(ctx, js, 100, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	k := userKey("t1", "alice")
	if err := s.load(ctx, []string{k}); err != nil {
		t.Fatal(err)
	}
	e := s.open(k)
	e.user.Successes = 7

	// The stream refuses messages this big: a publish error, not a conflict.
	setMaxMsgSize := func(n int32) {
		t.Helper()
		str, err := js.Stream(ctx, "KV_"+bus.StateBucket)
		if err != nil {
			t.Fatal(err)
		}
		cfg := str.CachedInfo().Config
		cfg.MaxMsgSize = n
		if _, err := js.UpdateStream(ctx, cfg); err != nil {
			t.Fatal(err)
		}
	}
	setMaxMsgSize(8)
	for attempt := range 2 {
		conflicts, err := s.write(ctx, []string{k})
		if err == nil || len(conflicts) != 0 {
			t.Fatalf("write %d with the stream refusing it: conflicts %v, err %v; want an error", attempt+1, conflicts, err)
		}
	}
	setMaxMsgSize(-1)
	if conflicts, err := s.write(ctx, []string{k}); err != nil || len(conflicts) != 0 {
		t.Fatalf("write once the stream takes it: conflicts %v, err %v", conflicts, err)
	}
	kv, err := js.KeyValue(ctx, bus.StateBucket)
	if err != nil {
		t.Fatal(err)
	}
	got, err := kv.Get(ctx, k)
	if err != nil {
		t.Fatalf("the state was never stored: %v", err)
	}
	if !strings.Contains(string(got.Value()), `"n":7`) {
		t.Errorf("stored state %s, want the batch's update (7 successes)", got.Value())
	}
}
