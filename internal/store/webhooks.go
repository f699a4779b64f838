package store

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// DeliveryAttempt is one row of the webhook delivery log: one attempt to
// POST one alert to one webhook.
type DeliveryAttempt struct {
	TenantID      string
	WebhookID     string
	DeliveryID    string // Authwatch-Delivery: one per alert and webhook
	AlertID       string
	Attempt       int       // from 1
	StatusCode    int       // 0 when there was no answer
	Error         string    // "" when none
	Outcome       string    // delivered, retrying or failed
	NextAttemptAt time.Time // zero unless retrying
	AttemptedAt   time.Time
	Duration      time.Duration
}

// ID is the row's id: the same attempt logged twice (a notifier killed
// before its ack) has one id, and reads take it once.
func (d DeliveryAttempt) ID() string { return d.DeliveryID + "." + strconv.Itoa(d.Attempt) }

const insertDeliveries = `INSERT INTO webhook_deliveries (tenant_id, webhook_id, attempted_at, attempted_ms, id,
	delivery_id, alert_id, attempt, status_code, error, outcome, next_attempt_at, duration_ms)`

// InsertDeliveries writes attempts as one native block.
func (s *Store) InsertDeliveries(ctx context.Context, rows []DeliveryAttempt) error {
	if len(rows) == 0 {
		return nil
	}
	n := len(rows)
	var (
		tenants, hooks, ids, deliveries, alerts, errs, outcomes = make([]string, 0, n), make([]string, 0, n),
			make([]string, 0, n), make([]string, 0, n), make([]string, 0, n), make([]string, 0, n), make([]string, 0, n)
		attempted, next     = make([]time.Time, 0, n), make([]time.Time, 0, n)
		ms, attempts, codes = make([]uint16, 0, n), make([]uint16, 0, n), make([]uint16, 0, n)
		durations           = make([]uint32, 0, n)
	)
	for _, r := range rows {
		at := r.AttemptedAt.UTC()
		tenants, hooks, ids = append(tenants, r.TenantID), append(hooks, r.WebhookID), append(ids, r.ID())
		deliveries, alerts, errs = append(deliveries, r.DeliveryID), append(alerts, r.AlertID), append(errs, r.Error)
		outcomes = append(outcomes, r.Outcome)
		attempted, ms = append(attempted, at.Truncate(time.Second)), append(ms, uint16(at.Nanosecond()/int(time.Millisecond)))
		nx := time.Unix(0, 0).UTC()
		if !r.NextAttemptAt.IsZero() {
			nx = r.NextAttemptAt.UTC().Truncate(time.Second)
		}
		next = append(next, nx)
		attempts, codes = append(attempts, uint16(min(r.Attempt, 65535))), append(codes, uint16(r.StatusCode))
		durations = append(durations, uint32(r.Duration.Milliseconds()))
	}
	cols := []any{tenants, hooks, attempted, ms, ids, deliveries, alerts, attempts, codes, errs, outcomes, next, durations}
	if err := s.insertColumns(ctx, insertDeliveries, cols); err != nil {
		return fmt.Errorf("insert webhook_deliveries: %w", err)
	}
	return nil
}

// Deliveries returns one page of a webhook's attempts, newest first, each
// once, and how many there are in all. now places the first window of the
// page search, as for alerts: 18.16 sorts every matching row before LIMIT.
func (s *Store) Deliveries(ctx context.Context, tenant, webhookID string, offset, limit int, now time.Time) ([]DeliveryAttempt, uint64, error) {
	var total uint64
	if err := s.conn.QueryRow(pointQuery(ctx), `SELECT uniqExact(id) FROM webhook_deliveries WHERE tenant_id = ? AND webhook_id = ?`,
		tenant, webhookID).Scan(&total); err != nil {
		return nil, 0, err
	}
	if total == 0 || offset >= int(total) {
		return nil, total, nil
	}
	if total <= directReadMax {
		page, err := s.deliveryPage(ctx, tenant, webhookID, time.Time{}, offset, limit)
		return page, total, err
	}
	page, err := searchPage(windowStarts(time.Time{}, time.Time{}, now), limit, wholeReads(func(lo time.Time) ([]DeliveryAttempt, error) {
		return s.deliveryPage(ctx, tenant, webhookID, lo, offset, limit)
	}))
	return page, total, err
}

func (s *Store) deliveryPage(ctx context.Context, tenant, webhookID string, from time.Time, offset, limit int) ([]DeliveryAttempt, error) {
	var c conds
	c.and("tenant_id = ?", tenant)
	c.and("webhook_id = ?", webhookID)
	if !from.IsZero() {
		c.and("attempted_at >= toDateTime(?)", from.Unix())
	}
	where, args := c.sql()
	return queryRows(ctx, s, func(r driver.Rows) (d DeliveryAttempt, err error) {
		var ms, attempt, code uint16
		var dur uint32
		err = r.Scan(&d.TenantID, &d.WebhookID, &d.AttemptedAt, &ms, &d.DeliveryID, &d.AlertID, &attempt, &code, &d.Error,
			&d.Outcome, &d.NextAttemptAt, &dur)
		d.AttemptedAt = d.AttemptedAt.UTC().Add(time.Duration(ms) * time.Millisecond)
		d.Attempt, d.StatusCode, d.Duration = int(attempt), int(code), time.Duration(dur)*time.Millisecond
		if d.NextAttemptAt.Unix() <= 0 {
			d.NextAttemptAt = time.Time{}
		} else {
			d.NextAttemptAt = d.NextAttemptAt.UTC()
		}
		return d, err
	}, `SELECT tenant_id, webhook_id, attempted_at, attempted_ms, delivery_id, alert_id, attempt, status_code, error,
		toString(outcome), next_attempt_at, duration_ms
		FROM webhook_deliveries WHERE `+where+`
		ORDER BY attempted_at DESC, attempted_ms DESC, attempt DESC, id DESC LIMIT 1 BY id LIMIT ?, ?`,
		append(args, offset, limit)...)
}
