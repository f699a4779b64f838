package notifier

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/authwatch/authwatch/internal/detect"
	"github.com/authwatch/authwatch/internal/notify"
)

// Registry is the notifier's copy of KV bucket auth_webhooks, kept current
// by a watcher. Sync makes sure the copy holds everything written before
// it was called, so a webhook created just before an alert is published
// is never missed (SPEC §3: a webhook applies to every alert published
// after its 201).
type Registry struct {
	kv     jetstream.KeyValue
	stream jetstream.Stream // the bucket's stream, for its last sequence
	log    *slog.Logger

	mu      sync.Mutex
	hooks   map[string]map[string]registered // tenant → id → webhook
	rev     uint64                           // the highest bucket sequence applied
	changed chan struct{}                    // closed (and replaced) on every change of rev
}

// registered is a webhook and the server time it was written at: it gets
// the alerts that reached AUTH_ALERTS from then on (same clock).
type registered struct {
	hook  notify.Webhook
	since time.Time
}

// OpenRegistry binds the bucket; Run fills and follows it.
func OpenRegistry(ctx context.Context, js jetstream.JetStream, bucket string, log *slog.Logger) (*Registry, error) {
	kv, err := js.KeyValue(ctx, bucket)
	if err != nil {
		return nil, fmt.Errorf("kv %s: %w", bucket, err)
	}
	stream, err := js.Stream(ctx, "KV_"+bucket)
	if err != nil {
		return nil, fmt.Errorf("stream of kv %s: %w", bucket, err)
	}
	return &Registry{kv: kv, stream: stream, log: log, hooks: map[string]map[string]registered{}, changed: make(chan struct{})}, nil
}

// Run watches the bucket until ctx ends: first every current webhook, then
// each change. A watcher that fails is started again.
func (r *Registry) Run(ctx context.Context) {
	for ctx.Err() == nil {
		w, err := r.kv.WatchAll(ctx)
		if err != nil {
			r.log.Warn("watch webhooks", "err", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Second):
			}
			continue
		}
		for e := range w.Updates() {
			if e != nil {
				r.apply(e)
			}
		}
		_ = w.Stop()
	}
}

func (r *Registry) apply(e jetstream.KeyValueEntry) {
	tenant, id, ok := strings.Cut(e.Key(), ".")
	r.mu.Lock()
	defer r.mu.Unlock()
	if ok {
		switch e.Operation() {
		case jetstream.KeyValuePut:
			var hook notify.Webhook
			if err := json.Unmarshal(e.Value(), &hook); err != nil || hook.TenantID != tenant || hook.ID != id {
				r.log.Warn("skipping a webhook that is not what its key says", "key", e.Key(), "err", err)
				break
			}
			if r.hooks[tenant] == nil {
				r.hooks[tenant] = map[string]registered{}
			}
			r.hooks[tenant][id] = registered{hook: hook, since: e.Created()}
		default: // delete or purge
			delete(r.hooks[tenant], id)
			if len(r.hooks[tenant]) == 0 {
				delete(r.hooks, tenant)
			}
		}
	}
	if e.Revision() > r.rev {
		r.rev = e.Revision()
		close(r.changed)
		r.changed = make(chan struct{})
	}
}

// Sync returns once every write to the bucket made before the call has
// been applied, or with an error when NATS does not answer within ctx.
func (r *Registry) Sync(ctx context.Context) error {
	info, err := r.stream.Info(ctx)
	if err != nil {
		return fmt.Errorf("webhook bucket info: %w", err)
	}
	last := info.State.LastSeq
	for {
		r.mu.Lock()
		rev, changed := r.rev, r.changed
		r.mu.Unlock()
		if rev >= last {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return fmt.Errorf("webhooks up to revision %d not seen yet (at %d): %w", last, rev, ctx.Err())
		}
	}
}

// ForAlert returns the tenant's webhooks that want an alert of rule and
// severity that reached AUTH_ALERTS at published.
func (r *Registry) ForAlert(tenant string, rule detect.Rule, sev detect.Severity, published time.Time) []notify.Webhook {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []notify.Webhook
	for _, reg := range r.hooks[tenant] {
		if !reg.since.After(published) && reg.hook.Wants(rule, sev) {
			out = append(out, reg.hook)
		}
	}
	return out
}

// Get returns a webhook by tenant and id.
func (r *Registry) Get(tenant, id string) (notify.Webhook, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	reg, ok := r.hooks[tenant][id]
	return reg.hook, ok
}
