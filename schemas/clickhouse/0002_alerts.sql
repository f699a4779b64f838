-- Alerts raised by the detector (SPEC §4), one row per alert. The alert id
-- derives from event + rule, so a redelivered detector message writes the
-- same id again; ReplacingMergeTree collapses it and reads take each id once.
-- A login is suspicious when an alert names it as event_id.
CREATE TABLE IF NOT EXISTS alerts
(
    tenant_id   String,
    occurred_at DateTime,
    occurred_ms UInt16,
    id          String,
    event_id    String,
    user_id     String,
    rule        String,
    severity    Enum8('low' = 1, 'medium' = 2, 'high' = 3),
    ip_address  String,
    country     String,
    detected_at DateTime,
    alert       String
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(occurred_at)
ORDER BY (tenant_id, occurred_at, id);

-- The same alerts keyed by the event they flag: is_suspicious and the
-- suspicious lists look logins up here.
CREATE TABLE IF NOT EXISTS alerts_by_event
(
    tenant_id   String,
    user_id     String,
    event_id    String,
    rule        String,
    id          String,
    occurred_at DateTime
)
ENGINE = ReplacingMergeTree
ORDER BY (tenant_id, user_id, event_id, id);

CREATE MATERIALIZED VIEW IF NOT EXISTS alerts_by_event_mv TO alerts_by_event AS
SELECT tenant_id, user_id, event_id, rule, id, occurred_at FROM alerts;
