-- Analytics rollups (SPEC §3 "Analytics for analysts"): exact, deduplicated
-- counts for each closed (tenant, hour) and (tenant, day), written by the
-- rollup job (store.Rollup) with INSERT … SELECT from the *_by_time tables.
--
-- Why not a materialized view into SummingMergeTree: the raw tables receive
-- redelivered copies of an event, and a sum over inserted rows counts each
-- copy (measured: overcounts by exactly the redelivery rate); exact
-- uniqExactState rollups are as slow to read as the raw rows. The job counts
-- each event id once per bucket, so a row here is exact for its bucket.
--
-- A bucket is recomputed by writing its row again with a higher version;
-- ReplacingMergeTree(version) keeps the newest on merge and reads take
-- argMax(…, version) so the newest wins before merges too. A (tenant, bucket)
-- with no events has no row: rollup_state says up to where the rollup is
-- complete, so a missing row below that mark means zero, and everything from
-- the mark on is computed live by the API from the raw rows.
--
-- unique_* are exact per bucket and must not be added across buckets: the
-- daily tables are computed from the raw rows, never from the hourly ones.
--
-- Column names spell 2fa_… as twofa_… (an identifier cannot start with a
-- digit); the API renames them. Portable to 18.16 and current releases.

CREATE TABLE IF NOT EXISTS login_rollup_hourly
(
    tenant_id      String,
    bucket         DateTime,
    success        UInt64,
    failed         UInt64,
    blocked        UInt64,
    twofa_required UInt64,
    twofa_failed   UInt64,
    unique_users   UInt64,
    unique_ips     UInt64,
    version        UInt64
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(bucket)
ORDER BY (tenant_id, bucket);

CREATE TABLE IF NOT EXISTS login_rollup_daily
(
    tenant_id      String,
    bucket         DateTime,
    success        UInt64,
    failed         UInt64,
    blocked        UInt64,
    twofa_required UInt64,
    twofa_failed   UInt64,
    unique_users   UInt64,
    unique_ips     UInt64,
    version        UInt64
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYear(bucket)
ORDER BY (tenant_id, bucket);

-- test_uses / live_uses are by_environment.test / .live: authenticated
-- events per environment.
CREATE TABLE IF NOT EXISTS token_rollup_hourly
(
    tenant_id      String,
    bucket         DateTime,
    authenticated  UInt64,
    failed         UInt64,
    expired        UInt64,
    ip_blocked     UInt64,
    domain_blocked UInt64,
    rate_limited   UInt64,
    created        UInt64,
    rotated        UInt64,
    revoked        UInt64,
    unique_tokens  UInt64,
    test_uses      UInt64,
    live_uses      UInt64,
    version        UInt64
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(bucket)
ORDER BY (tenant_id, bucket);

CREATE TABLE IF NOT EXISTS token_rollup_daily
(
    tenant_id      String,
    bucket         DateTime,
    authenticated  UInt64,
    failed         UInt64,
    expired        UInt64,
    ip_blocked     UInt64,
    domain_blocked UInt64,
    rate_limited   UInt64,
    created        UInt64,
    rotated        UInt64,
    revoked        UInt64,
    unique_tokens  UInt64,
    test_uses      UInt64,
    live_uses      UInt64,
    version        UInt64
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYear(bucket)
ORDER BY (tenant_id, bucket);

-- The job's progress, one row per event kind ('logins', 'tokens'), newest
-- version wins: every bucket before hours_complete_before (hourly) or
-- days_complete_before (daily) has been computed for every tenant; swept_at
-- is when the last complete run started (rows ingested since then, less a
-- margin, are looked for in older buckets on the next run).
CREATE TABLE IF NOT EXISTS rollup_state
(
    name                 String,
    hours_complete_before DateTime,
    days_complete_before  DateTime,
    swept_at             DateTime,
    version              UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY name;
