package client_test

import (
	"context"
	"encoding/json"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/authwatch/authwatch/client"
	"github.com/authwatch/authwatch/internal/bus"
	"github.com/authwatch/authwatch/internal/testenv"
)

// createLockoutBucket creates KV auth_lockouts as the detector does.
func createLockoutBucket(t testing.TB, js jetstream.JetStream) jetstream.KeyValue {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	kv, err := js.CreateOrUpdateKeyValue(ctx, bus.DefaultTopology().LockoutBucketConfig())
	if err != nil {
		t.Fatalf("create %s: %v", bus.LockoutBucket, err)
	}
	return kv
}

// lock writes a lockout as the detector does: the key created with a TTL
// ending at until. ttl overrides that TTL when not zero.
func lock(t testing.TB, kv jetstream.KeyValue, tenant, ip string, until time.Time, ttl time.Duration) {
	t.Helper()
	v := client.Lockout{TenantID: tenant, IPAddress: ip, FailedAttempts: 5, LockedUntil: until.UTC().Truncate(time.Second)}
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if ttl == 0 {
		ttl = time.Until(v.LockedUntil)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := kv.Create(ctx, client.LockoutKey(tenant, ip), data, jetstream.KeyTTL(ttl)); err != nil {
		t.Fatalf("lock %s %s: %v", tenant, ip, err)
	}
}

// unlock removes a lockout as the query API's DELETE does.
func unlock(t testing.TB, kv jetstream.KeyValue, tenant, ip string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := kv.Purge(ctx, client.LockoutKey(tenant, ip), jetstream.PurgeTTL(15*time.Minute)); err != nil {
		t.Fatalf("unlock %s %s: %v", tenant, ip, err)
	}
}

// stateLog records the states a Lockouts reports.
type stateLog struct {
	mu     sync.Mutex
	states []client.LockoutsState
}

func (s *stateLog) record(st client.LockoutsState, _ error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.states = append(s.states, st)
}

func (s *stateLog) seen(st client.LockoutsState) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, x := range s.states {
		if x == st {
			n++
		}
	}
	return n
}

func newLockouts(t testing.TB, nc *nats.Conn, cfg client.LockoutsConfig) *client.Lockouts {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = quietLogger()
	}
	l, err := client.NewLockouts(nc, cfg)
	if err != nil {
		t.Fatalf("new lockouts: %v", err)
	}
	t.Cleanup(l.Close)
	return l
}

func waitReady(t testing.TB, l *client.Lockouts) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := l.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
}

func isLocked(l *client.Lockouts, tenant, ip string) bool {
	locked, _ := l.Locked(tenant, netip.MustParseAddr(ip))
	return locked
}

func TestLockoutsFollowPutsAndUnlocks(t *testing.T) {
	_, nc, js := setup(t)
	kv := createLockoutBucket(t, js)
	until := time.Now().Add(15 * time.Minute)
	lock(t, kv, "acme", "203.0.113.7", until, 0) // before the view is loaded

	l := newLockouts(t, nc, client.LockoutsConfig{})
	waitReady(t, l)
	locked, left := l.Locked("acme", netip.MustParseAddr("203.0.113.7"))
	if !locked || left <= 14*time.Minute || left > 15*time.Minute {
		t.Fatalf("loaded lockout: Locked = %v, %v; want true, about 15 min", locked, left)
	}
	if st := l.Stats(); st.State != client.LockoutsLive || st.Entries != 1 || st.Resyncs != 1 || st.Err != nil {
		t.Errorf("stats %+v, want live with 1 entry after 1 load", st)
	}

	// Lockouts written after the load arrive through the watch.
	lock(t, kv, "acme", "2001:db8::9", until, 0)
	testenv.Eventually(t, 5*time.Second, "a new lockout", func() bool { return isLocked(l, "acme", "2001:db8::9") })
	if isLocked(l, "acme", "198.51.100.1") {
		t.Error("an IP nobody locked is locked")
	}

	// An admin's unlock (a purge) ends it at once.
	unlock(t, kv, "acme", "203.0.113.7")
	testenv.Eventually(t, 5*time.Second, "the unlock", func() bool { return !isLocked(l, "acme", "203.0.113.7") })
	if !isLocked(l, "acme", "2001:db8::9") {
		t.Error("the unlock of one IP unlocked another")
	}
	// So does a delete.
	if err := kv.Delete(context.Background(), client.LockoutKey("acme", "2001:db8::9")); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 5*time.Second, "the delete", func() bool { return !isLocked(l, "acme", "2001:db8::9") })

	// The detector locks an IP again after an unlock: a new key.
	lock(t, kv, "acme", "203.0.113.7", until, 0)
	testenv.Eventually(t, 5*time.Second, "the lockout again", func() bool { return isLocked(l, "acme", "203.0.113.7") })
	if st := l.Stats(); st.Updates < 4 {
		t.Errorf("stats %+v, want at least 4 updates", st)
	}
}

func TestLockoutsAreOneTenants(t *testing.T) {
	_, nc, js := setup(t)
	kv := createLockoutBucket(t, js)
	until := time.Now().Add(15 * time.Minute)
	lock(t, kv, "acme", "203.0.113.7", until, 0)
	lock(t, kv, "globex", "198.51.100.1", until, 0)

	all := newLockouts(t, nc, client.LockoutsConfig{})
	acme := newLockouts(t, nc, client.LockoutsConfig{TenantID: "acme"})
	waitReady(t, all)
	waitReady(t, acme)
	for _, tt := range []struct {
		l            *client.Lockouts
		name, tenant string
		ip           string
		want         bool
	}{
		{all, "all", "acme", "203.0.113.7", true},
		{all, "all", "globex", "198.51.100.1", true},
		{all, "all", "globex", "203.0.113.7", false}, // failures against acme lock the IP for acme alone
		{all, "all", "acme", "198.51.100.1", false},
		{acme, "acme only", "acme", "203.0.113.7", true},
		{acme, "acme only", "globex", "198.51.100.1", false}, // not watched
		{acme, "acme only", "acm", "203.0.113.7", false},
		{acme, "acme only", "", "203.0.113.7", false},
	} {
		if got := isLocked(tt.l, tt.tenant, tt.ip); got != tt.want {
			t.Errorf("%s: Locked(%s, %s) = %v, want %v", tt.name, tt.tenant, tt.ip, got, tt.want)
		}
	}
	if n := acme.Stats().Entries; n != 1 {
		t.Errorf("the acme view holds %d lockouts, want 1", n)
	}
	if _, err := client.NewLockouts(nc, client.LockoutsConfig{TenantID: "acme.*"}); err == nil {
		t.Error("a tenant id with a dot and a wildcard was accepted")
	}
	if _, err := client.NewLockouts(nil, client.LockoutsConfig{}); err == nil {
		t.Error("a nil connection was accepted")
	}
}

// An IP is asked about however it is written; the detector keys it in
// canonical form.
func TestLockedCanonicalisesTheIP(t *testing.T) {
	_, nc, js := setup(t)
	kv := createLockoutBucket(t, js)
	until := time.Now().Add(15 * time.Minute)
	lock(t, kv, "acme", "203.0.113.7", until, 0)
	lock(t, kv, "acme", "2001:db8::1", until, 0)
	l := newLockouts(t, nc, client.LockoutsConfig{TenantID: "acme"})
	waitReady(t, l)
	for _, ip := range []string{"203.0.113.7", "::ffff:203.0.113.7", "::ffff:cb00:7107", "2001:db8::1", "2001:DB8:0:0:0:0:0:1", "2001:db8::1%eth0"} {
		if !isLocked(l, "acme", ip) {
			t.Errorf("Locked(acme, %s) = false, want true", ip)
		}
	}
	if locked, _ := l.Locked("acme", netip.Addr{}); locked {
		t.Error("the zero Addr is locked")
	}
}

// A lockout is over at its locked_until, whether or not the server's
// expiry marker has come.
func TestLockoutEndsAtLockedUntil(t *testing.T) {
	_, nc, js := setup(t)
	kv := createLockoutBucket(t, js)
	l := newLockouts(t, nc, client.LockoutsConfig{})
	waitReady(t, l)

	// locked_until in 2 s, but the key would live an hour.
	until := time.Now().Add(2 * time.Second).Truncate(time.Second).Add(time.Second)
	lock(t, kv, "acme", "203.0.113.7", until, time.Hour)
	testenv.Eventually(t, 5*time.Second, "the lockout", func() bool { return isLocked(l, "acme", "203.0.113.7") })
	testenv.Eventually(t, 10*time.Second, "locked_until to pass", func() bool { return !isLocked(l, "acme", "203.0.113.7") })
	if now := time.Now(); now.Before(until) {
		t.Errorf("unlocked at %v, before locked_until %v", now, until)
	}

	// The key's TTL ends before locked_until: the server's marker (a
	// purge) unlocks it.
	lock(t, kv, "acme", "198.51.100.1", time.Now().Add(time.Hour), time.Second)
	testenv.Eventually(t, 5*time.Second, "the second lockout", func() bool { return isLocked(l, "acme", "198.51.100.1") })
	testenv.Eventually(t, 15*time.Second, "the expiry marker", func() bool { return !isLocked(l, "acme", "198.51.100.1") })

	// A lockout already over when it arrives is not kept.
	lock(t, kv, "acme", "192.0.2.1", time.Now().Add(-time.Minute), time.Hour)
	lock(t, kv, "acme", "192.0.2.2", time.Now().Add(time.Hour), 0) // a later write, to know the first was seen
	testenv.Eventually(t, 5*time.Second, "the fourth lockout", func() bool { return isLocked(l, "acme", "192.0.2.2") })
	if isLocked(l, "acme", "192.0.2.1") {
		t.Error("a lockout that was over when written is in force")
	}
}

func TestLockoutsIgnoreValuesThatAreNotLockouts(t *testing.T) {
	_, nc, js := setup(t)
	kv := createLockoutBucket(t, js)
	l := newLockouts(t, nc, client.LockoutsConfig{})
	waitReady(t, l)
	if _, err := kv.Put(context.Background(), client.LockoutKey("acme", "192.0.2.1"), []byte("not json")); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 5*time.Second, "the bad value to be counted", func() bool { return l.Stats().Invalid == 1 })
	if isLocked(l, "acme", "192.0.2.1") {
		t.Error("a value that is not a lockout locks")
	}
}

// The bucket is the detector's to create: until it exists the view is not
// ready, and it loads as soon as the bucket appears.
func TestLockoutsWaitForTheBucket(t *testing.T) {
	_, nc, js := setup(t)
	var states stateLog
	l := newLockouts(t, nc, client.LockoutsConfig{TenantID: "acme", OnStateChange: states.record})

	testenv.Eventually(t, 5*time.Second, "the missing bucket to be reported", func() bool {
		st := l.Stats()
		return st.State == client.LockoutsStarting && st.Err != nil && strings.Contains(st.Err.Error(), "does not exist yet")
	})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := l.WaitReady(ctx); err == nil || !strings.Contains(err.Error(), "does not exist yet") {
		t.Errorf("WaitReady without a bucket: %v, want an error naming the missing bucket", err)
	}
	if isLocked(l, "acme", "203.0.113.7") {
		t.Error("locked before anything was loaded")
	}

	kv := createLockoutBucket(t, js)
	lock(t, kv, "acme", "203.0.113.7", time.Now().Add(15*time.Minute), 0)
	waitReady(t, l)
	testenv.Eventually(t, 5*time.Second, "the lockout", func() bool { return isLocked(l, "acme", "203.0.113.7") })
	if n := states.seen(client.LockoutsLive); n != 1 {
		t.Errorf("OnStateChange saw live %d times, want 1", n)
	}
}

// While NATS is away the view answers on and says it is stale; when NATS
// is back the view is loaded anew, unlocks made meanwhile included.
func TestLockoutsRideOutAnOutageAndResync(t *testing.T) {
	srv := testenv.StartNATS(t)
	// The Lockouts connects through a proxy that the test cuts, so that
	// the bucket can change while the Lockouts cannot see it.
	proxy := testenv.StartProxy(t, strings.TrimPrefix(srv.URL(), "nats://"))
	nc, err := nats.Connect("nats://"+proxy.Addr(), nats.MaxReconnects(-1), nats.ReconnectWait(20*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	admin, err := nats.Connect(srv.URL(), nats.MaxReconnects(-1), nats.ReconnectWait(20*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(admin.Close)
	js, err := jetstream.New(admin)
	if err != nil {
		t.Fatal(err)
	}
	kv := createLockoutBucket(t, js)
	until := time.Now().Add(15 * time.Minute)
	lock(t, kv, "acme", "203.0.113.7", until, 0)
	lock(t, kv, "acme", "203.0.113.8", until, 0)

	var states stateLog
	l := newLockouts(t, nc, client.LockoutsConfig{OnStateChange: states.record})
	waitReady(t, l)

	proxy.Cut()
	testenv.Eventually(t, 10*time.Second, "the view to turn stale", func() bool { return l.Stats().State == client.LockoutsStale })
	if states.seen(client.LockoutsStale) == 0 {
		t.Error("OnStateChange did not hear of the stale view")
	}
	if !isLocked(l, "acme", "203.0.113.7") || !isLocked(l, "acme", "203.0.113.8") {
		t.Error("a stale view forgot its lockouts")
	}
	// Meanwhile: one unlock, one new lockout.
	unlock(t, kv, "acme", "203.0.113.7")
	lock(t, kv, "acme", "198.51.100.1", until, 0)

	proxy.Restore()
	testenv.Eventually(t, 15*time.Second, "a live view again", func() bool {
		st := l.Stats()
		return st.State == client.LockoutsLive && st.Resyncs == 2
	})
	if isLocked(l, "acme", "203.0.113.7") {
		t.Error("an unlock made during the outage was missed")
	}
	if !isLocked(l, "acme", "203.0.113.8") || !isLocked(l, "acme", "198.51.100.1") {
		t.Error("after the reload a lockout is missing")
	}

	// And a restart of the server itself (file storage keeps the bucket).
	srv.Stop()
	testenv.Eventually(t, 10*time.Second, "stale again", func() bool { return l.Stats().State == client.LockoutsStale })
	if !isLocked(l, "acme", "203.0.113.8") {
		t.Error("a stale view forgot its lockouts")
	}
	srv.Start()
	testenv.Eventually(t, 20*time.Second, "live after the restart", func() bool {
		st := l.Stats()
		return st.State == client.LockoutsLive && st.Resyncs == 3
	})
	lock(t, kv, "acme", "198.51.100.2", until, 0)
	testenv.Eventually(t, 5*time.Second, "a lockout after the restart", func() bool { return isLocked(l, "acme", "198.51.100.2") })
	if !isLocked(l, "acme", "203.0.113.8") {
		t.Error("after the restart a lockout is missing")
	}
}

func TestLockoutsClose(t *testing.T) {
	_, nc, js := setup(t)
	kv := createLockoutBucket(t, js)
	lock(t, kv, "acme", "203.0.113.7", time.Now().Add(15*time.Minute), 0)
	l := newLockouts(t, nc, client.LockoutsConfig{})
	waitReady(t, l)
	l.Close()
	if st := l.Stats(); st.State != client.LockoutsClosed {
		t.Errorf("after Close: state %v", st.State)
	}
	if !isLocked(l, "acme", "203.0.113.7") {
		t.Error("after Close the last view is gone")
	}
	l.Close() // twice is harmless
}

func TestLockedDoesNotAllocate(t *testing.T) {
	_, nc, js := setup(t)
	kv := createLockoutBucket(t, js)
	lock(t, kv, "acme", "2001:db8::1", time.Now().Add(15*time.Minute), 0)
	l := newLockouts(t, nc, client.LockoutsConfig{})
	waitReady(t, l)
	v6, v4 := netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("203.0.113.7")
	allocs := testing.AllocsPerRun(1000, func() {
		if locked, _ := l.Locked("acme", v6); !locked {
			panic("not locked")
		}
		if locked, _ := l.Locked("acme", v4); locked {
			panic("locked")
		}
	})
	if allocs != 0 {
		t.Errorf("Locked allocates %.1f times per call, want 0", allocs)
	}
}
