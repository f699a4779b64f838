package store

import (
	"context"
	"slices"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// A tenant admin's /tokens/stats counts the tenant's tokens by type,
// environment and revocation (token_summary: 20,000 states for the
// benchmark's big tenant, 9.5 ms) and the distinct IPs that used them in
// the window (token_use_ips: 82,000 rows, 5.4 ms, and a look for IPs
// stamped ahead) on every request. Both change with every event, but what
// the events before the rollup's hourly mark make of them changes only when
// an event arrives late into those hours (late_arrivals, checked on every
// request as the lists do) or an erasure's recompute writes a new version.
// So each token's type, environment and revocation and each IP's latest
// use are read once per rollup state version and kept, and a request reads
// the tenant's events from the mark on, grouped by token:
//
//   - a token with such events takes its type and environment from the
//     latest of them (the latest of all its events is among them, as in
//     token_summary's argMax) and is revoked if either side says so (its
//     revocation is the maximum over its events);
//   - an IP used there in the window counts unless the kept side counted it
//     already (its latest use in the window).
//
// The request reads as before when an event has arrived late into the
// closed hours, when the job has not run, and when a kept IP's latest use
// is at or after the window's end (an event stamped ahead of the clock).

// tokenState is a token's latest type and environment, and whether it was
// ever revoked.
type tokenState struct {
	ttype, env string
	revoked    bool
}

// keptTenantTokens is a tenant's tokens and IPs as read under one version.
type keptTenantTokens struct {
	tokens map[string]tokenState
	counts TokenStats       // the token counts of tokens
	ips    map[string]int64 // each IP's latest use, unix seconds
	uses   []int64          // the same latest uses, sorted
}

// count adds a token's state to the token counts of st (n = 1), or takes
// it away (n = -1).
func (st *TokenStats) count(t tokenState, n int) {
	by := uint64(n) // -1 wraps: adding it takes one away
	st.TotalTokens += by
	if !t.revoked {
		st.ActiveTokens += by
	}
	switch t.env {
	case "test":
		st.EnvTest += by
	case "live":
		st.EnvLive += by
	}
	switch t.ttype {
	case "sk":
		st.TypeSK += by
	case "pk":
		st.TypePK += by
	case "rk":
		st.TypeRK += by
	}
}

// keptTenantTokenStats is tenantTokenStats from what is kept per version;
// ok is false when it cannot answer (see above).
func (s *Store) keptTenantTokenStats(ctx context.Context, tenant string, from, to time.Time) (TokenStats, bool, error) {
	var st TokenStats
	state, err := s.cachedRollupState(ctx, tokenKind.name)
	if err != nil || state.hours.IsZero() {
		return st, false, err
	}
	mark := state.hours
	if missing, err := s.countsMissing(ctx, tokenKind, state, tenant, time.Time{}, mark, false); err != nil || missing {
		return st, false, err
	}
	kept, err := s.keptTokens(ctx, tenant, state.version)
	if err != nil {
		return st, false, err
	}
	lo, _ := slices.BinarySearch(kept.uses, from.Unix())
	hi, _ := slices.BinarySearch(kept.uses, to.Unix())
	if hi < len(kept.uses) { // an IP used at or after to
		return st, false, nil
	}

	st = kept.counts
	st.UniqueIPs = uint64(hi - lo)
	seen := map[string]bool{}
	err = s.eachRow(pointQuery(ctx), func(r driver.Rows) error {
		var id string
		var t tokenState
		var revoked uint8
		var ips []string
		if err := r.Scan(&id, &t.ttype, &t.env, &revoked, &ips); err != nil {
			return err
		}
		t.revoked = revoked == 1
		if k, ok := kept.tokens[id]; ok {
			st.count(k, -1)
			t.revoked = t.revoked || k.revoked
		}
		st.count(t, 1)
		for _, ip := range ips {
			if last, ok := kept.ips[ip]; seen[ip] || ok && last >= from.Unix() {
				continue
			}
			seen[ip] = true
			st.UniqueIPs++
		}
		return nil
	}, `SELECT token_id,
		argMax(toString(token_type), toUInt64(occurred_at) * 1000 + occurred_ms),
		argMax(toString(environment), toUInt64(occurred_at) * 1000 + occurred_ms),
		max(toUInt8(event = 'revoked')),
		groupUniqArrayIf(ip_address, event = 'authenticated' AND occurred_at >= toDateTime(?) AND occurred_at < toDateTime(?))
		FROM token_events_by_time WHERE tenant_id = ? AND occurred_at >= toDateTime(?) GROUP BY token_id`,
		from.Unix(), to.Unix(), tenant, mark.Unix())
	if err != nil {
		return st, false, err
	}
	st.TotalRequests, st.Failed, err = s.tenantTokenUses(ctx, tenant, from, to)
	return st, err == nil, err
}

// keptTokens returns a tenant's tokens and IPs, read once per version.
func (s *Store) keptTokens(ctx context.Context, tenant string, version uint64) (*keptTenantTokens, error) {
	key := spanKey{kind: tokenKind.name, query: tenant, version: version}
	c := s.cache
	return keptRead(ctx, c, func() map[spanKey]*keptTenantTokens { return c.tokens }, key, "tokens", tokensWeight,
		func(ctx context.Context) (*keptTenantTokens, error) {
			k := &keptTenantTokens{tokens: map[string]tokenState{}, ips: map[string]int64{}}
			err := s.eachRow(pointQuery(ctx), func(r driver.Rows) error {
				var id string
				var t tokenState
				var revoked uint8
				if err := r.Scan(&id, &t.ttype, &t.env, &revoked); err != nil {
					return err
				}
				t.revoked = revoked == 1
				k.tokens[id] = t
				k.counts.count(t, 1)
				return nil
			}, `SELECT token_id, argMaxMerge(token_type), argMaxMerge(environment), maxMerge(revoked)
			FROM token_summary WHERE tenant_id = ? GROUP BY token_id`, tenant)
			if err != nil {
				return nil, err
			}
			err = s.eachRow(pointQuery(ctx), func(r driver.Rows) error {
				var ip string
				var last uint32
				if err := r.Scan(&ip, &last); err != nil {
					return err
				}
				k.ips[ip] = int64(last)
				k.uses = append(k.uses, int64(last))
				return nil
			}, `SELECT ip_address, toUInt32(max(last_use)) FROM token_use_ips WHERE tenant_id = ? GROUP BY ip_address`, tenant)
			if err != nil {
				return nil, err
			}
			slices.Sort(k.uses)
			return k, nil
		})
}
