-- The users table again, in granules of 256 rows instead of 8,192. A
-- tenant's history page looks up the latest profile of the 25–100 users on
-- it; in users that reads every granule those users fall in, five of
-- 8,192 rows for the benchmark's big tenant, here about one small granule
-- per user (measured on 18.16 with 8 clients: 3.2 → 2.0 ms of CPU a
-- lookup). ClickHouse cannot change a table's granularity, hence a copy.
--
-- Ingest keeps writing users (an older ingest during a rolling upgrade
-- too); the view copies every insert. The rows users held before the view
-- existed are copied below, and the rollup_state row "user_profiles" says
-- so: readers use this table only once it is there, users until then.
-- Running this again (two services migrating at once) copies the rows
-- twice: harmless, reads take argMax(…, seen_at) as on users.
--
-- A cluster's schema file (deploy/clickhouse/cluster.sql) carries INSERTs
-- only as comments: on a cluster upgraded from an older schema the
-- operator runs both once after applying it, on a new cluster the second
-- alone (there is nothing to copy). Until then reads use users: the same
-- answers, at the old cost.
CREATE TABLE IF NOT EXISTS user_profiles
(
    tenant_id String,
    user_id   String,
    name      String,
    email     String,
    seen_at   DateTime
)
ENGINE = ReplacingMergeTree(seen_at)
ORDER BY (tenant_id, user_id)
SETTINGS index_granularity = 256;

CREATE MATERIALIZED VIEW IF NOT EXISTS user_profiles_mv TO user_profiles AS
SELECT tenant_id, user_id, name, email, seen_at
FROM users;

INSERT INTO user_profiles (tenant_id, user_id, name, email, seen_at)
SELECT tenant_id, user_id, name, email, seen_at
FROM users;

INSERT INTO rollup_state (name, hours_complete_before, days_complete_before, swept_at, version)
SELECT 'user_profiles', toDateTime(0), toDateTime(0), now(), toUInt64(1);
