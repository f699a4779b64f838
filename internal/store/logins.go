package store

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// Login is one stored login event as the API shows it.
type Login struct {
	ID, UserID, TenantID, IPAddress, UserAgent string
	DeviceType, Browser, Platform              string
	Status, FailureReason, Identifier          string
	Country, City                              string
	OccurredAt                                 time.Time
	Rules                                      []string // rules of the alerts that flag it
}

// LoginFilter selects login events of one tenant. An empty UserID means
// every user (a tenant admin's view).
type LoginFilter struct {
	TenantID       string
	UserID         string
	Status         string
	From, To       time.Time // [From, To); zero = unbounded
	SuspiciousOnly bool
}

// where builds the WHERE clause and its arguments; every value is bound,
// never spliced into the SQL.
func (f LoginFilter) where() (string, []any) {
	var c conds
	c.and("tenant_id = ?", f.TenantID)
	if f.UserID != "" {
		c.and("user_id = ?", f.UserID)
	}
	if f.Status != "" {
		c.and("status = ?", f.Status)
	}
	c.span(f.From, f.To)
	if f.SuspiciousOnly {
		if f.UserID != "" {
			c.and("id IN (SELECT event_id FROM alerts_by_event WHERE tenant_id = ? AND user_id = ?)", f.TenantID, f.UserID)
		} else {
			c.and("id IN (SELECT event_id FROM alerts_by_event WHERE tenant_id = ?)", f.TenantID)
		}
	}
	return c.sql()
}

// within is f's WHERE clause with its range replaced by [from, to).
func (f LoginFilter) within(from, to time.Time) (string, []any) {
	f.From, f.To = from, to
	return f.where()
}

// table picks the copy whose sort key fits: a user's rows, or a tenant's by time.
func (f LoginFilter) table() string {
	if f.UserID != "" {
		return "login_events"
	}
	return "login_events_by_time"
}

const loginColumnsSQL = `id, user_id, tenant_id, ip_address, user_agent, toString(device_type), browser, platform,
	toString(status), failure_reason, identifier, country, city, occurred_at`

// Logins returns one page of matching logins, newest first, each event once,
// and how many events match in all.
func (s *Store) Logins(ctx context.Context, f LoginFilter, offset, limit int) ([]Login, uint64, error) {
	if f.SuspiciousOnly && f.Status == "" {
		return s.flaggedLogins(ctx, f, offset, limit)
	}
	if f.UserID == "" && !f.SuspiciousOnly {
		out, total, ok, err := s.tenantLogins(ctx, f, offset, limit)
		if err != nil {
			return nil, 0, err
		}
		if ok {
			return out, total, s.attachRules(ctx, f.TenantID, "", out)
		}
	}
	total, oldest, newest, err := s.countLogins(ctx, f)
	if err != nil {
		return nil, 0, err
	}
	if total == 0 || offset >= int(total) {
		return nil, total, nil
	}
	out, err := s.loginPage(ctx, f, offset, limit, total, oldest, newest)
	if err != nil {
		return nil, 0, err
	}
	return out, total, s.attachRules(ctx, f.TenantID, f.UserID, out)
}

// flaggedLogins lists logins that alerts name, starting from the small
// alerts table instead of filtering a tenant's millions of logins by id.
// token_new_network is the one rule that fires on token events.
func (s *Store) flaggedLogins(ctx context.Context, f LoginFilter, offset, limit int) ([]Login, uint64, error) {
	var c conds
	c.and("tenant_id = ? AND rule != 'token_new_network'", f.TenantID)
	if f.UserID != "" {
		c.and("user_id = ?", f.UserID)
	}
	c.span(f.From, f.To)
	where, args := c.sql()
	// The page's keys come with their rules: every alert of a login carries
	// the login's time, so all of them are in the span read here, and the
	// rules need no query of their own. The flagged logins are the groups
	// (event ids), so the rows before the LIMIT are their count.
	rules := map[string][]string{}
	var keys []rowKey
	total, counted, err := s.eachRowCounted(pointQuery(ctx), func(r driver.Rows) error {
		var k rowKey
		var rs []string
		if err := r.Scan(&k.id, &k.at, &rs); err != nil {
			return err
		}
		rules[k.id] = rs
		keys = append(keys, k)
		return nil
	}, "SELECT event_id, max(occurred_at) AS t, groupUniqArray(rule) FROM alerts_by_event WHERE "+where+
		" GROUP BY event_id ORDER BY t DESC, event_id DESC LIMIT ?, ?", append(args, offset, limit)...)
	if err != nil {
		return nil, 0, err
	}
	if !counted { // a server that does not say: count them
		if err := s.conn.QueryRow(pointQuery(ctx), "SELECT uniqExact(event_id) FROM alerts_by_event WHERE "+where, args...).Scan(&total); err != nil {
			return nil, 0, err
		}
	}
	out, err := s.loginsByID(ctx, f.TenantID, f.UserID, keys)
	if err != nil {
		return nil, 0, err
	}
	for i := range out {
		out[i].Rules = rules[out[i].ID]
	}
	return out, total, nil
}

// countLogins counts the matching events, each once, and says when the
// oldest and the newest of them happened (zero when unknown: the
// tenant-wide count from the daily rollup). A tenant-wide count over whole days is the sum of the daily
// rollup's exact per-status counts (closed days) and a live count of the
// rest: the same numbers analytics serve, without reading millions of raw
// rows per request. Other counts keep their closed hours (countList).
func (s *Store) countLogins(ctx context.Context, f LoginFilter) (total uint64, oldest, newest time.Time, err error) {
	if f.UserID == "" && !f.SuspiciousOnly {
		if n, ok, err := s.countTenantLogins(ctx, f); err != nil || ok {
			return n, time.Time{}, time.Time{}, err
		}
	}
	r := listRange{kind: loginKind, table: f.table(), tenant: f.TenantID, from: f.From, to: f.To, where: f.within}
	var sp listSpan
	if f.SuspiciousOnly { // alerts come and go without a new rollup version: counted live
		sp, err = s.readListSpan(ctx, r, f.From, f.To)
	} else {
		sp, err = s.countList(ctx, r)
	}
	return sp.n, sp.oldest, sp.newest, err
}

func (s *Store) countTenantLogins(ctx context.Context, f LoginFilter) (uint64, bool, error) {
	from, to := f.From, f.To
	if from.IsZero() {
		// All time starts at the tenant's first rolled-up day; before the
		// job's first run there is none and the raw count answers.
		var first time.Time
		if err := s.conn.QueryRow(pointQuery(ctx), "SELECT min(bucket) FROM login_rollup_daily WHERE tenant_id = ?", f.TenantID).Scan(&first); err != nil {
			return 0, false, err
		}
		if first.Unix() <= 0 {
			return 0, false, nil
		}
		from = first
	}
	if to.IsZero() {
		to = Daily.Truncate(time.Now()).AddDate(0, 0, 2) // events stamped a little ahead count too
	}
	if !to.After(from) || to.Sub(from) > maxBuckets*24*time.Hour {
		return 0, false, nil
	}
	// The counts may miss rows (countsMiss): then the raw rows answer.
	st, err := s.cachedRollupState(ctx, loginKind.name)
	if err != nil {
		return 0, false, err
	}
	if missing, err := s.countsMissing(ctx, loginKind, st, f.TenantID, f.From, to, f.To.IsZero()); err != nil || missing {
		return 0, false, err
	}
	days, err := s.loginAnalytics(ctx, f.TenantID, Daily, Daily.Truncate(from), Daily.Truncate(to), true)
	if err != nil {
		return 0, false, err
	}
	var n uint64
	for _, d := range days {
		n += d.Count(f.Status)
	}
	if f.From.IsZero() {
		// Rows older than the first rolled-up day (the job started late) are counted live.
		var older uint64
		if err := s.conn.QueryRow(pointQuery(ctx), "SELECT uniqExact(id) FROM login_events_by_time WHERE tenant_id = ? AND occurred_at < toDateTime(?)"+statusCond(f.Status),
			append([]any{f.TenantID, from.Unix()}, statusArg(f.Status)...)...).Scan(&older); err != nil {
			return 0, false, err
		}
		n += older
	}
	return n, true, nil
}

func statusCond(status string) string {
	if status == "" {
		return ""
	}
	return " AND status = ?"
}

func statusArg(status string) []any {
	if status == "" {
		return nil
	}
	return []any{status}
}

// loginPage reads a newest-first page. ClickHouse 18.16 sorts every matching
// row before LIMIT, so the page is first looked for in a recent window of the
// sort key, widened until it holds the page (see README, Performance). When
// the oldest matching row is known, the rows are taken to be spread evenly
// since then, and windows expected to hold less than half again the rows
// the page needs are not tried. A window expected to hold few rows is read
// whole; a wider one sorts only the key columns, then fetches the page's rows.
func (s *Store) loginPage(ctx context.Context, f LoginFilter, offset, limit int, total uint64, oldest, newest time.Time) ([]Login, error) {
	if total <= directReadMax && f.Status == "" {
		// Few rows (most users): sorting them all is cheaper than probing
		// windows. Not when a status filters them: status is not in the
		// sort key, so that read scans every row of the user (22,000 for
		// the benchmark's heavy user to find 1,700 failures), and a window
		// expected to hold the page scans a fraction of them.
		return s.windowRows(ctx, f, offset, limit)
	}
	starts, end := pageWindowStarts(f.From, f.To, time.Now(), oldest, newest, total, uint64(offset+limit))
	return searchPage(starts, limit, pageReads[Login]{
		whole: func(lo time.Time) bool {
			return !oldest.IsZero() && expectedRows(lo, f.To, end, oldest, total) <= fullRowsMax
		},
		rows: func(lo time.Time) ([]Login, error) {
			wf := f
			wf.From = lo
			return s.windowRows(ctx, wf, offset, limit)
		},
		keys: func(lo time.Time) ([]rowKey, error) {
			where, args := f.within(lo, f.To)
			return s.rowKeys(ctx, "SELECT id, occurred_at FROM "+f.table()+" WHERE "+where+pageOrderSQL, append(args, offset, limit)...)
		},
		byID: func(keys []rowKey) ([]Login, error) { return s.loginsByID(ctx, f.TenantID, f.UserID, keys) },
	})
}

// windowsEnd is where the windows of a newest-first page end: at to, or
// now, or just after the newest matching row when that is known and older.
// Windows ending at now would start with hours holding nothing when the
// rows stop earlier (a user who last logged in yesterday, a quiet token).
// Only the windows' starts move: each still reaches up to the filter's to,
// so rows stamped ahead of now stay in the first one.
func windowsEnd(to, now, newest time.Time) time.Time {
	end := now
	if !to.IsZero() && to.Before(end) {
		end = to
	}
	if !newest.IsZero() {
		if after := newest.Add(time.Second); after.Before(end) {
			end = after
		}
	}
	return end
}

// pageWindowStarts are the windows a newest-first page of [from, to) is
// looked for in when the matching rows (total of them, oldest and newest
// when known) are many: the first one expected to hold the need rows, then
// wider ones. end is where they end (windowsEnd), for expectedRows.
func pageWindowStarts(from, to, now, oldest, newest time.Time, total, need uint64) (starts []time.Time, end time.Time) {
	end = windowsEnd(to, now, newest)
	starts = windowStarts(from, time.Time{}, end)
	return starts[firstWindow(starts, to, end, oldest, total, need):], end
}

// newestFirstSQL orders rows newest first, each event once; pageOrderSQL
// cuts a page of them (offset, limit).
const (
	newestFirstSQL = " ORDER BY occurred_at DESC, occurred_ms DESC, id DESC LIMIT 1 BY id"
	pageOrderSQL   = newestFirstSQL + " LIMIT ?, ?"
)

// pageReads are the ways to read the page from the window starting at lo:
// whole rows (when whole(lo)), or the page's keys and then their rows.
type pageReads[T any] struct {
	whole func(lo time.Time) bool
	rows  func(lo time.Time) ([]T, error)
	keys  func(lo time.Time) ([]rowKey, error)
	byID  func(keys []rowKey) ([]T, error)
}

// wholeReads reads every window whole: for lists without a keys-then-rows
// path (alerts, webhook deliveries).
func wholeReads[T any](rows func(lo time.Time) ([]T, error)) pageReads[T] {
	return pageReads[T]{whole: func(time.Time) bool { return true }, rows: rows}
}

// searchPage tries the windows starting at starts in turn, narrowest first,
// and returns the page from the first that holds it whole; the last window
// is the whole range, so its page is the page whatever its length.
func searchPage[T any](starts []time.Time, limit int, r pageReads[T]) ([]T, error) {
	for i, lo := range starts {
		last := i == len(starts)-1
		if r.whole(lo) {
			out, err := r.rows(lo)
			if err != nil || len(out) == limit || last {
				return out, err
			}
			continue
		}
		keys, err := r.keys(lo)
		if err != nil {
			return nil, err
		}
		if len(keys) == limit || last {
			return r.byID(keys)
		}
	}
	return nil, nil // unreachable: the last window is unbounded
}

// windowRows sorts every row matching f and returns the page of full rows.
func (s *Store) windowRows(ctx context.Context, f LoginFilter, offset, limit int) ([]Login, error) {
	where, args := f.where()
	return s.scanLogins(ctx, "SELECT "+loginColumnsSQL+" FROM "+f.table()+" WHERE "+where+pageOrderSQL, append(args, offset, limit)...)
}

// fullRowsMax is how many rows a window may be expected to hold and still be
// read whole: reading every column of a few thousand rows costs less than
// a second query for the page's rows.
var fullRowsMax uint64 = 3000 // a variable so the tests can force either read

// expectedRows is how many of total rows spread evenly over [oldest, end)
// fall in [lo, end), where end is to, or now when to is zero; 0 when
// oldest is unknown.
func expectedRows(lo, to, now, oldest time.Time, total uint64) uint64 {
	end := to
	if end.IsZero() || end.After(now) {
		end = now
	}
	if oldest.IsZero() || !end.After(oldest) {
		return 0
	}
	if lo.IsZero() || !lo.After(oldest) {
		return total
	}
	if !end.After(lo) {
		return 0
	}
	return uint64(float64(total) * float64(end.Sub(lo)) / float64(end.Sub(oldest)))
}

// firstWindow is the index of the first of starts worth trying: the
// narrowest window expected to hold half again the need rows; 0 when the
// oldest row is unknown.
func firstWindow(starts []time.Time, to, now, oldest time.Time, total, need uint64) int {
	if oldest.IsZero() {
		return 0
	}
	for i, lo := range starts {
		if expectedRows(lo, to, now, oldest, total) >= need+need/2 {
			return i
		}
	}
	return len(starts) - 1
}

// rowKey places one event (a login, a token event) in the newest-first order.
type rowKey struct {
	id string
	at time.Time
}

func (s *Store) rowKeys(ctx context.Context, q string, args ...any) ([]rowKey, error) {
	return queryRows(ctx, s, func(r driver.Rows) (k rowKey, err error) {
		return k, r.Scan(&k.id, &k.at)
	}, q, args...)
}

// inKeyOrder returns the rows in the order of keys (rows are keyed by id);
// a key without a row is skipped.
func inKeyOrder[T any](rows []T, keys []rowKey, id func(T) string) []T {
	byID := make(map[string]T, len(rows))
	for _, r := range rows {
		byID[id(r)] = r
	}
	out := make([]T, 0, len(keys))
	for _, k := range keys {
		if r, ok := byID[k.id]; ok {
			out = append(out, r)
		}
	}
	return out
}

// keySpan is the time span keys cover and their ids, to bind after IN.
func keySpan(keys []rowKey) (lo, hi time.Time, ids []any) {
	lo, hi = keys[0].at, keys[0].at
	ids = make([]any, len(keys))
	for i, k := range keys {
		ids[i] = k.id
		if k.at.Before(lo) {
			lo = k.at
		}
		if k.at.After(hi) {
			hi = k.at
		}
	}
	return lo, hi, ids
}

// directReadMax is how many matching rows a page reads without windows.
var directReadMax uint64 = 2000 // a variable so the tests can force the window path

// loginsByID fetches the full rows of the given logins of a tenant (and
// user, when known: the user-keyed table is then the narrow one), in the
// order of keys, reading only the time span they cover.
func (s *Store) loginsByID(ctx context.Context, tenant, user string, keys []rowKey) ([]Login, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	lo, hi, ids := keySpan(keys)
	table, cond, args := "login_events_by_time", "tenant_id = ?", []any{tenant}
	if user != "" {
		table, cond, args = "login_events", "tenant_id = ? AND user_id = ?", []any{tenant, user}
	}
	rows, err := s.scanLogins(ctx, "SELECT "+loginColumnsSQL+" FROM "+table+byIDSQL(len(ids))+cond+
		" AND occurred_at >= toDateTime(?) AND occurred_at <= toDateTime(?)"+newestFirstSQL, append(append(ids, args...), lo.Unix(), hi.Unix())...)
	if err != nil {
		return nil, err
	}
	return inKeyOrder(rows, keys, func(l Login) string { return l.ID }), nil
}

// byIDSQL starts the filter of a read of n rows by id: " PREWHERE id IN
// (?, …) WHERE ", to be followed by the key conditions; the ids bind first.
// PREWHERE reads the id column alone over the key range and the other
// columns only where an id matched: the page's rows of a flagged list can
// be days apart, and reading every column of a tenant's days cost 10 ms
// against 6 (measured on 18.16).
func byIDSQL(n int) string {
	return " PREWHERE id IN (" + placeholders(n) + ") WHERE "
}

// pageWindows are the spans tried, in turn, for a newest-first page.
var pageWindows = []time.Duration{time.Hour, 24 * time.Hour, 7 * 24 * time.Hour, 35 * 24 * time.Hour}

// windowStarts returns the lower bounds to try for a newest-first page of
// [from, to), narrowest first; the last is from itself, the whole range. A
// window ends at to, or has no end when to is zero, so events stamped ahead
// of now are in the first one. A window holding the whole page is exact:
// every row outside it is older.
func windowStarts(from, to, now time.Time) []time.Time {
	end := to
	if end.IsZero() {
		end = now
	}
	var out []time.Time
	for _, span := range pageWindows {
		start := end.Add(-span)
		if !from.IsZero() && !start.After(from) {
			break
		}
		out = append(out, start)
	}
	return append(out, from)
}

func (s *Store) scanLogins(ctx context.Context, q string, args ...any) ([]Login, error) {
	rows, err := s.conn.Query(pointQuery(ctx), q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Login
	for rows.Next() {
		var l Login
		if err := rows.Scan(&l.ID, &l.UserID, &l.TenantID, &l.IPAddress, &l.UserAgent, &l.DeviceType, &l.Browser,
			&l.Platform, &l.Status, &l.FailureReason, &l.Identifier, &l.Country, &l.City, &l.OccurredAt); err != nil {
			return nil, err
		}
		out = append(out, l)
	}
	return out, rows.Err()
}

// attachRules fills in the rules of the alerts that flag each login. Only
// the alerts of the logins' users are looked at: the alerts table is keyed
// by tenant, then user, and an alert carries its login's user_id (” for
// an unknown account), so a tenant's page reads a few users' ranges, not
// every alert of the tenant.
func (s *Store) attachRules(ctx context.Context, tenant, user string, logins []Login) error {
	if len(logins) == 0 {
		return nil
	}
	args := []any{tenant}
	cond := "tenant_id = ?"
	if user != "" {
		cond += " AND user_id = ?"
		args = append(args, user)
	} else {
		seen := map[string]bool{}
		for _, l := range logins {
			if !seen[l.UserID] {
				seen[l.UserID] = true
				args = append(args, l.UserID)
			}
		}
		cond += " AND user_id IN (" + placeholders(len(seen)) + ")"
	}
	for _, l := range logins {
		args = append(args, l.ID)
	}
	rows, err := s.conn.Query(pointQuery(ctx),
		`SELECT event_id, groupUniqArray(rule) FROM alerts_by_event WHERE `+cond+` AND event_id IN (`+placeholders(len(logins))+`) GROUP BY event_id`,
		args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	byEvent := map[string][]string{}
	for rows.Next() {
		var id string
		var rules []string
		if err := rows.Scan(&id, &rules); err != nil {
			return err
		}
		byEvent[id] = rules
	}
	for i := range logins {
		logins[i].Rules = byEvent[logins[i].ID]
	}
	return rows.Err()
}

// LoginStats are a user's numbers (SPEC §3 /login-history/stats).
type LoginStats struct {
	TotalLogins      uint64
	LoginsLast30Days uint64
	FailedLast30Days uint64
	SuspiciousLogins uint64
	UniqueIPsLast30  uint64
	Devices          map[string]uint64
	LastLogin        time.Time // zero when never
}

// userStatsSQL is UserLoginStats' one pass: the user's logins grouped by
// device type, status and whether they fall in the last 30 days (at most
// 50 groups), each group's distinct ids, flagged ids and latest time, and
// the distinct IPs of recent successes, whose total over every group (WITH
// TOTALS) is the one number that cannot be added up from the groups. Its
// placeholders: the start of the last 30 days twice, tenant and user (the
// alerts), tenant and user (the logins).
const userStatsSQL = `SELECT toString(device_type) AS device, toString(status) AS st,
		occurred_at >= toDateTime(?) AS recent,
		uniqExact(id), uniqExactIf(id, id IN (SELECT event_id FROM alerts_by_event WHERE tenant_id = ? AND user_id = ?)),
		max(occurred_at), uniqExactIf(ip_address, status = 'success' AND occurred_at >= toDateTime(?))
	FROM login_events WHERE tenant_id = ? AND user_id = ?
	GROUP BY device, st, recent WITH TOTALS`

// UserLoginStats computes a user's stats; "last 30 days" is the 30 × 24
// hours before now. One pass over the user's rows, grouped (userStatsSQL):
// ten counts with a condition each cost 1.7 times as much on 18.16. An
// event's copies (a redelivery) carry the same device, status and time, so
// each id is in one group and the groups' counts add up exactly; the
// flagged logins are the user's ids that the user's alerts name (token
// alerts name token events, never these).
func (s *Store) UserLoginStats(ctx context.Context, tenant, user string, now time.Time) (LoginStats, error) {
	since := now.Add(-30 * 24 * time.Hour).Unix()
	st := LoginStats{Devices: map[string]uint64{}}
	rows, err := s.conn.Query(pointQuery(ctx), userStatsSQL, since, tenant, user, since, tenant, user)
	if err != nil {
		return st, err
	}
	defer rows.Close()
	groups := 0
	for rows.Next() {
		var device, status string
		var recent uint8
		var n, flagged, ips uint64
		var last time.Time
		if err := rows.Scan(&device, &status, &recent, &n, &flagged, &last, &ips); err != nil {
			return st, err
		}
		groups++
		st.SuspiciousLogins += flagged
		switch {
		case status == "success":
			st.TotalLogins += n
			if last.After(st.LastLogin) {
				st.LastLogin = last
			}
			if recent == 1 {
				st.LoginsLast30Days += n
				st.Devices[device] += n
			}
		case (status == "failed" || status == "2fa_failed") && recent == 1:
			st.FailedLast30Days += n
		}
	}
	if err := rows.Err(); err != nil {
		return st, err
	}
	var device, status string
	var recent uint8
	var n, flagged uint64
	var last time.Time
	err = rows.Totals(&device, &status, &recent, &n, &flagged, &last, &st.UniqueIPsLast30)
	if errors.Is(err, sql.ErrNoRows) && groups == 0 {
		return st, nil // no logins: a server may send no totals then
	}
	return st, err
}

// Profile is a user's latest name and email.
type Profile struct{ Name, Email string }

// profilesCopied is the rollup_state row that says user_profiles holds
// every row of users (0008_user_profiles.sql).
const profilesCopied = "user_profiles"

// Profiles returns the latest profile of each of the given users of a
// tenant: from user_profiles, the copy of users in small granules, once
// the rows users held before the copy existed are in it; from users until
// then.
func (s *Store) Profiles(ctx context.Context, tenant string, users []string) (map[string]Profile, error) {
	out := map[string]Profile{}
	if len(users) == 0 {
		return out, nil
	}
	table := "users"
	if st, err := s.cachedRollupState(ctx, profilesCopied); err != nil {
		return nil, err
	} else if st.version > 0 {
		table = "user_profiles"
	}
	rows, err := s.conn.Query(pointQuery(ctx), `SELECT user_id, argMax(name, seen_at), argMax(email, seen_at)
		FROM `+table+` WHERE tenant_id = ? AND user_id IN (`+placeholders(len(users))+`) GROUP BY user_id`,
		append([]any{tenant}, anySlice(users)...)...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var p Profile
		if err := rows.Scan(&id, &p.Name, &p.Email); err != nil {
			return nil, err
		}
		out[id] = p
	}
	return out, rows.Err()
}

// placeholders returns "?, ?, ..." for an IN list: 18.16 reads a bound Go
// slice as an array, which IN does not take.
func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

func anySlice(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}
