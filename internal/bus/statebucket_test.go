package bus_test

import (
	"context"
	"maps"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/authwatch/authwatch/internal/bus"
	"github.com/authwatch/authwatch/internal/testenv"
)

func TestEnsureStateBucket(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	js := testenv.StartNATS(t).JetStream(t)
	topo := bus.DefaultTopology()

	kv, err := bus.EnsureStateBucket(ctx, js, topo, 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	// It is a KV bucket like any other: history 1, compare-and-set, TTL.
	rev, err := kv.Create(ctx, "u.t1.a", []byte(`{"v":1}`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Update(ctx, "u.t1.a", []byte(`{"v":2}`), rev+100); err == nil {
		t.Fatal("an update at a wrong revision was accepted")
	}
	if _, err := kv.Update(ctx, "u.t1.a", []byte(`{"v":2}`), rev); err != nil {
		t.Fatal(err)
	}
	st, err := kv.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.History() != 1 || st.TTL() != 24*time.Hour || st.Values() != 1 {
		t.Errorf("history %d, ttl %s, values %d; want 1, 24h, 1", st.History(), st.TTL(), st.Values())
	}
	stream := stateStream(ctx, t, js)
	if stream.PersistMode != jetstream.AsyncPersistMode {
		t.Errorf("single-server bucket created in persist mode %s, want async", stream.PersistMode)
	}

	// Declared again (a restart, a second detector, a new TTL): same mode,
	// values kept, the new TTL taken.
	kv, err = bus.EnsureStateBucket(ctx, js, topo, 48*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if e, err := kv.Get(ctx, "u.t1.a"); err != nil || string(e.Value()) != `{"v":2}` {
		t.Fatalf("value after redeclaring: %v, %v", e, err)
	}
	if got := stateStream(ctx, t, js); got.PersistMode != jetstream.AsyncPersistMode || got.MaxAge != 48*time.Hour {
		t.Errorf("after redeclaring: mode %s, max age %s", got.PersistMode, got.MaxAge)
	}
}

func TestEnsureStateBucketKeepsAnOlderBucketsMode(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	js := testenv.StartNATS(t).JetStream(t)
	topo := bus.DefaultTopology()
	// A bucket made by an earlier release, in the default mode.
	old, err := js.CreateKeyValue(ctx, topo.StateBucketConfig(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := old.Put(ctx, "ip.t1.10_0_0_1", []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	kv, err := bus.EnsureStateBucket(ctx, js, topo, 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Get(ctx, "ip.t1.10_0_0_1"); err != nil {
		t.Fatal(err)
	}
	if got := stateStream(ctx, t, js); got.PersistMode != jetstream.DefaultPersistMode {
		t.Errorf("an existing bucket's mode changed to %s", got.PersistMode)
	}
}

// The bucket's stream is declared by hand (to add the persist mode); it
// must stay what nats.go itself would declare for the bucket's config.
func TestEnsureStateBucketDeclaresWhatNatsGoWould(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	topo := bus.DefaultTopology()
	for _, ttl := range []time.Duration{time.Minute, 97 * 24 * time.Hour} {
		byNatsGo := testenv.StartNATS(t).JetStream(t)
		if _, err := byNatsGo.CreateKeyValue(ctx, topo.StateBucketConfig(ttl)); err != nil {
			t.Fatal(err)
		}
		byUs := testenv.StartNATS(t).JetStream(t)
		if _, err := bus.EnsureStateBucket(ctx, byUs, topo, ttl); err != nil {
			t.Fatal(err)
		}
		want, got := stateStream(ctx, t, byNatsGo), stateStream(ctx, t, byUs)
		got.PersistMode = want.PersistMode
		// The server notes in the metadata the API level each needs (the
		// persist mode needs a newer one); those are its notes, not ours.
		for _, c := range []*jetstream.StreamConfig{&got, &want} {
			maps.DeleteFunc(c.Metadata, func(k, _ string) bool { return strings.HasPrefix(k, "_nats.") })
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("ttl %s: stream config\n got %+v\nwant %+v", ttl, got, want)
		}
	}
}

func stateStream(ctx context.Context, t *testing.T, js jetstream.JetStream) jetstream.StreamConfig {
	t.Helper()
	s, err := js.Stream(ctx, "KV_"+bus.StateBucket)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return info.Config
}
