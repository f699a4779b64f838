-- Administrative actions taken through the API, for "who did it" (SPEC §3:
-- an unlock is recorded). One row per action, never updated; few rows, so a
-- plain MergeTree without partitions. actor is the token's sub, target what
-- was acted on (an IP for lockout_delete), detail free text or JSON.
-- Portable to ClickHouse 18.16 and current releases: no TTL, no
-- LowCardinality, no DateTime64, no codecs.
CREATE TABLE IF NOT EXISTS audit_log
(
    tenant_id String,
    at        DateTime,
    actor     String,
    action    String,
    target    String,
    detail    String
)
ENGINE = MergeTree
ORDER BY (tenant_id, at);
