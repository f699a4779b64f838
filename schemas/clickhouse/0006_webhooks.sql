-- The webhook delivery log (SPEC §3 "Alert notifications"): one row per
-- attempt to POST an alert to a webhook, written by the notifier before it
-- acknowledges the attempt's job. A notifier killed after writing a row and
-- before the ack makes the same attempt again and writes a row with the
-- same id (<delivery_id>.<attempt>); reads take each id once (LIMIT 1 BY id,
-- uniqExact(id)), as for events.
--
-- status_code 0 = no answer (timeout, refused, connection error); error ''
-- = none (a 2xx); next_attempt_at is when the next attempt is due for an
-- outcome of 'retrying', else 0 (1970-01-01). Webhook definitions are not
-- here: they live in KV bucket auth_webhooks.
--
-- Sorted for the one read: a webhook's attempts, newest first. Partitioned
-- by month, so retention drops whole partitions. Portable to ClickHouse
-- 18.16 and current releases: no TTL, LowCardinality, DateTime64, codecs or
-- Nullable.
CREATE TABLE IF NOT EXISTS webhook_deliveries
(
    tenant_id       String,
    webhook_id      String,
    attempted_at    DateTime,
    attempted_ms    UInt16,
    id              String,
    delivery_id     String,
    alert_id        String,
    attempt         UInt16,
    status_code     UInt16,
    error           String,
    outcome         Enum8('delivered' = 1, 'retrying' = 2, 'failed' = 3),
    next_attempt_at DateTime,
    duration_ms     UInt32
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(attempted_at)
ORDER BY (tenant_id, webhook_id, attempted_at, id)
SETTINGS index_granularity = 1024;
