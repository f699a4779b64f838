package store

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"
)

// readCache holds what the query API reads again and again but what changes
// only when the rollup job runs (rollup.go):
//
//   - each kind's rollup state, read from ClickHouse at most once per
//     stateTTL (a job in another process is seen within that time; a job in
//     this process drops it at once when it writes a new state);
//   - the rows of closed buckets read from the rollup tables, kept as long
//     as the state's version is the one they were read under: the job writes
//     a new version after every run and after every Recompute, so no answer
//     serves a bucket older than the last state it knows of;
//   - likewise each token's uses over the closed days of the per-token
//     rollup (/tokens/top's "all time"), and a user's tokens' uses,
//     failures and IPs over the closed days of a /tokens/stats window,
//     kept under the versions of both states the per-token mark comes
//     from, and never longer than closedDaysMaxAge;
//   - a big list's count over its closed hours (listcount.go), and the
//     times of the events of the closed part hour that starts a list of
//     "the last hours" (partHour), and a tenant's tokens and IPs as the
//     events before the mark leave them (tenanttokens.go), kept per
//     version of the kind's state and used only while no event has
//     arrived late into those hours.
//
// Live reads (buckets the rollup does not cover yet) are never kept; the
// same live read asked by several requests at once runs once and all of
// them get its answer (singleflight), so a burst of dashboards on one
// tenant costs ClickHouse one query, never a stale number.
//
// Everything handed out is shared: callers read it and never change it.
type readCache struct {
	stateTTL time.Duration
	maxHeld  int // buckets kept in all before the cache starts afresh

	mu     sync.Mutex
	gen    uint64 // bumped whenever this process writes a rollup state
	states map[string]stateEntry
	rolled map[rolledKey]map[int64][]uint64
	held   int
	counts map[countKey]uint64
	uses   map[usesKey]heldUses
	usage  map[usageKey]*tokenUsage
	spans  map[spanKey]listSpan
	times  map[spanKey][]int64
	tokens map[spanKey]*keptTenantTokens

	flight singleflight.Group
}

type stateEntry struct {
	st rollupState
	at time.Time
}

type rolledKey struct {
	kind     string
	iv       Interval
	tenant   string
	from, to int64
	version  uint64
}

// countKey names a count that only changes with the rollup state: rows of a
// tenant older than its first rolled-up bucket, per status.
type countKey struct {
	kind    string // the rollup kind whose version it follows
	what    string // which count
	tenant  string
	status  string
	before  int64
	version uint64
}

// usesKey names one token's uses before a per-key mark, read from the
// per-token rollup (rolled) or the raw rows under the versions of the
// kind's state and of the per-key table's own.
type usesKey struct {
	tenant, token string
	before        int64
	rolled        bool
	versions      perKeyVersions
}

// usageKey names a user's tokens' usage over closed days [from, to),
// read from the per-token rollup (rolled) or the raw rows, under the
// versions of the two states the per-token mark comes from.
type usageKey struct {
	tenant, tokens string // tokens: the ids, joined
	from, to       int64
	rolled         bool
	versions       perKeyVersions
}

// spanKey names something read under a version of a kind's rollup state:
// a list's count over its closed hours, the times of a part hour (query:
// the statement over them and its arguments), a tenant's tokens (query:
// the tenant).
type spanKey struct {
	kind    string
	query   string
	version uint64
}

// heldUses is a token's closed-day uses and when they were read.
type heldUses struct {
	n  uint64
	at time.Time
}

// closedDaysMaxAge bounds how long closed days' token counts are kept even
// when the rollup state keeps its version: those read from the raw rows
// would miss a late event for as long as the job did not run (failing, or
// stopped); the job writes a new version every minute when it runs.
var closedDaysMaxAge = 5 * time.Minute // a variable so the tests can shorten it

const (
	defaultStateTTL = time.Second
	defaultMaxHeld  = 500_000 // ~75 MB of bucket rows, tokens and IPs at most
)

func newReadCache() *readCache {
	return &readCache{
		stateTTL: defaultStateTTL,
		maxHeld:  defaultMaxHeld,
		states:   map[string]stateEntry{},
		rolled:   map[rolledKey]map[int64][]uint64{},
		counts:   map[countKey]uint64{},
		uses:     map[usesKey]heldUses{},
		usage:    map[usageKey]*tokenUsage{},
		spans:    map[spanKey]listSpan{},
		times:    map[spanKey][]int64{},
		tokens:   map[spanKey]*keptTenantTokens{},
	}
}

// sharedTimeout bounds a read shared by several requests: it runs on a
// context of its own, so that one caller going away does not fail the rest.
const sharedTimeout = 30 * time.Second

// share runs fn once for all callers asking with the same key at the same
// time and gives each the answer; a caller whose ctx ends stops waiting.
func (c *readCache) share(ctx context.Context, key string, fn func(context.Context) (any, error)) (any, error) {
	ch := c.flight.DoChan(key, func() (any, error) {
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), sharedTimeout)
		defer cancel()
		return fn(fctx)
	})
	select {
	case r := <-ch:
		return r.Val, r.Err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// cachedRollupState returns the kind's rollup state, read through the cache.
// A read that started before this process wrote a new state (forgetState)
// is not kept: the generation it began under is over.
func (s *Store) cachedRollupState(ctx context.Context, name string) (rollupState, error) {
	c := s.cache
	c.mu.Lock()
	e, ok := c.states[name]
	gen := c.gen
	c.mu.Unlock()
	if ok && time.Since(e.at) < c.stateTTL {
		return e.st, nil
	}
	v, err := c.share(ctx, fmt.Sprintf("state\x00%s\x00%d", name, gen), func(ctx context.Context) (any, error) {
		st, err := s.rollupState(ctx, name)
		if err != nil {
			return nil, err
		}
		c.mu.Lock()
		if c.gen == gen {
			c.states[name] = stateEntry{st: st, at: time.Now()}
		}
		c.dropOlder(name, st.version)
		c.mu.Unlock()
		return st, nil
	})
	if err != nil {
		return rollupState{}, err
	}
	return v.(rollupState), nil
}

// dropOlder forgets the kind's entries read under versions before version:
// no reader asks for them again. Called with mu held.
func (c *readCache) dropOlder(kind string, version uint64) {
	drop(c, c.rolled, kind, version, rowsWeight)
	drop(c, c.counts, kind, version, oneWeight[uint64])
	drop(c, c.uses, kind, version, oneWeight[heldUses])
	drop(c, c.usage, kind, version, usageWeight)
	drop(c, c.spans, kind, version, oneWeight[listSpan])
	drop(c, c.times, kind, version, timesWeight)
	drop(c, c.tokens, kind, version, tokensWeight)
}

// versioned is a cache key read under a version of a kind's state (or of
// two states): superseded once kind has a newer one.
type versioned interface {
	comparable
	supersededBy(kind string, version uint64) bool
}

func (k rolledKey) supersededBy(kind string, version uint64) bool {
	return k.kind == kind && k.version < version
}
func (k countKey) supersededBy(kind string, version uint64) bool {
	return k.kind == kind && k.version < version
}
func (k spanKey) supersededBy(kind string, version uint64) bool {
	return k.kind == kind && k.version < version
}
func (k usesKey) supersededBy(kind string, version uint64) bool {
	return k.versions.supersededBy(kind, version)
}
func (k usageKey) supersededBy(kind string, version uint64) bool {
	return k.versions.supersededBy(kind, version)
}

// drop deletes m's entries that kind's new version supersedes. Called with
// mu held.
func drop[K versioned, V any](c *readCache, m map[K]V, kind string, version uint64, weigh func(V) int) {
	for key, v := range m {
		if key.supersededBy(kind, version) {
			delete(m, key)
			c.held -= weigh(v)
		}
	}
}

// How many of maxHeld each kept value counts for: about one per bucket
// row, IP, token or time it holds.
func oneWeight[V any](V) int                 { return 1 }
func rowsWeight(rows map[int64][]uint64) int { return len(rows) + 1 }
func usageWeight(u *tokenUsage) int          { return len(u.ips) + 1 }
func timesWeight(times []int64) int          { return len(times) + 1 }
func tokensWeight(k *keptTenantTokens) int   { return len(k.tokens) + len(k.ips) + 1 }

// makeRoom empties the cache when adding n entries would pass maxHeld:
// starting afresh is simpler than tracking ages, entries of superseded
// versions go too, and the hot ones come back on their next read. Called
// with mu held.
func (c *readCache) makeRoom(n int) {
	if c.held+n <= c.maxHeld {
		return
	}
	c.rolled = map[rolledKey]map[int64][]uint64{}
	c.counts = map[countKey]uint64{}
	c.uses = map[usesKey]heldUses{}
	c.usage = map[usageKey]*tokenUsage{}
	c.spans = map[spanKey]listSpan{}
	c.times = map[spanKey][]int64{}
	c.tokens = map[spanKey]*keptTenantTokens{}
	c.held = 0
}

// hold keeps v under key in the map that in returns (read after
// makeRoom, which may start the maps afresh), counting weigh(v) entries
// toward maxHeld in place of what the key held before.
func hold[K comparable, V any](c *readCache, in func() map[K]V, key K, v V, weigh func(V) int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.makeRoom(weigh(v))
	m := in()
	if old, ok := m[key]; ok {
		c.held -= weigh(old)
	}
	m[key] = v
	c.held += weigh(v)
}

// keptRead returns what the map that in returns keeps under key, or reads
// it and keeps it; identical reads in flight (named by what and key) share
// one.
func keptRead[V any](ctx context.Context, c *readCache, in func() map[spanKey]V, key spanKey, what string,
	weigh func(V) int, read func(context.Context) (V, error)) (V, error) {
	c.mu.Lock()
	v, ok := in()[key]
	c.mu.Unlock()
	if ok {
		return v, nil
	}
	got, err := c.share(ctx, what+"\x00"+fmt.Sprint(key), func(ctx context.Context) (any, error) {
		v, err := read(ctx)
		if err != nil {
			return nil, err
		}
		hold(c, in, key, v, weigh)
		return v, nil
	})
	if err != nil {
		var zero V
		return zero, err
	}
	return got.(V), nil
}

// forgetState drops the cached state of a kind: this process wrote a new one.
func (c *readCache) forgetState(kind string) {
	c.mu.Lock()
	delete(c.states, kind)
	c.gen++
	c.mu.Unlock()
}

// rolledRows returns the closed buckets [from, to) of a tenant from the
// rollup table of iv, read once per rollup state version.
func (s *Store) rolledRows(ctx context.Context, k *rollupKind, iv Interval, tenant string, from, to time.Time, version uint64) (map[int64][]uint64, error) {
	c := s.cache
	key := rolledKey{kind: k.name, iv: iv, tenant: tenant, from: from.Unix(), to: to.Unix(), version: version}
	c.mu.Lock()
	rows, ok := c.rolled[key]
	c.mu.Unlock()
	if ok {
		return rows, nil
	}
	v, err := c.share(ctx, fmt.Sprintf("rolled\x00%v", key), func(ctx context.Context) (any, error) {
		rows, err := s.bucketRows(pointQuery(ctx), k, k.rolledSQL(iv), tenant, from, to)
		if err != nil {
			return nil, err
		}
		hold(c, func() map[rolledKey]map[int64][]uint64 { return c.rolled }, key, rows, rowsWeight)
		return rows, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(map[int64][]uint64), nil
}

// liveRows runs a live bucket read; identical reads in flight at once share
// one query.
func (s *Store) liveRows(ctx context.Context, k *rollupKind, iv Interval, tenant string, from, to time.Time, countsOnly bool) (map[int64][]uint64, error) {
	point := to.Sub(from) <= smallLiveRange // the usual case: the open hour or day
	key := fmt.Sprintf("live\x00%s\x00%s\x00%s\x00%d\x00%d\x00%t", k.name, iv, tenant, from.Unix(), to.Unix(), countsOnly)
	v, err := s.cache.share(ctx, key, func(ctx context.Context) (any, error) {
		if point {
			ctx = pointQuery(ctx)
		}
		if countsOnly {
			return s.valueRows(ctx, k, iv, tenant, from, to)
		}
		return s.bucketRows(ctx, k, k.liveSQL(iv), tenant, from, to)
	})
	if err != nil {
		return nil, err
	}
	return v.(map[int64][]uint64), nil
}

// cachedCount returns a count that depends only on the rollup state
// version, computing it with count on a miss. A zero is kept only when
// keepZero says so: "nothing yet" may change at any moment.
func (c *readCache) cachedCount(ctx context.Context, key countKey, keepZero bool, count func(context.Context) (uint64, error)) (uint64, error) {
	c.mu.Lock()
	n, ok := c.counts[key]
	c.mu.Unlock()
	if ok {
		return n, nil
	}
	v, err := c.share(ctx, fmt.Sprintf("count\x00%v", key), func(ctx context.Context) (any, error) {
		n, err := count(ctx)
		if err != nil {
			return nil, err
		}
		if n == 0 && !keepZero {
			return n, nil
		}
		hold(c, func() map[countKey]uint64 { return c.counts }, key, n, oneWeight[uint64])
		return n, nil
	})
	if err != nil {
		return 0, err
	}
	return v.(uint64), nil
}

// closedUses returns each of ids' uses before st.mark, kept per pair of
// state versions (and per source: the per-token rollup when rolled, else
// the raw rows). The ids not held are read by read in one go and kept, zeros
// too (a token without closed days has none until the job writes again);
// read may also return their uses from the mark on (live), which are handed
// back and never kept. live is nil when every id was held.
func (s *Store) closedUses(ctx context.Context, tenant string, ids []string, st perKeyState, rolled bool,
	read func(ctx context.Context, missing []string) (closed, live map[string]uint64, err error)) (closed, live map[string]uint64, err error) {
	c := s.cache
	key := func(id string) usesKey {
		return usesKey{tenant: tenant, token: id, before: st.mark.Unix(), rolled: rolled, versions: st.versions}
	}
	closed = make(map[string]uint64, len(ids))
	var missing []string
	c.mu.Lock()
	for _, id := range ids {
		if h, ok := c.uses[key(id)]; ok && time.Since(h.at) < closedDaysMaxAge {
			closed[id] = h.n
		} else {
			missing = append(missing, id)
		}
	}
	c.mu.Unlock()
	if len(missing) == 0 {
		return closed, nil, nil
	}
	type both struct{ closed, live map[string]uint64 }
	flight := fmt.Sprintf("uses\x00%s\x00%d\x00%t\x00%v\x00%s", tenant, st.mark.Unix(), rolled, st.versions, strings.Join(missing, "\x00"))
	v, err := c.share(ctx, flight, func(ctx context.Context) (any, error) {
		var b both
		var err error
		if b.closed, b.live, err = read(ctx, missing); err != nil {
			return nil, err
		}
		now := time.Now()
		c.mu.Lock()
		c.makeRoom(len(missing))
		for _, id := range missing {
			k := key(id)
			if _, ok := c.uses[k]; !ok { // else past closedDaysMaxAge
				c.held++
			}
			c.uses[k] = heldUses{n: b.closed[id], at: now}
		}
		c.mu.Unlock()
		return b, nil
	})
	if err != nil {
		return nil, nil, err
	}
	b := v.(both)
	for id, n := range b.closed {
		closed[id] = n
	}
	return closed, b.live, nil
}
