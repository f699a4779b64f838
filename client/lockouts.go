package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/authwatch/authwatch/event"
)

// How Lockouts paces itself.
const (
	// sweepEvery is how often expired lockouts are removed from memory
	// (Locked ignores them at once; this only frees their space) and how
	// often the connection is looked at in case a status change went unseen.
	sweepEvery = 10 * time.Second
	// bucketTimeout bounds one attempt to look the bucket up.
	bucketTimeout = 5 * time.Second
)

// LockoutsState says how far a Lockouts view can be trusted.
type LockoutsState int

const (
	// LockoutsStarting: no complete view yet (not connected, the bucket
	// does not exist yet, or the first load is under way). Locked answers
	// false for every IP. This is "not ready".
	LockoutsStarting LockoutsState = iota
	// LockoutsLive: the view holds every lockout of the bucket and follows
	// its changes as they happen.
	LockoutsLive
	// LockoutsStale: the connection or the watch was lost. Locked answers
	// from the last view (lockouts still end at their locked_until), but
	// misses lockouts and unlocks made since. The view is reloaded when
	// the connection is back.
	LockoutsStale
	// LockoutsClosed: Close was called, or the NATS connection was closed.
	// Locked answers from the last view.
	LockoutsClosed
)

// String is the state's name: starting, live, stale or closed.
func (s LockoutsState) String() string {
	switch s {
	case LockoutsStarting:
		return "starting"
	case LockoutsLive:
		return "live"
	case LockoutsStale:
		return "stale"
	case LockoutsClosed:
		return "closed"
	}
	return fmt.Sprintf("LockoutsState(%d)", int(s))
}

// LockoutsConfig configures a Lockouts. The zero value watches every
// tenant and logs to slog.Default().
type LockoutsConfig struct {
	// TenantID limits the view to one tenant's lockouts; empty watches
	// every tenant (a gateway serving several). Locked answers false for
	// IPs of a tenant that is not watched.
	TenantID string
	// OnStateChange, when set, is called each time the state, or the
	// reason the view is not live, changes: err says why (nil when live).
	// It runs on the watching goroutine: keep it quick.
	OnStateChange func(state LockoutsState, err error)
	// Logger receives state changes and values that cannot be read; the
	// default is slog.Default().
	Logger *slog.Logger
}

// LockoutsStats is a snapshot of a Lockouts view and its history.
type LockoutsStats struct {
	State    LockoutsState
	Since    time.Time // when State began
	Err      error     // why the view is not live; nil when it is
	Entries  int       // lockouts in memory (expired ones stay until the next sweep)
	Updates  uint64    // puts, deletes and purges applied after a full load
	Resyncs  uint64    // full loads of the bucket, the first included
	LastSync time.Time // when the last full load completed; zero before the first
	Invalid  uint64    // values that were not a lockout (ignored)
}

// Lockouts keeps an in-memory copy of the detector's IP lockouts (KV
// auth_lockouts), so that a gateway can refuse a locked-out IP without a
// network call on the login path: Locked reads memory only.
//
// A background goroutine loads every key of the bucket (for one tenant or
// all), then follows puts, deletes and purges (an admin's unlock, a key's
// TTL running out). A lockout whose locked_until has passed counts as over
// at once, before the server's expiry marker arrives. When the connection
// is lost the view is kept and answers on (State LockoutsStale); when it
// comes back the whole bucket is loaded again, so unlocks made meanwhile
// are not missed. Until the first load (no connection yet, or no bucket
// yet: the detector creates it) the view is empty and the state is
// LockoutsStarting; the goroutine retries with a backoff up to 5 s.
//
// A Lockouts is safe for concurrent use.
type Lockouts struct {
	nc     *nats.Conn
	js     jetstream.JetStream
	tenant string
	log    *slog.Logger
	notify func(LockoutsState, error)

	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}
	ready  chan struct{} // closed at the first full load
	once   sync.Once

	// mu guards locks; Locked takes it for reading only.
	mu    sync.RWMutex
	locks map[lockKey]int64 // locked_until in Unix nanoseconds

	updates atomic.Uint64
	resyncs atomic.Uint64
	invalid atomic.Uint64

	stateMu  sync.Mutex
	state    LockoutsState
	since    time.Time
	err      error
	lastSync time.Time
}

var (
	errNotConnected = errors.New("client: not connected to NATS")
	errWatchClosed  = errors.New("client: lockout watch closed")
	errReconnected  = errors.New("client: reconnected to NATS, reloading lockouts")
)

// NewLockouts starts watching KV auth_lockouts on nc and returns at once;
// the view is empty until the first load completes (WaitReady waits for
// it). The Lockouts does not own nc: call Close, then close nc. For the
// view to come back after an outage, nc should reconnect forever
// (nats.MaxReconnects(-1)).
func NewLockouts(nc *nats.Conn, cfg LockoutsConfig) (*Lockouts, error) {
	if nc == nil {
		return nil, errors.New("client: nil NATS connection")
	}
	if cfg.TenantID != "" && !validID(cfg.TenantID) {
		return nil, fmt.Errorf("client: tenant id %q may hold only 1-64 of A-Z a-z 0-9 _ -", cfg.TenantID)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("client: jetstream: %w", err)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	ctx, cancel := context.WithCancel(context.Background())
	l := &Lockouts{
		nc:     nc,
		js:     js,
		tenant: cfg.TenantID,
		log:    log,
		notify: cfg.OnStateChange,
		ctx:    ctx,
		cancel: cancel,
		done:   make(chan struct{}),
		ready:  make(chan struct{}),
		locks:  map[lockKey]int64{},
		state:  LockoutsStarting,
		since:  time.Now(),
	}
	// Registered here, not in run, so that no status change after
	// NewLockouts returns can go unseen.
	status := nc.StatusChanged(nats.CONNECTED, nats.DISCONNECTED, nats.RECONNECTING, nats.CLOSED)
	go l.run(status)
	return l, nil
}

// Locked reports whether ip is locked out of tenant tenantID and, if so,
// how long is left. It reads memory only: no network call, no allocation.
// ip is canonicalised as the detector keys it (an IPv4-mapped IPv6 address
// is the IPv4 address; a zone is ignored). An invalid ip, or a tenant this
// Lockouts does not watch, is never locked.
func (l *Lockouts) Locked(tenantID string, ip netip.Addr) (locked bool, retryAfter time.Duration) {
	if !ip.IsValid() || tenantID == "" || len(tenantID) > event.MaxIDLen {
		return false, 0
	}
	l.mu.RLock()
	until, ok := l.locks[lockKey{tenantID, CanonicalIP(ip)}]
	l.mu.RUnlock()
	if !ok {
		return false, 0
	}
	left := time.Duration(until - time.Now().UnixNano())
	if left <= 0 {
		return false, 0
	}
	return true, left
}

// WaitReady waits until the first full load of the bucket has completed,
// or ctx ends. A gateway may call it at start-up; it need not: until then
// Locked answers false.
func (l *Lockouts) WaitReady(ctx context.Context) error {
	select {
	case <-l.ready:
		return nil
	case <-ctx.Done():
		st := l.Stats()
		if st.Err != nil {
			return fmt.Errorf("client: lockouts not loaded (%v): %w", st.Err, context.Cause(ctx))
		}
		return fmt.Errorf("client: lockouts not loaded: %w", context.Cause(ctx))
	}
}

// Stats returns the current state and counters.
func (l *Lockouts) Stats() LockoutsStats {
	l.mu.RLock()
	n := len(l.locks)
	l.mu.RUnlock()
	l.stateMu.Lock()
	defer l.stateMu.Unlock()
	return LockoutsStats{
		State:    l.state,
		Since:    l.since,
		Err:      l.err,
		Entries:  n,
		Updates:  l.updates.Load(),
		Resyncs:  l.resyncs.Load(),
		LastSync: l.lastSync,
		Invalid:  l.invalid.Load(),
	}
}

// Close stops watching and waits for the goroutine to end. Locked goes on
// answering from the last view. Close does not close the NATS connection.
func (l *Lockouts) Close() {
	l.cancel()
	<-l.done
	l.setState(LockoutsClosed, nil)
}

// run loads and follows the bucket until Close, starting over after each
// failure: at once when the connection is back, else after a backoff.
func (l *Lockouts) run(status chan nats.Status) {
	defer close(l.done)
	defer l.nc.RemoveStatusListener(status)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	failures := 0
	for {
		synced, err := l.watch(status)
		if l.ctx.Err() != nil {
			return
		}
		if l.nc.IsClosed() {
			l.setState(LockoutsClosed, nats.ErrConnectionClosed)
			return
		}
		l.setState(l.failedState(), err)
		if synced {
			failures = 0
		}
		if errors.Is(err, errReconnected) {
			continue
		}
		failures++
		timer.Reset(retryDelay(failures))
		for waiting := true; waiting; {
			select {
			case <-l.ctx.Done():
				return
			case s := <-status:
				// Try again at once when the connection is back (or gone
				// for good, which the next round notices).
				waiting = s != nats.CONNECTED && s != nats.CLOSED
			case <-timer.C:
				waiting = false
			}
		}
	}
}

// failedState is the state after a failed load or a lost watch: not ready
// before the first full load, stale after it.
func (l *Lockouts) failedState() LockoutsState {
	select {
	case <-l.ready:
		return LockoutsStale
	default:
		return LockoutsStarting
	}
}

// watch loads the whole bucket into a new view, swaps it in, then applies
// changes as they come, until the watch or the connection is lost. synced
// says whether the load completed. It returns nil only when ctx ends.
func (l *Lockouts) watch(status chan nats.Status) (synced bool, _ error) {
	if !l.nc.IsConnected() {
		return false, errNotConnected
	}
	ctx, cancel := context.WithTimeout(l.ctx, bucketTimeout)
	kv, err := l.js.KeyValue(ctx, LockoutBucket)
	cancel()
	if err != nil {
		if errors.Is(err, jetstream.ErrBucketNotFound) {
			return false, fmt.Errorf("client: KV bucket %s does not exist yet (the authwatch detector creates it): %w", LockoutBucket, err)
		}
		return false, fmt.Errorf("client: KV bucket %s: %w", LockoutBucket, err)
	}
	filter := jetstream.AllKeys
	if l.tenant != "" {
		filter = l.tenant + ".*"
	}
	// Deletes and purges are wanted: they are unlocks and expiries. The
	// watch's subscription ends with wctx (nats.go unsubscribes on it).
	wctx, wcancel := context.WithCancel(l.ctx)
	defer wcancel()
	w, err := kv.Watch(wctx, filter)
	if err != nil {
		return false, fmt.Errorf("client: watch %s: %w", LockoutBucket, err)
	}
	defer w.Stop() //nolint:errcheck // nothing to do about it

	sweep := time.NewTicker(sweepEvery)
	defer sweep.Stop()

	// The first phase fills a view of its own, so that Locked answers from
	// the previous view until this one is complete.
	fresh := map[lockKey]int64{}
	now := time.Now().UnixNano()
	loading := true
	for loading {
		select {
		case e, open := <-w.Updates():
			if !open {
				return false, errWatchClosed
			}
			if e == nil { // every current value delivered
				loading = false
				break
			}
			l.apply(fresh, e, now)
		case s := <-status:
			if s != nats.CONNECTED {
				return false, errNotConnected
			}
		case <-sweep.C:
			if !l.nc.IsConnected() {
				return false, errNotConnected
			}
		case <-l.ctx.Done():
			return false, nil
		}
	}
	l.mu.Lock()
	l.locks = fresh
	l.mu.Unlock()
	l.resyncs.Add(1)
	l.stateMu.Lock()
	l.lastSync = time.Now()
	l.stateMu.Unlock()
	l.setState(LockoutsLive, nil)
	l.once.Do(func() { close(l.ready) })

	stale := false
	for {
		select {
		case e, open := <-w.Updates():
			if !open {
				return true, errWatchClosed
			}
			if e == nil {
				continue
			}
			l.mu.Lock()
			l.apply(l.locks, e, time.Now().UnixNano())
			l.mu.Unlock()
			l.updates.Add(1)
		case s := <-status:
			switch s {
			case nats.CONNECTED:
				if stale {
					return true, errReconnected
				}
			case nats.CLOSED:
				return true, nats.ErrConnectionClosed
			default:
				if !stale {
					stale = true
					l.setState(LockoutsStale, errNotConnected)
				}
			}
		case <-sweep.C:
			l.sweep()
			switch connected := l.nc.IsConnected(); {
			case stale && connected:
				return true, errReconnected
			case !stale && !connected:
				stale = true
				l.setState(LockoutsStale, errNotConnected)
			}
		case <-l.ctx.Done():
			return true, nil
		}
	}
}

// apply makes one KV entry's change to view m: a put sets the lockout, a
// delete or purge (an unlock, or the key's TTL running out) removes it.
// A lockout already over at now is not kept.
func (l *Lockouts) apply(m map[lockKey]int64, e jetstream.KeyValueEntry, now int64) {
	key, ok := parseLockoutKey(e.Key())
	if !ok {
		l.invalid.Add(1)
		l.log.Warn("ignoring a key that is not <tenant_id>.<ip>", "bucket", LockoutBucket, "key", e.Key())
		return
	}
	if e.Operation() != jetstream.KeyValuePut {
		delete(m, key)
		return
	}
	var v Lockout
	if err := json.Unmarshal(e.Value(), &v); err != nil || v.LockedUntil.IsZero() {
		l.invalid.Add(1)
		l.log.Warn("ignoring a lockout that cannot be read", "bucket", LockoutBucket, "key", e.Key(), "err", err)
		delete(m, key)
		return
	}
	until := v.LockedUntil.UnixNano()
	if until <= now {
		delete(m, key)
		return
	}
	m[key] = until
}

// sweep frees the memory of lockouts that are over.
func (l *Lockouts) sweep() {
	now := time.Now().UnixNano()
	l.mu.Lock()
	defer l.mu.Unlock()
	for k, until := range l.locks {
		if until <= now {
			delete(l.locks, k)
		}
	}
}

// setState records the state and why it is not live, and reports a
// change of either (log and callback); the same failure again, retry
// after retry, is reported once.
func (l *Lockouts) setState(s LockoutsState, err error) {
	l.stateMu.Lock()
	stateChanged := l.state != s
	changed := stateChanged || errText(l.err) != errText(err)
	l.state, l.err = s, err
	if stateChanged {
		l.since = time.Now()
	}
	l.stateMu.Unlock()
	if !changed {
		return
	}
	if err != nil {
		l.log.Warn("authwatch lockouts view", "state", s.String(), "err", err)
	} else {
		l.log.Info("authwatch lockouts view", "state", s.String())
	}
	if l.notify != nil {
		l.notify(s, err)
	}
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
