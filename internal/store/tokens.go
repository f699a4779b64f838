package store

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// Token reads (SPEC §3 "Token usage"). A token is (tenant_id, token_id); its
// owner, latest type, environment and name come from token_summary (see
// schemas/clickhouse/0003_tokens.sql). Per-token numbers, and a user's, read
// token_events, whose sort key starts (tenant_id, token_id); tenant-wide
// lists read token_events_by_time with a time range, and a tenant's stats
// the analytics rollups and token_use_ips. Every count takes each event id
// once (uniqExact(id)), every list LIMIT 1 BY id, so a redelivered event
// never counts twice.

// TokenScope says whose tokens a tenant-wide read covers: the tenant's when
// UserID is "" (an admin), else the tokens that user owns.
type TokenScope struct {
	TenantID string
	UserID   string
}

// TokenOwner returns the owner of a token: the user_id of its latest event.
// ok is false when no event of that tenant names the token.
func (s *Store) TokenOwner(ctx context.Context, tenant, tokenID string) (owner string, ok bool, err error) {
	rows, err := s.conn.Query(pointQuery(ctx), `SELECT argMaxMerge(owner) FROM token_summary
		WHERE tenant_id = ? AND token_id = ? GROUP BY token_id`, tenant, tokenID)
	if err != nil {
		return "", false, err
	}
	defer rows.Close()
	for rows.Next() {
		if err := rows.Scan(&owner); err != nil {
			return "", false, err
		}
		ok = true
	}
	return owner, ok, rows.Err()
}

// tokenInfo is what token_summary knows of one token.
type tokenInfo struct {
	id, name, tokenType, environment string
	revoked                          bool
	useRows                          uint64 // an upper bound of its uses (see topUses)
}

// ownedTokens returns the tokens a user owns. token_users narrows the search
// to tokens whose events ever named the user; of those, token_summary keeps
// the ones whose latest event still names them.
func (s *Store) ownedTokens(ctx context.Context, tenant, user string) ([]tokenInfo, error) {
	rows, err := s.conn.Query(pointQuery(ctx), `SELECT token_id, argMaxMerge(token_name), argMaxMerge(token_type),
		argMaxMerge(environment), maxMerge(revoked), sumMerge(use_rows)
		FROM token_summary
		WHERE tenant_id = ? AND token_id IN (SELECT token_id FROM token_users WHERE tenant_id = ? AND user_id = ?)
		GROUP BY token_id HAVING argMaxMerge(owner) = ?`, tenant, tenant, user, user)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []tokenInfo
	for rows.Next() {
		var t tokenInfo
		var revoked uint8
		if err := rows.Scan(&t.id, &t.name, &t.tokenType, &t.environment, &revoked, &t.useRows); err != nil {
			return nil, err
		}
		t.revoked = revoked != 0
		out = append(out, t)
	}
	return out, rows.Err()
}

// tokenInList binds a list for "x IN ?" as ('a', 'b'). A plain slice binds
// as an array, ['a', 'b'], which ClickHouse 18.16 refuses after IN.
func tokenInList(vals []string) clickhouse.GroupSet {
	set := clickhouse.GroupSet{Value: make([]any, len(vals))}
	for i, v := range vals {
		set.Value[i] = v
	}
	return set
}

// TokenStats are the numbers of /tokens/stats.
type TokenStats struct {
	TotalTokens, ActiveTokens        uint64
	EnvTest, EnvLive                 uint64 // tokens by latest environment
	TypeSK, TypePK, TypeRK           uint64 // tokens by latest type
	TotalRequests, UniqueIPs, Failed uint64
}

// TokenStats counts a scope's tokens (whatever the window) and the uses,
// distinct IPs of uses, and failures (failed, expired, ip_blocked) of those
// tokens with occurred_at in [from, to), which must be whole UTC days.
func (s *Store) TokenStats(ctx context.Context, sc TokenScope, from, to time.Time) (TokenStats, error) {
	if sc.UserID == "" {
		return s.tenantTokenStats(ctx, sc.TenantID, from, to)
	}
	var st TokenStats
	owned, err := s.ownedTokens(ctx, sc.TenantID, sc.UserID)
	if err != nil || len(owned) == 0 {
		return st, err
	}
	ids := make([]string, len(owned))
	var useRows uint64
	for i, t := range owned {
		ids[i] = t.id
		useRows += t.useRows
		st.count(tokenState{ttype: t.tokenType, env: t.environment, revoked: t.revoked}, 1)
	}
	st.TotalRequests, st.Failed, st.UniqueIPs, err = s.userTokenUsage(ctx, sc.TenantID, ids, useRows, from, to)
	return st, err
}

// tokenUsage is what a user's tokens did over a span: uses, failures, and
// the distinct IPs of the uses (a set, to be joined with another span's).
type tokenUsage struct {
	uses, failures uint64
	ips            map[string]struct{}
	at             time.Time // when it was read
}

// userTokenUsage counts the uses, failures and distinct IPs of uses of a
// user's tokens (ids, whose use bounds add up to useRows) in [from, to).
//
// A user's tokens are a few ranges of token_events' sort key, and reading
// each range in every part is most of the cost. So the window is cut at
// the per-token rollup's mark (usually today's midnight): the closed days
// before it are kept per version of the rollup states (closedTokenUsage,
// computed again after every run of the job, which is when a late event
// joins them), and only the rows from the mark on are read per request.
// Closed days come from the per-token rollup when the tokens are busy
// (rolledUsesMin, as in exactUses), else from the raw rows, in the same
// statement as the live part. Before the job has covered anything, one
// flat pass over the raw rows.
func (s *Store) userTokenUsage(ctx context.Context, tenant string, ids []string, useRows uint64, from, to time.Time) (uses, failed, ips uint64, err error) {
	days, err := s.perKeyState(ctx, tokenKind)
	if err != nil {
		return 0, 0, 0, err
	}
	closedEnd := earlier(days.mark, to)
	raw := ` FROM token_events WHERE tenant_id = ? AND token_id IN ?
		AND occurred_at >= toDateTime(?) AND occurred_at < toDateTime(?)`
	if !closedEnd.After(from) {
		err = s.conn.QueryRow(pointQuery(ctx), `SELECT `+tokenUseExpr+`, `+tokenFailureExpr+`, `+tokenUseIPCountExpr+raw,
			tenant, tokenInList(ids), from.Unix(), to.Unix()).Scan(&uses, &failed, &ips)
		return uses, failed, ips, err
	}
	// The ids in a fixed order: ownedTokens returns them in the server's.
	key := usageKey{tenant: tenant, tokens: strings.Join(slices.Sorted(slices.Values(ids)), "\x00"), from: from.Unix(), to: closedEnd.Unix(),
		rolled: useRows >= rolledUsesMin, versions: days.versions}
	closed, live, err := s.closedTokenUsage(ctx, key, ids, closedEnd, to)
	if err != nil {
		return 0, 0, 0, err
	}
	if live == nil { // held: read the live part alone
		live = &tokenUsage{}
		var list []string
		err := s.conn.QueryRow(pointQuery(ctx), `SELECT `+tokenUseExpr+`, `+tokenFailureExpr+`, `+tokenUseIPsExpr+raw,
			tenant, tokenInList(ids), closedEnd.Unix(), to.Unix()).Scan(&live.uses, &live.failures, &list)
		if err != nil {
			return 0, 0, 0, err
		}
		live.ips = setOf(list)
	}
	ips = uint64(len(closed.ips))
	for ip := range live.ips {
		if _, ok := closed.ips[ip]; !ok {
			ips++
		}
	}
	return closed.uses + live.uses, closed.failures + live.failures, ips, nil
}

// closedTokenUsage returns the usage of key's tokens over its closed days
// [key.from, key.to), held per version of the rollup states. When it has
// to read them from the raw rows it reads the live part [key.to, to) in
// the same statement and returns that too; live is nil otherwise.
func (s *Store) closedTokenUsage(ctx context.Context, key usageKey, ids []string, closedEnd, to time.Time) (closed, live *tokenUsage, err error) {
	c := s.cache
	c.mu.Lock()
	held, ok := c.usage[key]
	c.mu.Unlock()
	if ok && time.Since(held.at) < closedDaysMaxAge {
		return held, nil, nil
	}
	type both struct{ closed, live *tokenUsage }
	v, err := c.share(ctx, fmt.Sprintf("usage\x00%v", key), func(ctx context.Context) (any, error) {
		var b both
		var err error
		if key.rolled {
			b.closed, err = s.rolledTokenUsage(ctx, key.tenant, ids, time.Unix(key.from, 0), closedEnd)
		} else {
			b.closed, b.live, err = s.rawTokenUsage(ctx, key.tenant, ids, time.Unix(key.from, 0), closedEnd, to)
		}
		if err != nil {
			return nil, err
		}
		b.closed.at = time.Now()
		hold(c, func() map[usageKey]*tokenUsage { return c.usage }, key, b.closed, usageWeight) // replaces one past closedDaysMaxAge
		return b, nil
	})
	if err != nil {
		return nil, nil, err
	}
	b := v.(both)
	return b.closed, b.live, nil
}

// rolledTokenUsage reads the usage of ids over the closed days [from, to)
// from the per-token rollup: sums, and the union of the days' IP sets.
func (s *Store) rolledTokenUsage(ctx context.Context, tenant string, ids []string, from, to time.Time) (*tokenUsage, error) {
	u := &tokenUsage{}
	var list []string
	err := s.conn.QueryRow(pointQuery(ctx), `SELECT sum(u), sum(f), groupUniqArrayArray(ips) FROM (
		SELECT argMax(uses, version) AS u, argMax(failures, version) AS f, argMax(use_ips, version) AS ips
		FROM `+tokenDays.table+` WHERE tenant_id = ? AND token_id IN ?
		AND bucket >= toDateTime(?) AND bucket < toDateTime(?) GROUP BY token_id, bucket)`,
		tenant, tokenInList(ids), from.Unix(), to.Unix()).Scan(&u.uses, &u.failures, &list)
	u.ips = setOf(list)
	return u, err
}

// rawTokenUsage reads the usage of ids from the raw rows of [from, to) in
// one pass, split at closedEnd: the closed part and the live part.
func (s *Store) rawTokenUsage(ctx context.Context, tenant string, ids []string, from, closedEnd, to time.Time) (closed, live *tokenUsage, err error) {
	closed, live = &tokenUsage{ips: map[string]struct{}{}}, &tokenUsage{ips: map[string]struct{}{}}
	err = s.eachRow(pointQuery(ctx), func(r driver.Rows) error {
		var before uint8
		u := &tokenUsage{}
		var list []string
		if err := r.Scan(&before, &u.uses, &u.failures, &list); err != nil {
			return err
		}
		u.ips = setOf(list)
		if before == 1 {
			*closed = *u
		} else {
			*live = *u
		}
		return nil
	}, `SELECT occurred_at < toDateTime(?) AS before, `+tokenUseExpr+`, `+tokenFailureExpr+`, `+tokenUseIPsExpr+`
		FROM token_events WHERE tenant_id = ? AND token_id IN ?
		AND occurred_at >= toDateTime(?) AND occurred_at < toDateTime(?) GROUP BY before`,
		closedEnd.Unix(), tenant, tokenInList(ids), from.Unix(), to.Unix())
	return closed, live, err
}

// setOf makes a set of list.
func setOf(list []string) map[string]struct{} {
	set := make(map[string]struct{}, len(list))
	for _, v := range list {
		set[v] = struct{}{}
	}
	return set
}

// tenantTokenStats is TokenStats over every token of a tenant.
func (s *Store) tenantTokenStats(ctx context.Context, tenant string, from, to time.Time) (TokenStats, error) {
	st, ok, err := s.keptTenantTokenStats(ctx, tenant, from, to)
	if err != nil || ok {
		return st, err
	}
	err = s.conn.QueryRow(pointQuery(ctx), `SELECT count(), countIf(is_revoked = 0),
		countIf(env = 'test'), countIf(env = 'live'), countIf(ttype = 'sk'), countIf(ttype = 'pk'), countIf(ttype = 'rk')
		FROM (SELECT token_id, argMaxMerge(token_type) AS ttype, argMaxMerge(environment) AS env, maxMerge(revoked) AS is_revoked
		      FROM token_summary WHERE tenant_id = ? GROUP BY token_id)`, tenant).
		Scan(&st.TotalTokens, &st.ActiveTokens, &st.EnvTest, &st.EnvLive, &st.TypeSK, &st.TypePK, &st.TypeRK)
	if err != nil {
		return st, err
	}
	if st.TotalRequests, st.Failed, err = s.tenantTokenUses(ctx, tenant, from, to); err != nil {
		return st, err
	}
	st.UniqueIPs, err = s.tenantTokenIPs(ctx, tenant, from, to)
	return st, err
}

// tenantTokenUses counts the window's uses and failures of a whole tenant
// from the analytics buckets (TokenAnalytics: exact per bucket, rolled up
// when closed, live otherwise): the closed days by day, the last day by
// hour so that little is computed live. Counting them from the raw rows
// would read every event of the window (over a million for a big tenant and
// 30 days). from and to must be whole UTC days.
func (s *Store) tenantTokenUses(ctx context.Context, tenant string, from, to time.Time) (uses, failed uint64, err error) {
	lastDay := to.Add(-24 * time.Hour)
	var buckets []TokenBucket
	if lastDay.After(from) {
		days, err := s.tokenAnalytics(ctx, tenant, Daily, from, lastDay, true)
		if err != nil {
			return 0, 0, err
		}
		buckets = days
	}
	hours, err := s.tokenAnalytics(ctx, tenant, Hourly, lastDay, to, true)
	if err != nil {
		return 0, 0, err
	}
	for _, b := range append(buckets, hours...) {
		uses += b.Authenticated
		failed += b.Failed + b.Expired + b.IPBlocked
	}
	return uses, failed, nil
}

// tenantTokenIPs counts the distinct IPs that used a whole tenant's tokens
// in [from, to) from token_use_ips, each IP's latest use: an IP was used in
// the window if its latest use is in it. An IP whose latest use is at or
// after to (an event stamped ahead of the clock) may or may not have been
// used in the window too; those few are looked up in the raw rows.
func (s *Store) tenantTokenIPs(ctx context.Context, tenant string, from, to time.Time) (uint64, error) {
	// IPs with a row at or after to: usually none.
	ahead, err := s.queryStrings(ctx, `SELECT DISTINCT ip_address FROM token_use_ips
		WHERE tenant_id = ? AND last_use >= toDateTime(?)`, tenant, to.Unix())
	if err != nil {
		return 0, err
	}
	// Every other IP's rows are all before to, and the largest is its latest
	// use: it was used in the window if one of its rows is in it. An IP's
	// rows (one per insert until merged) are neighbours in the sort key, so
	// FINAL counts each IP once by comparing each row with the one before;
	// it gives the same count whether the window is applied before the rows
	// are collapsed or after (the row kept is the IP's latest use). On 18.16
	// that costs a third of uniqExact's hashing (big tenant, 82,000 IPs:
	// 5.4 ms against 14), and a GROUP BY per IP three times as much. On a
	// cluster each server's view fills its own token_use_ips from the token
	// events it holds, which are spread by event id, so an IP can have rows
	// on several servers and only uniqExact counts it once.
	distinct := "count() FROM token_use_ips FINAL"
	if s.cluster != "" {
		distinct = "uniqExact(ip_address) FROM token_use_ips"
	}
	q := `SELECT ` + distinct + `
		WHERE tenant_id = ? AND last_use >= toDateTime(?) AND last_use < toDateTime(?)`
	args := []any{tenant, from.Unix(), to.Unix()}
	if len(ahead) > 0 {
		q += " AND ip_address NOT IN ?"
		args = append(args, tokenInList(ahead))
	}
	var n uint64
	if err := s.conn.QueryRow(pointQuery(ctx), q, args...).Scan(&n); err != nil || len(ahead) == 0 {
		return n, err
	}
	var more uint64
	err = s.conn.QueryRow(pointQuery(ctx), `SELECT uniqExact(ip_address) FROM token_events_by_time
		WHERE tenant_id = ? AND occurred_at >= toDateTime(?) AND occurred_at < toDateTime(?)
		AND event = 'authenticated' AND ip_address IN ?`,
		tenant, from.Unix(), to.Unix(), tokenInList(ahead)).Scan(&more)
	return n + more, err
}

// TokenUses is one token's number of uses, with its latest non-empty name.
type TokenUses struct {
	TokenID, Name string
	Uses          uint64
}

// TopTokens returns a scope's n most used tokens of all time, most first,
// ties by token id; tokens never used are left out.
func (s *Store) TopTokens(ctx context.Context, sc TokenScope, n int) ([]TokenUses, error) {
	if sc.UserID == "" {
		top, err := s.topUses(ctx, sc.TenantID, n, func(atLeast uint64, limit int) ([]tokenBound, error) {
			q := `SELECT token_id, sumMerge(use_rows) AS bound FROM token_summary WHERE tenant_id = ?
				GROUP BY token_id HAVING bound >= ? ORDER BY bound DESC, token_id`
			args := []any{sc.TenantID, atLeast}
			if limit > 0 {
				q += " LIMIT ?"
				args = append(args, limit)
			}
			return s.tokenBounds(ctx, q, args...)
		})
		if err != nil {
			return nil, err
		}
		return top, s.attachTokenNames(ctx, sc.TenantID, top)
	}

	owned, err := s.ownedTokens(ctx, sc.TenantID, sc.UserID)
	if err != nil {
		return nil, err
	}
	sort.Slice(owned, func(i, j int) bool {
		if owned[i].useRows != owned[j].useRows {
			return owned[i].useRows > owned[j].useRows
		}
		return owned[i].id < owned[j].id
	})
	top, err := s.topUses(ctx, sc.TenantID, n, func(atLeast uint64, limit int) ([]tokenBound, error) {
		var out []tokenBound
		for _, t := range owned {
			if t.useRows < atLeast || (limit > 0 && len(out) == limit) {
				break
			}
			out = append(out, tokenBound{id: t.id, bound: t.useRows})
		}
		return out, nil
	})
	names := make(map[string]string, len(owned))
	for _, t := range owned {
		names[t.id] = t.name
	}
	for i := range top {
		top[i].Name = names[top[i].TokenID]
	}
	return top, err
}

// tokenBound is a token with an upper bound of its uses.
type tokenBound struct {
	id    string
	bound uint64
}

// topUses finds the n most used tokens exactly.
//
// Counting every token's uses exactly would read the scope's whole history.
// token_summary.use_rows is an upper bound of each token's uses (it counts
// redelivered copies), so exact counts are needed only for the tokens whose
// bound could reach the top n: first the n largest bounds and those just
// below them (countFirst), then, if the next bound reaches the n-th exact
// count found, every token whose bound does. candidates(atLeast, limit)
// lists the tokens whose bound is at least atLeast, largest first (ties by
// id), at most limit of them when limit > 0.
func (s *Store) topUses(ctx context.Context, tenant string, n int, candidates func(atLeast uint64, limit int) ([]tokenBound, error)) ([]TokenUses, error) {
	first, err := candidates(1, 2*n+1)
	if err != nil || len(first) == 0 {
		return nil, err
	}
	k := countFirst(first, n)
	uses, err := s.exactUses(ctx, tenant, first[:k])
	if err != nil {
		return nil, err
	}
	// A token not counted yet can only make the list by reaching the n-th
	// count so far (a tie wins on token id, so >= and not >); the next
	// bound is the largest of theirs.
	if nth := max(nthLargest(uses, n), 1); len(first) > k && first[k].bound >= nth {
		more, err := candidates(nth, 0)
		if err != nil {
			return nil, err
		}
		var rest []tokenBound
		for _, t := range more {
			if _, done := uses[t.id]; !done {
				rest = append(rest, t)
			}
		}
		if len(rest) > 0 {
			extra, err := s.exactUses(ctx, tenant, rest)
			if err != nil {
				return nil, err
			}
			for id, u := range extra {
				uses[id] = u
			}
		}
	}

	var out []TokenUses
	for id, u := range uses {
		if u > 0 {
			out = append(out, TokenUses{TokenID: id, Uses: u})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Uses != out[j].Uses {
			return out[i].Uses > out[j].Uses
		}
		return out[i].TokenID < out[j].TokenID
	})
	if len(out) > n {
		out = out[:n]
	}
	return out, nil
}

// boundSlack is the share of its upper bound (1/boundSlack) by which a
// token's exact count may fall short of it: the redelivered copies counted
// in use_rows, a few per cent at most.
const boundSlack = 32

// countFirst says how many of the largest bounds (first, largest first, at
// most 2n+1 of a scope's tokens) topUses counts in its first statement: the
// n largest, and the next ones whose bounds are within boundSlack of the
// n-th, which would otherwise take a second statement as soon as the
// copies make the n-th exact count fall below them (a heavy user's tokens
// are used about as often as each other). One bound stays uncounted when
// first may not hold every token, for the check that follows.
func countFirst(first []tokenBound, n int) int {
	k := min(n, len(first))
	if k == 0 {
		return 0
	}
	near := first[k-1].bound - first[k-1].bound/boundSlack
	last := min(len(first), 2*n)
	for k < last && first[k].bound >= near {
		k++
	}
	return k
}

// nthLargest is the n-th largest value of m (0 when m has fewer).
func nthLargest(m map[string]uint64, n int) uint64 {
	vals := make([]uint64, 0, len(m))
	for _, v := range m {
		vals = append(vals, v)
	}
	if len(vals) < n {
		return 0
	}
	sort.Slice(vals, func(i, j int) bool { return vals[i] > vals[j] })
	return vals[n-1]
}

// exactUses counts the uses of each of the given tokens of all time, each
// event once. Tokens without uses are present with 0.
//
// Before the rollup job has covered a day, everything is counted from the
// raw rows. After, each token's count is cut at the per-token rollup's mark
// (usually today's midnight): its uses before the mark are kept per version
// of the rollup states (closedUses: "all time" is the same sum on every
// request until the job writes again, which is when a late event joins
// it), and only the rows from the mark on are read per request. Tokens
// with many uses (their bounds add up to rolledUsesMin or more) read their
// closed days from the per-token daily counts (0007_token_days.sql),
// others from their raw rows, both sides in one pass.
func (s *Store) exactUses(ctx context.Context, tenant string, tokens []tokenBound) (map[string]uint64, error) {
	out := make(map[string]uint64, len(tokens))
	ids := make([]string, len(tokens))
	var rows uint64
	for i, t := range tokens {
		out[t.id] = 0
		ids[i] = t.id
		rows += t.bound
	}
	days, err := s.perKeyState(ctx, tokenKind)
	if err != nil {
		return nil, err
	}
	liveFrom, rest := int64(0), ids
	if !days.mark.IsZero() {
		rolled := rows >= rolledUsesMin
		closed, live, err := s.closedUses(ctx, tenant, ids, days, rolled, func(ctx context.Context, missing []string) (map[string]uint64, map[string]uint64, error) {
			if rolled {
				closed, err := s.readRolledUses(ctx, tenant, missing, days.mark)
				return closed, nil, err
			}
			return s.readSplitUses(ctx, tenant, missing, days.mark)
		})
		if err != nil {
			return nil, err
		}
		rest = nil
		for _, id := range ids {
			out[id] = closed[id]
			if n, ok := live[id]; ok {
				out[id] += n
			} else {
				rest = append(rest, id)
			}
		}
		liveFrom = days.mark.Unix()
	}
	const q = `SELECT token_id, ` + tokenUseExpr + ` AS n FROM token_events
		WHERE tenant_id = ? AND token_id IN ? AND occurred_at >= toDateTime(?) GROUP BY token_id`
	return out, s.addPerToken(ctx, out, q, tenant, rest, liveFrom)
}

// addPerToken runs q, whose rows are (token_id, n) and whose arguments are
// a tenant, an IN list of token ids and a time, once per chunk of ids,
// adding each n to out.
func (s *Store) addPerToken(ctx context.Context, out map[string]uint64, q, tenant string, ids []string, at int64) error {
	add := func(r driver.Rows) (struct{}, error) {
		var id string
		var n uint64
		err := r.Scan(&id, &n)
		out[id] += n
		return struct{}{}, err
	}
	for _, part := range chunked(ids) {
		if _, err := queryRows(ctx, s, add, q, tenant, tokenInList(part), at); err != nil {
			return err
		}
	}
	return nil
}

// readSplitUses counts each of ids' uses in the raw rows, before mark
// (closed) and from it on (live), in one pass; every id is in both maps.
func (s *Store) readSplitUses(ctx context.Context, tenant string, ids []string, mark time.Time) (closed, live map[string]uint64, err error) {
	closed, live = make(map[string]uint64, len(ids)), make(map[string]uint64, len(ids))
	for _, id := range ids {
		closed[id], live[id] = 0, 0
	}
	add := func(r driver.Rows) (struct{}, error) {
		var id string
		var before uint8
		var n uint64
		if err := r.Scan(&id, &before, &n); err != nil {
			return struct{}{}, err
		}
		if before == 1 {
			closed[id] = n
		} else {
			live[id] = n
		}
		return struct{}{}, nil
	}
	for _, part := range chunked(ids) {
		q := `SELECT token_id, occurred_at < toDateTime(?) AS before, ` + tokenUseExpr + ` FROM token_events
			WHERE tenant_id = ? AND token_id IN ? GROUP BY token_id, before`
		if _, err := queryRows(ctx, s, add, q, mark.Unix(), tenant, tokenInList(part)); err != nil {
			return nil, nil, err
		}
	}
	return closed, live, nil
}

// chunked splits ids into IN lists of at most 1,000: many tokens can tie at
// the n-th place, and each list must stay far below ClickHouse's
// max_query_size whatever a tenant holds.
func chunked(ids []string) [][]string {
	const chunk = 1000
	var out [][]string
	for start := 0; start < len(ids); start += chunk {
		out = append(out, ids[start:min(start+chunk, len(ids))])
	}
	return out
}

// rolledUsesSQL sums each token's uses over the closed days before a mark,
// the newest version of each day.
var rolledUsesSQL = `SELECT token_id, sum(n) FROM (
	SELECT token_id, argMax(uses, version) AS n FROM ` + tokenDays.table + `
	WHERE tenant_id = ? AND token_id IN ? AND bucket < toDateTime(?) GROUP BY token_id, bucket)
	GROUP BY token_id`

// readRolledUses reads the uses of each of ids before mark from the
// per-token rollup; tokens without rows are absent.
func (s *Store) readRolledUses(ctx context.Context, tenant string, ids []string, mark time.Time) (map[string]uint64, error) {
	out := make(map[string]uint64, len(ids))
	return out, s.addPerToken(ctx, out, rolledUsesSQL, tenant, ids, mark.Unix())
}

// rolledUsesMin is how many uses (upper bounds) make reading the rolled-up
// days cheaper than the raw rows. Measured on 18.16 at c=8: the rolled read
// costs about 8 ms whatever the tokens (a granule per token and part of
// both tables); the raw rows of a heavy user's ten tokens (35,000 uses)
// 5 ms, of a big tenant's ten busiest (113,000) 15 ms. Either way the
// closed days are then kept for the states' versions (closedUses,
// closedTokenUsage), so a scope asked for again before the job writes
// again costs only its rows after the mark; the threshold picks the
// cheaper read for the first request of a version.
var rolledUsesMin uint64 = 60_000 // a variable so the tests can force either read

// attachTokenNames fills in each token's latest non-empty name.
func (s *Store) attachTokenNames(ctx context.Context, tenant string, list []TokenUses) error {
	if len(list) == 0 {
		return nil
	}
	ids := make([]string, len(list))
	for i, t := range list {
		ids[i] = t.TokenID
	}
	rows, err := s.conn.Query(pointQuery(ctx), `SELECT token_id, argMaxMerge(token_name) FROM token_summary
		WHERE tenant_id = ? AND token_id IN ? GROUP BY token_id`, tenant, tokenInList(ids))
	if err != nil {
		return err
	}
	defer rows.Close()
	names := map[string]string{}
	for rows.Next() {
		var id, name string
		if err := rows.Scan(&id, &name); err != nil {
			return err
		}
		names[id] = name
	}
	for i := range list {
		list[i].Name = names[list[i].TokenID]
	}
	return rows.Err()
}

// tokenBounds runs a query whose rows are (token_id, bound).
func (s *Store) tokenBounds(ctx context.Context, q string, args ...any) ([]tokenBound, error) {
	return queryRows(ctx, s, func(r driver.Rows) (t tokenBound, err error) {
		return t, r.Scan(&t.id, &t.bound)
	}, q, args...)
}

// queryStrings runs a query whose rows are one string each.
func (s *Store) queryStrings(ctx context.Context, q string, args ...any) ([]string, error) {
	return queryRows(ctx, s, func(r driver.Rows) (v string, err error) {
		return v, r.Scan(&v)
	}, q, args...)
}

// TokenUsesByDay counts a token's uses per UTC day with occurred_at in
// [from, to), keyed by the day's start; days without uses are absent.
func (s *Store) TokenUsesByDay(ctx context.Context, tenant, tokenID string, from, to time.Time) (map[time.Time]uint64, error) {
	// Day and hour are computed from the Unix time, not toDate/toHour, which
	// follow the server's time zone.
	rows, err := s.conn.Query(pointQuery(ctx), `SELECT intDiv(toUInt32(occurred_at), 86400) AS day, uniqExact(id)
		FROM token_events WHERE tenant_id = ? AND token_id = ? AND event = 'authenticated'
		AND occurred_at >= toDateTime(?) AND occurred_at < toDateTime(?) GROUP BY day`,
		tenant, tokenID, from.Unix(), to.Unix())
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[time.Time]uint64{}
	for rows.Next() {
		var day uint32
		var n uint64
		if err := rows.Scan(&day, &n); err != nil {
			return nil, err
		}
		out[time.Unix(int64(day)*86400, 0).UTC()] = n
	}
	return out, rows.Err()
}

// TokenUsesByHour counts a token's uses by UTC hour of day (0–23) with
// occurred_at in [from, to).
func (s *Store) TokenUsesByHour(ctx context.Context, tenant, tokenID string, from, to time.Time) ([24]uint64, error) {
	var out [24]uint64
	rows, err := s.conn.Query(pointQuery(ctx), `SELECT intDiv(toUInt32(occurred_at) % 86400, 3600) AS hour, uniqExact(id)
		FROM token_events WHERE tenant_id = ? AND token_id = ? AND event = 'authenticated'
		AND occurred_at >= toDateTime(?) AND occurred_at < toDateTime(?) GROUP BY hour`,
		tenant, tokenID, from.Unix(), to.Unix())
	if err != nil {
		return out, err
	}
	defer rows.Close()
	for rows.Next() {
		var hour uint32
		var n uint64
		if err := rows.Scan(&hour, &n); err != nil {
			return out, err
		}
		if hour < 24 {
			out[hour] = n
		}
	}
	return out, rows.Err()
}

// IPCount is an IP address and a number of events from it.
type IPCount struct {
	IPAddress string
	Count     uint64
}

// TokenUsesByIP counts a token's uses per IP with occurred_at in [from, to):
// at most limit, most first, ties by address.
func (s *Store) TokenUsesByIP(ctx context.Context, tenant, tokenID string, from, to time.Time, limit int) ([]IPCount, error) {
	return s.ipCounts(ctx, `SELECT ip_address, uniqExact(id) AS n FROM token_events
		WHERE tenant_id = ? AND token_id = ? AND event = 'authenticated'
		AND occurred_at >= toDateTime(?) AND occurred_at < toDateTime(?)
		GROUP BY ip_address ORDER BY n DESC, ip_address LIMIT ?`,
		tenant, tokenID, from.Unix(), to.Unix(), limit)
}

// SuspiciousTokenIPs lists the IPs with more than minFailures token events
// failed or ip_blocked at or after since, most first, ties by address.
func (s *Store) SuspiciousTokenIPs(ctx context.Context, tenant string, since time.Time, minFailures int) ([]IPCount, error) {
	return s.ipCounts(ctx, `SELECT ip_address, uniqExact(id) AS n FROM token_events_by_time
		WHERE tenant_id = ? AND occurred_at >= toDateTime(?) AND event IN ('failed', 'ip_blocked')
		GROUP BY ip_address HAVING n > ? ORDER BY n DESC, ip_address`,
		tenant, since.Unix(), minFailures)
}

func (s *Store) ipCounts(ctx context.Context, q string, args ...any) ([]IPCount, error) {
	rows, err := s.conn.Query(pointQuery(ctx), q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []IPCount
	for rows.Next() {
		var c IPCount
		if err := rows.Scan(&c.IPAddress, &c.Count); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// TokenSummary is a token's use counts (SPEC §3 /tokens/{id}/summary).
type TokenSummary struct {
	TotalUses, UsesSince uint64
	FirstUsed, LastUsed  time.Time // zero when never used
}

// TokenUseSummary counts a token's uses of all time and since a moment, and
// the times of its first and last use.
func (s *Store) TokenUseSummary(ctx context.Context, tenant, tokenID string, since time.Time) (TokenSummary, error) {
	var sum TokenSummary
	var first, last time.Time
	err := s.conn.QueryRow(pointQuery(ctx), `SELECT uniqExact(id), uniqExactIf(id, occurred_at >= toDateTime(?)),
		min(occurred_at), max(occurred_at)
		FROM token_events WHERE tenant_id = ? AND token_id = ? AND event = 'authenticated'`,
		since.Unix(), tenant, tokenID).Scan(&sum.TotalUses, &sum.UsesSince, &first, &last)
	if err != nil {
		return sum, err
	}
	if sum.TotalUses > 0 { // min and max of no rows are the zero DateTime
		sum.FirstUsed, sum.LastUsed = first, last
	}
	return sum, nil
}

// TokenEvent is one stored token event as the API shows it.
type TokenEvent struct {
	ID, TokenID, TokenName, TokenType, Environment, Event string
	UserID, IPAddress, UserAgent                          string
	Metadata                                              string // JSON object
	OccurredAt                                            time.Time
}

// TokenEventFilter selects token events of one tenant: of one token when
// TokenID is set, else of every token (read from the by-time copy).
type TokenEventFilter struct {
	TenantID string
	TokenID  string
	Events   []string  // any of these actions; empty = all
	From, To time.Time // [From, To); zero = unbounded
}

func (f TokenEventFilter) where() (string, []any) {
	var c conds
	c.and("tenant_id = ?", f.TenantID)
	if f.TokenID != "" {
		c.and("token_id = ?", f.TokenID)
	}
	if len(f.Events) > 0 {
		c.and("event IN ?", tokenInList(f.Events))
	}
	c.span(f.From, f.To)
	return c.sql()
}

// within is f's WHERE clause with its range replaced by [from, to).
func (f TokenEventFilter) within(from, to time.Time) (string, []any) {
	f.From, f.To = from, to
	return f.where()
}

func (f TokenEventFilter) table() string {
	if f.TokenID != "" {
		return "token_events"
	}
	return "token_events_by_time"
}

const tokenEventColumnsSQL = `id, token_id, token_name, toString(token_type), toString(environment), toString(event),
	user_id, ip_address, user_agent, metadata, occurred_at`

// TokenEvents returns one page of matching token events, newest first, each
// event once, and how many events match in all. now places the windows of
// the page search when f.To does not.
//
// As in loginPage: 18.16 sorts every matching row before LIMIT, so the page
// is looked for in a recent window first, widened until it holds the page.
// The count also gives the oldest and newest matching rows: windows that
// cannot hold the page (the rows spread evenly between the two) are not
// tried, a window expected to hold few rows is read whole, and a wider one
// sorts only the key columns, then fetches the page's rows. A window has no
// end but f.To, so events stamped ahead of now are in the first one.
func (s *Store) TokenEvents(ctx context.Context, f TokenEventFilter, offset, limit int, now time.Time) ([]TokenEvent, uint64, error) {
	if page, total, ok, err := s.tenantTokenEvents(ctx, f, offset, limit); err != nil || ok {
		return page, total, err
	}
	sp, err := s.countList(ctx, listRange{kind: tokenKind, table: f.table(), tenant: f.TenantID, from: f.From, to: f.To, where: f.within})
	if err != nil {
		return nil, 0, err
	}
	total, oldest, newest := sp.n, sp.oldest, sp.newest
	if total == 0 || offset >= int(total) {
		return nil, total, nil
	}
	starts, end := pageWindowStarts(f.From, f.To, now, oldest, newest, total, uint64(offset+limit))
	window := func(lo time.Time) (string, []any) {
		where, args := f.within(lo, f.To)
		return where, append(args, offset, limit)
	}
	page, err := searchPage(starts, limit, pageReads[TokenEvent]{
		whole: func(lo time.Time) bool { return expectedRows(lo, f.To, end, oldest, total) <= fullRowsMax },
		rows: func(lo time.Time) ([]TokenEvent, error) {
			where, args := window(lo)
			return s.scanTokenEvents(ctx, "SELECT "+tokenEventColumnsSQL+" FROM "+f.table()+" WHERE "+where+pageOrderSQL, args...)
		},
		keys: func(lo time.Time) ([]rowKey, error) {
			where, args := window(lo)
			return s.rowKeys(ctx, "SELECT id, occurred_at FROM "+f.table()+" WHERE "+where+pageOrderSQL, args...)
		},
		byID: func(keys []rowKey) ([]TokenEvent, error) { return s.tokenEventsByID(ctx, f, keys) },
	})
	if err != nil {
		return nil, 0, err
	}
	return page, total, nil
}

// tenantTokenEvents serves a tenant-wide list of the last hours
// (/security/failures) from the hourly rollup counts, as tenantLogins does:
// the total is their sum, and only the hours holding the page are read. ok
// is false when the counts cannot answer.
func (s *Store) tenantTokenEvents(ctx context.Context, f TokenEventFilter, offset, limit int) ([]TokenEvent, uint64, bool, error) {
	hours, older, ok, err := s.tokenTimeline(ctx, f)
	if err != nil || !ok {
		return nil, 0, false, err
	}
	span := func(lo, hi time.Time, skip uint64, limit int) (string, []any) {
		where, args := f.within(lo, hi)
		return where + pageOrderSQL, append(args, skip, limit)
	}
	return timelinePage(hours, older, f.From, f.To, offset, limit, spanReads[TokenEvent]{
		rows: func(lo, hi time.Time, skip uint64, limit int) ([]TokenEvent, error) {
			where, args := span(lo, hi, skip, limit)
			return s.scanTokenEvents(ctx, "SELECT "+tokenEventColumnsSQL+" FROM "+f.table()+" WHERE "+where, args...)
		},
		keys: func(lo, hi time.Time, skip uint64, limit int) ([]rowKey, error) {
			where, args := span(lo, hi, skip, limit)
			return s.rowKeys(ctx, "SELECT id, occurred_at FROM "+f.table()+" WHERE "+where, args...)
		},
		byID: func(keys []rowKey) ([]TokenEvent, error) { return s.tokenEventsByID(ctx, f, keys) },
	})
}

// tokenEventsByID fetches the full rows of the given events of f's tenant
// (and token, when set), in the order of keys, reading only the time span
// they cover.
func (s *Store) tokenEventsByID(ctx context.Context, f TokenEventFilter, keys []rowKey) ([]TokenEvent, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	lo, hi, ids := keySpan(keys)
	var c conds
	c.and("tenant_id = ?", f.TenantID)
	if f.TokenID != "" {
		c.and("token_id = ?", f.TokenID)
	}
	c.and("occurred_at >= toDateTime(?)", lo.Unix())
	c.and("occurred_at <= toDateTime(?)", hi.Unix())
	where, args := c.sql()
	rows, err := s.scanTokenEvents(ctx, "SELECT "+tokenEventColumnsSQL+" FROM "+f.table()+byIDSQL(len(ids))+where+newestFirstSQL,
		append(ids, args...)...)
	if err != nil {
		return nil, err
	}
	return inKeyOrder(rows, keys, func(e TokenEvent) string { return e.ID }), nil
}

func (s *Store) scanTokenEvents(ctx context.Context, q string, args ...any) ([]TokenEvent, error) {
	rows, err := s.conn.Query(pointQuery(ctx), q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []TokenEvent
	for rows.Next() {
		var e TokenEvent
		if err := rows.Scan(&e.ID, &e.TokenID, &e.TokenName, &e.TokenType, &e.Environment, &e.Event,
			&e.UserID, &e.IPAddress, &e.UserAgent, &e.Metadata, &e.OccurredAt); err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}
