package main

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/authwatch/authwatch/internal/store"
)

// The seeded data set. Everything is a deterministic function of the row
// number, so two seeds of the same size hold the same tenants, users, tokens
// and ids (only the times move with the clock).
//
//   - Tenants are "tenant-0" … "tenant-999". tenant-0 holds 40 % of the rows;
//     the others follow a log-uniform (zipf, s = 1) law: tenant k gets a share
//     ln((k+1)/k) / ln(1000) of the remaining 60 %.
//   - Users are "user-<tenant>-<n>", 40,000 in tenant-0 and ~60,000 spread over
//     the others in proportion to their rows. Within a tenant user n is picked
//     as floor(users × r²) for a uniform r, so user 0 is heavy (~20k logins in
//     tenant-0) and the median user has ~100.
//   - Tokens are "tok_<tenant>_<n>", 20,000 in tenant-0 and ~30,000 elsewhere,
//     picked the same way (tok_0_0 is the busiest, ~28k events); a token's
//     owner, type, environment and client are functions of the token.
//   - Every 50th row repeats the row before it (same id, same content): 2 % of
//     events are stored twice, as redelivery leaves them.
//   - Failed token events (failed, ip_blocked), failed logins on unknown
//     accounts and blocked logins come from 8 attacker IPs per tenant, so the
//     suspicious-IP list has something to find.
const (
	bigTenant   = "tenant-0"
	heavyUser   = "user-0-0"
	normalUser  = "user-0-10000" // floor(40000 × 0.5²): a median user
	tenantAdmin = "admin-0"      // any sub will do; the permission is what counts
	busyToken   = "tok_0_0"
	seedDays    = 90
	markerTable = "bench_query_seed"
	// Rows per INSERT … SELECT: the server answers an INSERT only when it is
	// done, and store's connection gives up on a silent server after 60 s;
	// 250k rows take ~2 s alone and stay well under that on a busy machine.
	seedChunkRows = 250_000
)

// usersOfTenantSQL is the number of users of tenant t (a UInt64 column).
const usersOfTenantSQL = `toUInt32(if(t = 0, 40000, greatest(1, round(60000 * log((t + 1) / t) / log(1000)))))`

// tokensOfTenantSQL is the number of tokens of tenant t.
const tokensOfTenantSQL = `toUInt32(if(t = 0, 20000, greatest(1, round(30000 * log((t + 1) / t) / log(1000)))))`

// rowsSQL numbers the rows of one chunk as e (the event, shared by a row and
// its redelivered copy) and picks the tenant t. %[1]d is the chunk's first
// row, %[2]d its size.
const rowsSQL = `
        SELECT
            n - (n %% 50 = 49) AS e,
            if(cityHash64(e, 'big') %% 1000 < 400, 0,
               toUInt32(floor(exp((cityHash64(e, 'tenant') %% 1000000) / 1000000 * log(1000))))) AS t
        FROM (SELECT number + %[1]d AS n FROM numbers(%[2]d))`

// loginSQL generates login events server-side. %[3]d is "now" (unix seconds):
// occurred_at spreads uniformly over the 90 days before it. Status mix: 85 %
// success, 9 % failed (a tenth of them on unknown accounts), 2 % blocked,
// 2.5 % 2fa_required, 1.5 % 2fa_failed.
const loginSQL = `
INSERT INTO login_events (tenant_id, user_id, occurred_at, occurred_ms, id, status, failure_reason, identifier,
    ip_address, user_agent, device_type, browser, platform, country, city, latitude, longitude,
    user_name, user_email, metadata, ingested_at)
SELECT
    concat('tenant-', toString(t)) AS tenant_id,
    if(unknown, '', concat('user-', toString(t), '-', toString(u))) AS user_id,
    toDateTime(%[3]d - (cityHash64(e, 'when') %% %[4]d)) AS occurred_at,
    toUInt16(cityHash64(e, 'ms') %% 1000) AS occurred_ms,
    concat('L', lower(hex(cityHash64(e, 'id1'))), lower(hex(cityHash64(e, 'id2')))) AS id,
    CAST(status_name AS Enum8('success' = 1, 'failed' = 2, 'blocked' = 3, '2fa_required' = 4, '2fa_failed' = 5)) AS status,
    multiIf(status_name = 'failed', if(unknown, 'unknown_user', 'invalid_password'), status_name = 'blocked', 'account_locked',
        status_name = '2fa_failed', 'invalid_otp', '') AS failure_reason,
    if(unknown, concat('nobody', toString(cityHash64(e, 'who') %% 5000), '@example.com'), '') AS identifier,
    IPv4NumToString(toUInt32(if(unknown OR status_name = 'blocked',
        cityHash64(t, 'attacker', cityHash64(e, 'atk') %% 8),
        cityHash64(t, u, 'ip', if(cityHash64(e, 'ipk') %% 10 < 7, 0, cityHash64(e, 'ipk') %% 3))) %% 4294967296)) AS ip_address,
    ['Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36',
     'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15',
     'Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36',
     'Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1',
     'Mozilla/5.0 (iPad; CPU OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1',
     'Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0'][device + 1] AS user_agent,
    CAST(['desktop', 'desktop', 'mobile', 'mobile', 'tablet', 'desktop'][device + 1]
        AS Enum8('unknown' = 0, 'desktop' = 1, 'mobile' = 2, 'tablet' = 3, 'bot' = 4)) AS device_type,
    ['Chrome', 'Safari', 'Chrome Mobile', 'Mobile Safari', 'Mobile Safari', 'Firefox'][device + 1] AS browser,
    ['Windows', 'macOS', 'Android', 'iOS', 'iPadOS', 'Linux'][device + 1] AS platform,
    ['US', 'US', 'DE', 'FR', 'GB', 'JP', 'BR', 'IN'][place + 1] AS country,
    ['New York', 'San Francisco', 'Berlin', 'Paris', 'London', 'Tokyo', 'Sao Paulo', 'Mumbai'][place + 1] AS city,
    [40.71, 37.77, 52.52, 48.86, 51.51, 35.68, -23.55, 19.08][place + 1] AS latitude,
    [-74.01, -122.42, 13.40, 2.35, -0.13, 139.69, -46.63, 72.88][place + 1] AS longitude,
    if(unknown, '', concat('User ', toString(t), '-', toString(u))) AS user_name,
    if(unknown, '', concat('user', toString(u), '@tenant', toString(t), '.example')) AS user_email,
    '{}' AS metadata,
    occurred_at + 2 AS ingested_at
FROM
(
    SELECT
        e, t, u,
        multiIf(s < 850, 'success', s < 940, 'failed', s < 960, 'blocked', s < 985, '2fa_required', '2fa_failed') AS status_name,
        status_name = 'failed' AND cityHash64(e, 'unknown') %% 10 = 0 AS unknown,
        (cityHash64(t, u, 'device') + (cityHash64(e, 'dev2') %% 10 = 0)) %% 6 AS device,
        (cityHash64(t, u, 'home') + (cityHash64(e, 'trip') %% 30 = 0) * (1 + cityHash64(e, 'where') %% 7)) %% 8 AS place
    FROM
    (
        SELECT
            e, t,
            toUInt32(floor(` + usersOfTenantSQL + ` * pow((cityHash64(e, 'user') %% 1000000) / 1000000, 2))) AS u,
            cityHash64(e, 'status') %% 1000 AS s
        FROM
        (` + rowsSQL + `
        )
    )
)`

// tokenSQL generates token events the same way. Event mix: 90 %
// authenticated, 4 % failed, 1.5 % expired, 1 % ip_blocked, 0.5 %
// domain_blocked, 2 % rate_limited, and a few created, rotated, revoked.
const tokenSQL = `
INSERT INTO token_events (tenant_id, token_id, occurred_at, occurred_ms, id, user_id, token_name, token_type, environment,
    event, ip_address, user_agent, device_type, browser, platform, country, city, metadata, ingested_at)
SELECT
    concat('tenant-', toString(t)) AS tenant_id,
    concat('tok_', toString(t), '_', toString(k)) AS token_id,
    toDateTime(%[3]d - (cityHash64(e, 'when') %% %[4]d)) AS occurred_at,
    toUInt16(cityHash64(e, 'ms') %% 1000) AS occurred_ms,
    concat('T', lower(hex(cityHash64(e, 'id1'))), lower(hex(cityHash64(e, 'id2')))) AS id,
    concat('user-', toString(t), '-', toString(owner)) AS user_id,
    concat('key ', toString(k)) AS token_name,
    CAST(['sk', 'pk', 'rk'][cityHash64(t, k, 'type') %% 3 + 1] AS Enum8('sk' = 1, 'pk' = 2, 'rk' = 3)) AS token_type,
    CAST(if(cityHash64(t, k, 'env') %% 10 < 3, 'test', 'live') AS Enum8('test' = 1, 'live' = 2)) AS environment,
    CAST(event_name AS Enum8('authenticated' = 1, 'failed' = 2, 'expired' = 3, 'ip_blocked' = 4, 'domain_blocked' = 5,
        'rate_limited' = 6, 'created' = 7, 'rotated' = 8, 'revoked' = 9)) AS event,
    IPv4NumToString(toUInt32(if(event_name IN ('failed', 'ip_blocked'),
        cityHash64(t, 'attacker', cityHash64(e, 'atk') %% 8),
        cityHash64(t, k, 'ip', cityHash64(e, 'ipk') %% 4)) %% 4294967296)) AS ip_address,
    ['curl/8.5.0', 'python-requests/2.31.0', 'Go-http-client/1.1', 'node-fetch/1.0', 'okhttp/4.12.0'][cityHash64(t, k, 'ua') %% 5 + 1] AS user_agent,
    CAST('unknown' AS Enum8('unknown' = 0, 'desktop' = 1, 'mobile' = 2, 'tablet' = 3, 'bot' = 4)) AS device_type,
    '' AS browser,
    '' AS platform,
    ['US', 'US', 'DE', 'FR', 'GB', 'JP', 'BR', 'IN'][cityHash64(t, k, 'home') %% 8 + 1] AS country,
    ['New York', 'San Francisco', 'Berlin', 'Paris', 'London', 'Tokyo', 'Sao Paulo', 'Mumbai'][cityHash64(t, k, 'home') %% 8 + 1] AS city,
    '{}' AS metadata,
    occurred_at + 2 AS ingested_at
FROM
(
    SELECT
        e, t, k,
        toUInt32(floor(` + usersOfTenantSQL + ` * pow((cityHash64(t, k, 'owner') %% 1000000) / 1000000, 2))) AS owner,
        multiIf(s < 900, 'authenticated', s < 940, 'failed', s < 955, 'expired', s < 965, 'ip_blocked', s < 970, 'domain_blocked',
            s < 990, 'rate_limited', s < 994, 'created', s < 997, 'rotated', 'revoked') AS event_name
    FROM
    (
        SELECT
            e, t,
            toUInt32(floor(` + tokensOfTenantSQL + ` * pow((cityHash64(e, 'token') %% 1000000) / 1000000, 2))) AS k,
            cityHash64(e, 'event') %% 1000 AS s
        FROM
        (` + rowsSQL + `
        )
    )
)`

// usersSQL writes every user's profile, as a gateway's login events would
// have left it. %[1]d is "now".
const usersSQL = `
INSERT INTO users (tenant_id, user_id, name, email, seen_at)
SELECT
    concat('tenant-', toString(t)),
    concat('user-', toString(t), '-', toString(u)),
    concat('User ', toString(t), '-', toString(u)),
    concat('user', toString(u), '@tenant', toString(t), '.example'),
    toDateTime(%[1]d)
FROM
(
    SELECT t, arrayJoin(range(users)) AS u
    FROM (SELECT number AS t, ` + usersOfTenantSQL + ` AS users FROM numbers(1000))
)`

// alertsSQL flags one successful login in 2,000 (~4,000 alerts), with the
// alert JSON of SPEC §4; alerts_by_event fills from its view. Not a format
// string: it runs as is.
const alertsSQL = `
INSERT INTO alerts (tenant_id, occurred_at, occurred_ms, id, event_id, user_id, rule, severity, ip_address, country, detected_at, alert)
SELECT
    tenant_id, occurred_at, occurred_ms, alert_id, event_id, user_id, rule,
    CAST(severity_name AS Enum8('low' = 1, 'medium' = 2, 'high' = 3)),
    ip_address, country, occurred_at + 1,
    concat('{"id":"', alert_id, '","tenant_id":"', tenant_id, '","user_id":"', user_id, '","event_id":"', event_id,
        '","rule":"', rule, '","severity":"', severity_name, '","reasons":["seeded by bench-query"],"ip_address":"', ip_address,
        '","country":"', country, '","occurred_at":"', formatDateTime(occurred_at, '%Y-%m-%dT%H:%M:%SZ', 'UTC'),
        '","detected_at":"', formatDateTime(occurred_at + 1, '%Y-%m-%dT%H:%M:%SZ', 'UTC'), '"}')
FROM
(
    SELECT
        tenant_id, occurred_at, occurred_ms, id AS event_id, user_id, ip_address, country,
        ['new_device', 'new_country', 'impossible_travel', 'failures_then_success', 'unusual_hour'][cityHash64(id, 'rule') % 5 + 1] AS rule,
        transform(rule, ['new_device', 'new_country', 'impossible_travel', 'failures_then_success', 'unusual_hour'],
            ['low', 'medium', 'high', 'high', 'low'], 'low') AS severity_name,
        lower(hex(cityHash64(id, rule))) AS alert_id
    FROM login_events
    WHERE status = 'success' AND cityHash64(id, 'alert') % 2000 = 0
    LIMIT 1 BY tenant_id, id
)`

// seedSize is what a seeded database holds; the marker table records it.
type seedSize struct {
	Logins, Tokens uint64
	Migrations     string // schemaVersion(): a new or edited migration means reseed
}

// marker is the row of the marker table.
type marker struct {
	seedSize
	SeededAt time.Time
}

// ensureSeeded returns an open store on a database holding want, seeding it
// (from scratch) when it does not, or when reseed is set.
func ensureSeeded(ctx context.Context, cfg store.Config, want seedSize, reseed bool, out io.Writer) (*store.Store, error) {
	st, err := store.Open(ctx, cfg)
	if err != nil {
		return nil, err
	}
	want.Migrations, err = schemaVersion()
	if err != nil {
		st.Close()
		return nil, err
	}
	m, ours, complete, err := readMarker(ctx, st)
	if err != nil {
		st.Close()
		return nil, err
	}
	switch {
	case complete && !reseed && m.seedSize == want:
		fmt.Fprintf(out, "reusing %s: %d logins, %d token events, seeded %s ago (-reseed to start over)\n",
			cfg.Database, m.Logins, m.Tokens, time.Since(m.SeededAt).Round(time.Minute))
		return st, nil
	case complete:
		fmt.Fprintf(out, "reseeding %s (it holds %d logins, %d token events, migrations %s)\n", cfg.Database, m.Logins, m.Tokens, m.Migrations)
	case ours:
		fmt.Fprintf(out, "reseeding %s (an earlier seed did not finish)\n", cfg.Database)
	default:
		// Not created by this tool: refuse to drop a database that holds events.
		var rows uint64
		if err := st.Conn().QueryRow(ctx, "SELECT count() FROM login_events").Scan(&rows); err != nil {
			st.Close()
			return nil, err
		}
		if rows > 0 {
			st.Close()
			return nil, fmt.Errorf("database %s holds %d login events that bench-query did not seed; pick another -db", cfg.Database, rows)
		}
	}

	// Start from an empty database so no earlier rows skew the numbers.
	if err := st.Conn().Exec(ctx, "DROP DATABASE IF EXISTS "+cfg.Database); err != nil {
		st.Close()
		return nil, err
	}
	st.Close()
	if st, err = store.Open(ctx, cfg); err != nil {
		return nil, err
	}
	if err := seed(ctx, st, want, out); err != nil {
		st.Close()
		return nil, err
	}
	return st, nil
}

// schemaVersion names the schema the seed was made with: the migration
// versions and a hash of their statements, so that a migration added, or one
// edited in place, makes the next run seed again (store.Open does not apply an
// edited migration to a database that already has it).
func schemaVersion() (string, error) {
	migs, err := store.Migrations()
	if err != nil {
		return "", err
	}
	h := sha256.New()
	versions := make([]string, len(migs))
	for i, m := range migs {
		versions[i] = strconv.FormatUint(uint64(m.Version), 10)
		fmt.Fprintf(h, "%d\n", m.Version)
		for _, stmt := range m.Statements {
			fmt.Fprintf(h, "%s\n;\n", stmt)
		}
	}
	return fmt.Sprintf("%s@%x", strings.Join(versions, ","), h.Sum(nil)[:6]), nil
}

// readMarker reads the marker table: ours says the database was created by
// this tool (the table exists), complete that a seed finished (it has its row).
func readMarker(ctx context.Context, st *store.Store) (m marker, ours, complete bool, err error) {
	var exists uint8
	if err := st.Conn().QueryRow(ctx, "EXISTS TABLE "+markerTable).Scan(&exists); err != nil {
		return m, false, false, err
	}
	if exists == 0 {
		return m, false, false, nil
	}
	rows, err := st.Conn().Query(ctx, "SELECT logins, tokens, migrations, seeded_at FROM "+markerTable)
	if err != nil {
		return m, true, false, err
	}
	defer rows.Close()
	for rows.Next() {
		if err := rows.Scan(&m.Logins, &m.Tokens, &m.Migrations, &m.SeededAt); err != nil {
			return m, true, false, err
		}
		complete = true
	}
	return m, true, complete, rows.Err()
}

// seed fills an empty, migrated database. Login and token events are
// generated in parallel (one INSERT … SELECT stream each, the two cores);
// the materialized views fill the by-time copies and token tables as they go.
func seed(ctx context.Context, st *store.Store, size seedSize, out io.Writer) error {
	conn := st.Conn()
	now := time.Now().Unix()
	span := seedDays * 24 * 3600
	t0 := time.Now()
	fmt.Fprintf(out, "seeding %s: %d logins and %d token events over %d days...\n", st.Database(), size.Logins, size.Tokens, seedDays)

	// The marker table, empty until the seed completes, says the database is
	// ours: an interrupted seed is dropped and redone on the next run.
	if err := conn.Exec(ctx, "CREATE TABLE IF NOT EXISTS "+markerTable+
		" (logins UInt64, tokens UInt64, migrations String, seeded_at DateTime) ENGINE = Log"); err != nil {
		return err
	}
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, job := range []struct {
		name  string
		sql   string
		total uint64
	}{{"logins", loginSQL, size.Logins}, {"token events", tokenSQL, size.Tokens}} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for from := uint64(0); from < job.total; from += seedChunkRows {
				n := min(seedChunkRows, job.total-from)
				if err := conn.Exec(ctx, fmt.Sprintf(job.sql, from, n, now, span)); err != nil {
					errs[i] = fmt.Errorf("seed %s at row %d: %w", job.name, from, err)
					return
				}
				if (from+n)%2_000_000 == 0 || from+n == job.total {
					fmt.Fprintf(out, "  %s: %d/%d rows (%s)\n", job.name, from+n, job.total, time.Since(t0).Round(time.Second))
				}
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if err := conn.Exec(ctx, fmt.Sprintf(usersSQL, now)); err != nil {
		return fmt.Errorf("seed users: %w", err)
	}
	if err := conn.Exec(ctx, alertsSQL); err != nil {
		return fmt.Errorf("seed alerts: %w", err)
	}
	// Values are ours (numbers and a list of numbers), not user input.
	if err := conn.Exec(ctx, fmt.Sprintf("INSERT INTO %s (logins, tokens, migrations, seeded_at) SELECT %d, %d, '%s', toDateTime(%d)",
		markerTable, size.Logins, size.Tokens, size.Migrations, now)); err != nil {
		return err
	}
	fmt.Fprintf(out, "seeded in %s\n", time.Since(t0).Round(time.Second))
	return nil
}

// runRollup brings the analytics rollups up to date, as cmd/query's job does
// every minute: after a fresh seed it rolls up the 90 days; on a reused
// database only what the clock has closed since.
func runRollup(ctx context.Context, st *store.Store, out io.Writer) error {
	t0 := time.Now()
	if err := store.NewRollup(st, store.RollupConfig{}).RunOnce(ctx, time.Now()); err != nil {
		return fmt.Errorf("analytics rollup: %w", err)
	}
	fmt.Fprintf(out, "analytics rollup ran in %s\n", time.Since(t0).Round(time.Millisecond))
	return nil
}

// mergeParts merges the closed months, as cmd/query's retention loop
// does every hour: a live install whose months closed weeks ago has had
// them merged long before; a fresh seed has written all 90 days at once.
// Then it merges the summary tables, as cmd/query does every 10 minutes.
func mergeParts(ctx context.Context, st *store.Store, out io.Writer) error {
	t0 := time.Now()
	merged, err := st.CompactClosed(ctx, time.Now())
	if err != nil {
		return err
	}
	if len(merged) > 0 {
		fmt.Fprintf(out, "merged %d closed months in %s\n", len(merged), time.Since(t0).Round(time.Second))
	}
	t0 = time.Now()
	summaries, err := st.MergeSummaries(ctx)
	if err != nil {
		return err
	}
	if len(summaries) > 0 {
		fmt.Fprintf(out, "merged %d summary tables in %s\n", len(summaries), time.Since(t0).Round(time.Millisecond))
	}
	return nil
}

// waitForMerges waits (up to limit) until ClickHouse has no background merge
// running in the database, so that the first endpoints measured do not
// compete with the merges a fresh seed or rollup leaves behind.
func waitForMerges(ctx context.Context, st *store.Store, limit time.Duration, out io.Writer) error {
	t0 := time.Now()
	for {
		var n uint64
		if err := st.Conn().QueryRow(ctx, "SELECT count() FROM system.merges WHERE database = ?", st.Database()).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			if waited := time.Since(t0); waited > time.Second {
				fmt.Fprintf(out, "waited %s for background merges\n", waited.Round(time.Second))
			}
			return nil
		}
		if time.Since(t0) > limit {
			fmt.Fprintf(out, "%d background merges still running after %s; measuring anyway\n", n, limit)
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
}
