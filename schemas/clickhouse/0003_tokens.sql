-- What the token API needs to know about a token without reading its history
-- (SPEC §3 "Token usage"): who owns it, its latest type, environment and name,
-- and whether it was ever revoked. One row per (tenant, token) after merges;
-- read with the -Merge functions and GROUP BY token_id, so rows not merged yet
-- combine the same way.
--
-- Every state here gives the same answer when an event is seen twice
-- (redelivery): argMax of a copy is the same value, max too. The one sum,
-- use_rows, counts authenticated ROWS, so it overcounts by the copies not yet
-- merged away; it is only ever read as an upper bound of a token's uses (to
-- pick the candidates of /tokens/top, whose exact counts come from the raw
-- events), never shown.
--
-- A row is small and most reads want a few tokens (one, or a user's), so a
-- fine index granularity keeps them from reading 256 rows per token.
--
-- "Latest" orders by occurred_at then occurred_ms (the key below); two events
-- of one token in the same millisecond that disagree on type or owner resolve
-- to either.
CREATE TABLE IF NOT EXISTS token_summary
(
    tenant_id   String,
    token_id    String,
    owner       AggregateFunction(argMax, String, UInt64),
    token_name  AggregateFunction(argMax, String, UInt64),
    token_type  AggregateFunction(argMax, String, UInt64),
    environment AggregateFunction(argMax, String, UInt64),
    revoked     AggregateFunction(max, UInt8),
    use_rows    AggregateFunction(sum, UInt64)
)
ENGINE = AggregatingMergeTree
ORDER BY (tenant_id, token_id)
SETTINGS index_granularity = 64;

-- token_name: the latest NON-EMPTY name; an event without a name is ranked
-- at 0 so that any named event wins over it.
CREATE MATERIALIZED VIEW IF NOT EXISTS token_summary_mv TO token_summary AS
SELECT tenant_id, token_id,
       argMaxState(user_id, toUInt64(occurred_at) * 1000 + occurred_ms) AS owner,
       argMaxState(token_name, if(token_name = '', toUInt64(0), toUInt64(occurred_at) * 1000 + occurred_ms)) AS token_name,
       argMaxState(toString(token_type), toUInt64(occurred_at) * 1000 + occurred_ms) AS token_type,
       argMaxState(toString(environment), toUInt64(occurred_at) * 1000 + occurred_ms) AS environment,
       maxState(toUInt8(event = 'revoked')) AS revoked,
       sumState(toUInt64(event = 'authenticated')) AS use_rows
FROM token_events
GROUP BY tenant_id, token_id;

-- Which tokens name a user on any of their events: a non-admin's token list
-- (stats, top) reads this narrow range instead of the tenant's tokens, then
-- keeps those whose owner (token_summary) is that user.
CREATE TABLE IF NOT EXISTS token_users
(
    tenant_id String,
    user_id   String,
    token_id  String
)
ENGINE = ReplacingMergeTree
ORDER BY (tenant_id, user_id, token_id)
SETTINGS index_granularity = 256;

CREATE MATERIALIZED VIEW IF NOT EXISTS token_users_mv TO token_users AS
SELECT tenant_id, user_id, token_id
FROM token_events
GROUP BY tenant_id, user_id, token_id;

-- Each IP's latest use (authenticated event) within a tenant, for an
-- admin's /tokens/stats unique_ips: the IPs used in a window ending now are
-- those whose latest use falls in it, so the answer reads one row per IP
-- instead of every use of the window. ReplacingMergeTree(last_use) keeps the
-- latest row on merge; reads take max(last_use) per IP so rows not merged
-- yet give the same answer. A copy of an event changes no maximum.
CREATE TABLE IF NOT EXISTS token_use_ips
(
    tenant_id  String,
    ip_address String,
    last_use   DateTime
)
ENGINE = ReplacingMergeTree(last_use)
ORDER BY (tenant_id, ip_address);

CREATE MATERIALIZED VIEW IF NOT EXISTS token_use_ips_mv TO token_use_ips AS
SELECT tenant_id, ip_address, max(occurred_at) AS last_use
FROM token_events
WHERE event = 'authenticated'
GROUP BY tenant_id, ip_address;

-- Backfill from events stored before this migration. Running it again (two
-- services migrating at once, a restart half way) is harmless: every state
-- above tolerates copies, use_rows is an upper bound, token_users and
-- token_use_ips replace.
INSERT INTO token_summary (tenant_id, token_id, owner, token_name, token_type, environment, revoked, use_rows)
SELECT tenant_id, token_id,
       argMaxState(user_id, toUInt64(occurred_at) * 1000 + occurred_ms),
       argMaxState(token_name, if(token_name = '', toUInt64(0), toUInt64(occurred_at) * 1000 + occurred_ms)),
       argMaxState(toString(token_type), toUInt64(occurred_at) * 1000 + occurred_ms),
       argMaxState(toString(environment), toUInt64(occurred_at) * 1000 + occurred_ms),
       maxState(toUInt8(event = 'revoked')),
       sumState(toUInt64(event = 'authenticated'))
FROM token_events
GROUP BY tenant_id, token_id;

INSERT INTO token_users (tenant_id, user_id, token_id)
SELECT tenant_id, user_id, token_id
FROM token_events
GROUP BY tenant_id, user_id, token_id;

INSERT INTO token_use_ips (tenant_id, ip_address, last_use)
SELECT tenant_id, ip_address, max(occurred_at)
FROM token_events
WHERE event = 'authenticated'
GROUP BY tenant_id, ip_address;
