package store_test

import (
	"context"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/authwatch/authwatch/internal/store"
	"github.com/authwatch/authwatch/internal/testenv"
)

// The delivery log: every field round trips, pages are newest first with
// each attempt once (a notifier killed before its ack logs an attempt
// again), other webhooks and tenants stay out, and the window path pages
// exactly as sorting everything does.
func TestDeliveryLog(t *testing.T) {
	s, _ := testenv.OpenStore(t)
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Millisecond)
	var rows []store.DeliveryAttempt
	for i := range 90 {
		at := now.Add(-time.Duration(i*i) * 17 * time.Minute) // spread over ~95 days
		d := store.DeliveryAttempt{TenantID: "t1", WebhookID: "wh_a", DeliveryID: fmt.Sprintf("d%02d", i/3), AlertID: fmt.Sprintf("a%02d", i/3),
			Attempt: 3 - i%3, AttemptedAt: at, Duration: time.Duration(i) * time.Millisecond, Outcome: "retrying",
			Error: "HTTP 503: busy", StatusCode: 503, NextAttemptAt: at.Add(10 * time.Second).Truncate(time.Second)}
		if i%3 == 0 {
			d.Outcome, d.Error, d.StatusCode, d.NextAttemptAt = "delivered", "", 204, time.Time{}
		}
		if i%7 == 0 {
			d.StatusCode, d.Error = 0, "no answer within 10s"
		}
		rows = append(rows, d)
	}
	dup := rows[4]
	other := rows[0]
	other.WebhookID = "wh_b"
	otherTenant := rows[0]
	otherTenant.TenantID = "t2"
	if err := s.InsertDeliveries(ctx, append(rows, dup, other, otherTenant)); err != nil {
		t.Fatal(err)
	}

	page, total, err := s.Deliveries(ctx, "t1", "wh_a", 0, 100, now)
	if err != nil {
		t.Fatal(err)
	}
	if total != 90 || len(page) != 90 {
		t.Fatalf("total %d, page of %d; want 90 (the duplicate once)", total, len(page))
	}
	for i, got := range page {
		if !reflect.DeepEqual(got, rows[i]) {
			t.Fatalf("row %d:\n got %+v\nwant %+v", i, got, rows[i])
		}
	}
	if _, total, _ := s.Deliveries(ctx, "t2", "wh_a", 0, 10, now); total != 1 {
		t.Errorf("tenant t2 sees %d attempts, want its own 1", total)
	}
	if page, total, _ := s.Deliveries(ctx, "t1", "wh_zzz", 0, 10, now); total != 0 || len(page) != 0 {
		t.Errorf("unknown webhook: %d, %d", total, len(page))
	}
	if page, total, _ := s.Deliveries(ctx, "t1", "wh_a", 200, 10, now); total != 90 || len(page) != 0 {
		t.Errorf("past the end: %d rows, total %d", len(page), total)
	}

	// The window path gives the very same pages.
	defer store.SetDirectReadMax(10)()
	for _, pg := range []struct{ offset, limit int }{{0, 5}, {5, 25}, {40, 25}, {85, 25}} {
		got, total, err := s.Deliveries(ctx, "t1", "wh_a", pg.offset, pg.limit, now)
		if err != nil || total != 90 {
			t.Fatalf("windowed page %v: %v, total %d", pg, err, total)
		}
		want := rows[pg.offset:min(pg.offset+pg.limit, len(rows))]
		if !reflect.DeepEqual(got, want) {
			t.Errorf("windowed page %v: %d rows, first %+v; want %d, first %+v", pg, len(got), got[0], len(want), want[0])
		}
	}
}
