-- Events stored into an hour the analytics rollup may already have counted:
-- those ingested at least Settle (5 min, the rollup job's default) after
-- their hour closed. The job counts a closed hour once it has settled and
-- counts it again on a later run when such an event arrives (0004 and
-- internal/store/rollup.go), so until that run the hour's count misses it.
-- The tenant-wide newest-first lists (/login-history/tenant,
-- /security/failures) find their pages by walking those hourly counts;
-- they ask here, by ingest time, whether any event of their window arrived
-- late since the job last swept, and if one did they read the list
-- without the counts, so a page never skips or repeats a row.
--
-- In normal operation events arrive within seconds and nothing is written
-- here; an ingest backlog (NATS or ClickHouse away for a while, a replay)
-- writes one small row per late event. Partitions (by ingest month) are
-- dropped with the longer of the raw events' retentions.
--
-- kind is the rollup's name: logins or tokens.
CREATE TABLE IF NOT EXISTS late_arrivals
(
    tenant_id   String,
    kind        Enum8('logins' = 1, 'tokens' = 2),
    ingested_at DateTime,
    occurred_at DateTime
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(ingested_at)
ORDER BY (tenant_id, kind, ingested_at);

CREATE MATERIALIZED VIEW IF NOT EXISTS late_arrivals_logins_mv TO late_arrivals AS
SELECT tenant_id, CAST('logins' AS Enum8('logins' = 1, 'tokens' = 2)) AS kind, ingested_at, occurred_at
FROM login_events
WHERE toUInt32(ingested_at) >= intDiv(toUInt32(occurred_at), 3600) * 3600 + 3600 + 300;

CREATE MATERIALIZED VIEW IF NOT EXISTS late_arrivals_tokens_mv TO late_arrivals AS
SELECT tenant_id, CAST('tokens' AS Enum8('logins' = 1, 'tokens' = 2)) AS kind, ingested_at, occurred_at
FROM token_events
WHERE toUInt32(ingested_at) >= intDiv(toUInt32(occurred_at), 3600) * 3600 + 3600 + 300;

-- Late events stored before this migration. Readers only ask about those
-- ingested since the job's last sweep (minutes), but an upgrade can happen
-- during a backlog. Running this twice (two services migrating at once)
-- stores rows twice: harmless, readers only ask whether there are any. A
-- cluster's schema file carries these as comments: an operator upgrading
-- a cluster while ingest drains a backlog runs them once; otherwise a
-- list may use counts that miss that backlog's rows for up to a quarter
-- of an hour after the upgrade (until the job's next sweep has counted
-- them).
INSERT INTO late_arrivals (tenant_id, kind, ingested_at, occurred_at)
SELECT tenant_id, CAST('logins' AS Enum8('logins' = 1, 'tokens' = 2)), ingested_at, occurred_at
FROM login_events
WHERE toUInt32(ingested_at) >= intDiv(toUInt32(occurred_at), 3600) * 3600 + 3600 + 300;

INSERT INTO late_arrivals (tenant_id, kind, ingested_at, occurred_at)
SELECT tenant_id, CAST('tokens' AS Enum8('logins' = 1, 'tokens' = 2)), ingested_at, occurred_at
FROM token_events
WHERE toUInt32(ingested_at) >= intDiv(toUInt32(occurred_at), 3600) * 3600 + 3600 + 300;
