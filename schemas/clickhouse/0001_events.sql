-- Raw events, one row per delivery. Ingest is at-least-once (a crash between
-- the insert and the ack re-inserts a batch; a gateway may re-publish an id
-- past JetStream's duplicate window), so a row can appear more than once.
-- ReplacingMergeTree collapses those copies in background merges (the sort key
-- ends with the event id), and every query that feeds the API counts each id
-- once (LIMIT 1 BY id, uniqExact(id)) so numbers are exact before merges too.
--
-- Portable to ClickHouse 18.16 and 23.x–26.x: DateTime plus a millisecond
-- column (no DateTime64), String and Enum8 (no LowCardinality), no TTL, no
-- codecs, no Nullable in sort keys. An absent optional string is ''.

-- Keyed by user: a user's history page and stats read a narrow range.
-- index_granularity 256 makes those point lookups cheap (see README).
CREATE TABLE IF NOT EXISTS login_events
(
    tenant_id      String,
    user_id        String,
    occurred_at    DateTime,
    occurred_ms    UInt16,
    id             String,
    status         Enum8('success' = 1, 'failed' = 2, 'blocked' = 3, '2fa_required' = 4, '2fa_failed' = 5),
    failure_reason String,
    identifier     String,
    ip_address     String,
    user_agent     String,
    device_type    Enum8('unknown' = 0, 'desktop' = 1, 'mobile' = 2, 'tablet' = 3, 'bot' = 4),
    browser        String,
    platform       String,
    country        String,
    city           String,
    latitude       Float64,
    longitude      Float64,
    user_name      String,
    user_email     String,
    metadata       String,
    ingested_at    DateTime
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(occurred_at)
ORDER BY (tenant_id, user_id, occurred_at, id)
SETTINGS index_granularity = 256;

-- The same rows ordered by time within a tenant: a tenant admin's pages,
-- analytics and retention read this copy. Filled by the view below.
CREATE TABLE IF NOT EXISTS login_events_by_time
(
    tenant_id      String,
    user_id        String,
    occurred_at    DateTime,
    occurred_ms    UInt16,
    id             String,
    status         Enum8('success' = 1, 'failed' = 2, 'blocked' = 3, '2fa_required' = 4, '2fa_failed' = 5),
    failure_reason String,
    identifier     String,
    ip_address     String,
    user_agent     String,
    device_type    Enum8('unknown' = 0, 'desktop' = 1, 'mobile' = 2, 'tablet' = 3, 'bot' = 4),
    browser        String,
    platform       String,
    country        String,
    city           String,
    latitude       Float64,
    longitude      Float64,
    user_name      String,
    user_email     String,
    metadata       String,
    ingested_at    DateTime
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(occurred_at)
ORDER BY (tenant_id, occurred_at, id)
SETTINGS index_granularity = 1024;

CREATE MATERIALIZED VIEW IF NOT EXISTS login_events_by_time_mv TO login_events_by_time AS
SELECT tenant_id, user_id, occurred_at, occurred_ms, id, status, failure_reason, identifier,
       ip_address, user_agent, device_type, browser, platform, country, city, latitude, longitude,
       user_name, user_email, metadata, ingested_at
FROM login_events;

-- Token events keyed by token: per-token usage, summary and audit log.
CREATE TABLE IF NOT EXISTS token_events
(
    tenant_id      String,
    token_id       String,
    occurred_at    DateTime,
    occurred_ms    UInt16,
    id             String,
    user_id        String,
    token_name     String,
    token_type     Enum8('sk' = 1, 'pk' = 2, 'rk' = 3),
    environment    Enum8('test' = 1, 'live' = 2),
    event          Enum8('authenticated' = 1, 'failed' = 2, 'expired' = 3, 'ip_blocked' = 4, 'domain_blocked' = 5,
                         'rate_limited' = 6, 'created' = 7, 'rotated' = 8, 'revoked' = 9),
    ip_address     String,
    user_agent     String,
    device_type    Enum8('unknown' = 0, 'desktop' = 1, 'mobile' = 2, 'tablet' = 3, 'bot' = 4),
    browser        String,
    platform       String,
    country        String,
    city           String,
    metadata       String,
    ingested_at    DateTime
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(occurred_at)
ORDER BY (tenant_id, token_id, occurred_at, id)
SETTINGS index_granularity = 256;

-- Token events by time within a tenant: security failures, suspicious IPs,
-- token analytics.
CREATE TABLE IF NOT EXISTS token_events_by_time
(
    tenant_id      String,
    token_id       String,
    occurred_at    DateTime,
    occurred_ms    UInt16,
    id             String,
    user_id        String,
    token_name     String,
    token_type     Enum8('sk' = 1, 'pk' = 2, 'rk' = 3),
    environment    Enum8('test' = 1, 'live' = 2),
    event          Enum8('authenticated' = 1, 'failed' = 2, 'expired' = 3, 'ip_blocked' = 4, 'domain_blocked' = 5,
                         'rate_limited' = 6, 'created' = 7, 'rotated' = 8, 'revoked' = 9),
    ip_address     String,
    user_agent     String,
    device_type    Enum8('unknown' = 0, 'desktop' = 1, 'mobile' = 2, 'tablet' = 3, 'bot' = 4),
    browser        String,
    platform       String,
    country        String,
    city           String,
    metadata       String,
    ingested_at    DateTime
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(occurred_at)
ORDER BY (tenant_id, occurred_at, id)
SETTINGS index_granularity = 1024;

CREATE MATERIALIZED VIEW IF NOT EXISTS token_events_by_time_mv TO token_events_by_time AS
SELECT tenant_id, token_id, occurred_at, occurred_ms, id, user_id, token_name, token_type, environment,
       event, ip_address, user_agent, device_type, browser, platform, country, city, metadata, ingested_at
FROM token_events;

-- Each user's latest profile (name, email) as gateways last sent it; read
-- with argMax(name, seen_at) so the newest wins before merges too.
CREATE TABLE IF NOT EXISTS users
(
    tenant_id String,
    user_id   String,
    name      String,
    email     String,
    seen_at   DateTime
)
ENGINE = ReplacingMergeTree(seen_at)
ORDER BY (tenant_id, user_id);
