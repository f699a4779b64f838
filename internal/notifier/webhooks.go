// Package notifier is the notification service: webhook definitions in KV
// bucket auth_webhooks (read and written by the API, watched by the
// notifier), and the notifier's two loops — alerts from AUTH_ALERTS fanned
// out into delivery jobs on AUTH_DELIVERIES, and jobs POSTed to their
// receivers, retried on schedule, logged in ClickHouse. What a webhook
// wants, how a request is signed and when it is retried are pure functions
// in internal/notify.
package notifier

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/authwatch/authwatch/internal/bus"
	"github.com/authwatch/authwatch/internal/notify"
)

// ErrNotFound is a webhook the tenant does not have.
var ErrNotFound = errors.New("webhook not found")

// Webhooks is KV bucket auth_webhooks as the API uses it: one key
// <tenant>.<id> per webhook, its JSON as value.
type Webhooks struct {
	js jetstream.JetStream
	kv jetstream.KeyValue
}

// OpenWebhooks binds the bucket (declared by bus.EnsureWebhooks).
func OpenWebhooks(ctx context.Context, js jetstream.JetStream, bucket string) (*Webhooks, error) {
	kv, err := js.KeyValue(ctx, bucket)
	if err != nil {
		return nil, fmt.Errorf("kv %s: %w", bucket, err)
	}
	return &Webhooks{js: js, kv: kv}, nil
}

// Key is a webhook's key; tenant and id are checked by the caller to be
// KV tokens (notify.ValidID).
func Key(tenant, id string) string { return tenant + "." + id }

// Create stores a new webhook.
func (w *Webhooks) Create(ctx context.Context, hook notify.Webhook) error {
	data, err := json.Marshal(hook)
	if err != nil {
		return err
	}
	_, err = w.kv.Create(ctx, Key(hook.TenantID, hook.ID), data)
	return err
}

// Get reads one webhook of a tenant.
func (w *Webhooks) Get(ctx context.Context, tenant, id string) (notify.Webhook, error) {
	var hook notify.Webhook
	if !notify.ValidID(id) {
		return hook, ErrNotFound
	}
	e, err := w.kv.Get(ctx, Key(tenant, id))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return hook, ErrNotFound
	}
	if err != nil {
		return hook, err
	}
	if err := json.Unmarshal(e.Value(), &hook); err != nil {
		return hook, fmt.Errorf("webhook %s: %w", e.Key(), err)
	}
	return hook, nil
}

// List returns a tenant's webhooks, newest first.
func (w *Webhooks) List(ctx context.Context, tenant string) ([]notify.Webhook, error) {
	// The watcher delivers each key's current value, then nil.
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	watch, err := w.kv.Watch(ctx, tenant+".*", jetstream.IgnoreDeletes())
	if err != nil {
		return nil, err
	}
	defer watch.Stop() //nolint:errcheck // nothing to do about it
	var out []notify.Webhook
	for {
		var e jetstream.KeyValueEntry
		var open bool
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case e, open = <-watch.Updates():
		}
		if !open {
			return nil, errors.New("webhook watcher closed before listing every key")
		}
		if e == nil {
			break
		}
		var hook notify.Webhook
		if err := json.Unmarshal(e.Value(), &hook); err != nil {
			return nil, fmt.Errorf("webhook %s: %w", e.Key(), err)
		}
		out = append(out, hook)
	}
	slices.SortFunc(out, func(a, b notify.Webhook) int {
		if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out, nil
}

// Delete removes a webhook: deliveries not made yet are dropped, the log
// stays. It leaves a delete marker, which watchers see.
func (w *Webhooks) Delete(ctx context.Context, tenant, id string) error {
	if !notify.ValidID(id) {
		return ErrNotFound
	}
	if _, err := w.Get(ctx, tenant, id); err != nil {
		return err
	}
	return w.kv.Delete(ctx, Key(tenant, id))
}

// SendTest queues a signed sample alert for hook through the same path
// as real alerts (a job on AUTH_DELIVERIES), and returns its job.
func (w *Webhooks) SendTest(ctx context.Context, hook notify.Webhook, now time.Time) (notify.Job, error) {
	a := notify.SampleAlert(hook, now)
	doc, err := a.Marshal()
	if err != nil {
		return notify.Job{}, err
	}
	job := notify.NewJob(hook, a.ID, doc)
	job.AlertPublishedAt = now
	return job, PublishJobs(ctx, w.js, []notify.Job{job})
}

// PublishJobs publishes delivery jobs, each with its Nats-Msg-Id, and
// waits until JetStream stored them all.
func PublishJobs(ctx context.Context, js jetstream.JetStream, jobs []notify.Job) error {
	futures := make([]jetstream.PubAckFuture, 0, len(jobs))
	for _, j := range jobs {
		data, err := json.Marshal(j)
		if err != nil {
			return err
		}
		m := nats.NewMsg(j.Subject())
		m.Data = data
		m.Header.Set(jetstream.MsgIDHeader, j.MsgID())
		f, err := js.PublishMsgAsync(m)
		if err != nil {
			return err
		}
		futures = append(futures, f)
	}
	return bus.WaitAcks(ctx, futures)
}
