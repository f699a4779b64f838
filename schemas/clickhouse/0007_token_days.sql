-- Exact counts of each token's events per closed UTC day, for the token
-- routes that count a token's history: /tokens/top ("all time") and a
-- user's /tokens/stats. Counting those from the raw rows read every event
-- of the busiest tokens on each request (113,000 rows for a big tenant's
-- top ten, 129,000 for the benchmark's heavy user's 30 days); with this
-- table a token's 90 days are 90 small rows, and only the days the job has
-- not covered yet are counted live.
--
-- Written by the rollup job together with token_rollup_daily: every closed
-- day that job computes for a tenant is computed here per token too, at
-- the same version, so a late event or an erasure is caught by the same
-- sweep and Recompute. The table has its own mark (rollup_state
-- "token_days"): on an install that was rolled up before it existed, the
-- job fills it a day per statement from the oldest event on, and readers
-- use it only below both marks. (No backfill here: one statement over all
-- history could run out of memory on a large install, and a cluster's
-- schema file carries no backfills.) Versions as in 0004: ReplacingMergeTree(version) keeps the
-- newest, reads take argMax(…, version). A token without events on a day
-- has no row; Recompute first writes zeros over each day, so a token whose
-- events were all erased counts 0, and an erasure deletes the rows of the
-- erased user's tokens over the span first (use_ips lists IPs).
--
-- uses: authenticated events; failures: failed, expired and ip_blocked
-- (/tokens/stats failed_attempts). Each event id once (uniqExactIf).
-- use_ips: the distinct IPs of the day's uses; distinct counts cannot be
-- added across days, so a window's unique IPs count the union of these
-- sets (uniqExactArray), at most the day's uses each.
--
-- Kept as long as the raw token events (same monthly partitions, same
-- retention), so "all time" means the same with or without this table.
-- Sorted by token: reads want a few tokens' days.
CREATE TABLE IF NOT EXISTS token_rollup_daily_by_token
(
    tenant_id String,
    bucket    DateTime,
    token_id  String,
    uses      UInt64,
    failures  UInt64,
    use_ips   Array(String),
    version   UInt64
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(bucket)
ORDER BY (tenant_id, token_id, bucket)
SETTINGS index_granularity = 256;
