package bus

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Names of the streams, buckets and consumers (SPEC §1).
const (
	EventsStream  = "AUTH_EVENTS"
	AlertsStream  = "AUTH_ALERTS"
	DLQStream     = "AUTH_DLQ"
	LockoutBucket = "auth_lockouts"

	EventsSubjects = "auth.events.>"
	AlertsSubjects = "auth.alerts.>"
	DLQSubjects    = "auth.dlq.>"

	ConsumerIngest   = "ingest"
	ConsumerDetector = "detector"
	ConsumerNotifier = "notifier"
)

// Topology is the operator-tunable part of the stream setup.
type Topology struct {
	Replicas        int           // 1 locally, 3 on a cluster (deploy/)
	EventsMaxAge    time.Duration // how long raw events stay replayable in AUTH_EVENTS
	AlertsMaxAge    time.Duration
	DLQMaxAge       time.Duration
	EventsMaxBytes  int64 // 0: no limit beyond age
	DuplicateWindow time.Duration
}

// DefaultTopology is what a single local server gets.
func DefaultTopology() Topology {
	return Topology{
		Replicas:        1,
		EventsMaxAge:    7 * 24 * time.Hour,
		AlertsMaxAge:    30 * 24 * time.Hour,
		DLQMaxAge:       30 * 24 * time.Hour,
		DuplicateWindow: 2 * time.Minute,
	}
}

// Streams returns the stream configurations; every service applies them with
// CreateOrUpdateStream so a fresh and a running server converge.
func (t Topology) Streams() []jetstream.StreamConfig {
	return []jetstream.StreamConfig{
		{
			Name:        EventsStream,
			Description: "authwatch login and token events from gateways",
			Subjects:    []string{EventsSubjects},
			Storage:     jetstream.FileStorage,
			Retention:   jetstream.LimitsPolicy,
			Replicas:    t.Replicas,
			MaxAge:      t.EventsMaxAge,
			MaxBytes:    orUnlimited(t.EventsMaxBytes),
			Duplicates:  t.DuplicateWindow,
			// An oversize event must reach the DLQ rather than fail at the
			// gateway, so the stream takes far more than the 16 KiB an event may be.
			MaxMsgSize: 1 << 20,
			Discard:    jetstream.DiscardOld,
		},
		{
			Name:        AlertsStream,
			Description: "authwatch alerts raised by the detector",
			Subjects:    []string{AlertsSubjects},
			Storage:     jetstream.FileStorage,
			Replicas:    t.Replicas,
			MaxAge:      t.AlertsMaxAge,
			// Alert ids derive from event and rule; a long window keeps a
			// detector redelivered hours later from publishing twice.
			Duplicates: 24 * time.Hour,
			MaxMsgSize: 1 << 20,
		},
		{
			Name:        DLQStream,
			Description: "authwatch messages no consumer could use, with the reason in headers",
			Subjects:    []string{DLQSubjects},
			Storage:     jetstream.FileStorage,
			Replicas:    t.Replicas,
			MaxAge:      t.DLQMaxAge,
			Duplicates:  time.Hour,
			MaxMsgSize:  2 << 20,
		},
	}
}

func orUnlimited(n int64) int64 {
	if n <= 0 {
		return -1
	}
	return n
}

// LockoutBucketConfig is KV auth_lockouts: one key per locked (tenant, IP),
// each written with its own TTL so it expires at locked_until by itself.
func (t Topology) LockoutBucketConfig() jetstream.KeyValueConfig {
	return jetstream.KeyValueConfig{
		Bucket:         LockoutBucket,
		Description:    "authwatch IP lockouts per tenant; keys expire at locked_until",
		History:        1,
		Storage:        jetstream.FileStorage,
		Replicas:       t.Replicas,
		LimitMarkerTTL: time.Minute,
	}
}

// ConsumerConfig is the durable pull consumer a worker group shares; several
// instances of one service pull from the same durable and split the work.
func ConsumerConfig(name, stream string) jetstream.ConsumerConfig {
	return jetstream.ConsumerConfig{
		Durable:       name,
		Description:   "authwatch " + name,
		AckPolicy:     jetstream.AckExplicitPolicy,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		// Workers hold a batch while ClickHouse is away and keep it alive with
		// InProgress, so redelivery happens only after a crash; BackOff spaces
		// those out (its first step is also the first ack wait).
		AckWait:       30 * time.Second,
		BackOff:       []time.Duration{30 * time.Second, time.Minute, 2 * time.Minute, 5 * time.Minute},
		MaxDeliver:    100,
		MaxAckPending: 50_000,
		MaxWaiting:    512,
	}
}

// EnsureStreams creates or updates every stream and the lockout bucket.
func EnsureStreams(ctx context.Context, js jetstream.JetStream, t Topology) error {
	for _, cfg := range t.Streams() {
		if _, err := js.CreateOrUpdateStream(ctx, cfg); err != nil {
			return fmt.Errorf("stream %s: %w", cfg.Name, err)
		}
	}
	if _, err := js.CreateOrUpdateKeyValue(ctx, t.LockoutBucketConfig()); err != nil {
		return fmt.Errorf("kv %s: %w", LockoutBucket, err)
	}
	return nil
}

// EnsureConsumer creates or updates the durable consumer name on stream.
func EnsureConsumer(ctx context.Context, js jetstream.JetStream, name, stream string) (jetstream.Consumer, error) {
	c, err := js.CreateOrUpdateConsumer(ctx, stream, ConsumerConfig(name, stream))
	if err != nil {
		return nil, fmt.Errorf("consumer %s on %s: %w", name, stream, err)
	}
	return c, nil
}

// StateBucket holds the detector's memory (SPEC §4: it survives restarts).
const StateBucket = "auth_detector_state"

// StateBucketConfig is KV auth_detector_state: one key per user, IP and
// token. A key not written for maxAge (longer than any rule remembers)
// expires, so the state of users who left stops taking space.
func (t Topology) StateBucketConfig(maxAge time.Duration) jetstream.KeyValueConfig {
	return jetstream.KeyValueConfig{
		Bucket:      StateBucket,
		Description: "authwatch detector state per user, IP and token",
		History:     1,
		Storage:     jetstream.FileStorage,
		Replicas:    t.Replicas,
		TTL:         maxAge,
	}
}

// EnsureStateBucket creates or updates KV auth_detector_state (see
// StateBucketConfig) and binds it.
//
// Every event the detector takes costs one state write, and a stream on a
// single server (Replicas 1) writes each message to its file before
// answering, which made the state writes half of the server's CPU. So a
// single-server bucket is created in JetStream's async persist mode: the
// server answers once the write is in memory and flushes it to the file
// right after. A NATS server killed (not stopped) in between forgets those
// last writes (a device seen in the last moment may be reported once more,
// that moment's failures toward a lockout are lost) and reuses their
// sequences, which is why the detector empties its state cache after a
// reconnect (see internal/detector). A replicated bucket (deploy/) keeps the default: its writes are
// in the Raft log of the other servers before they are answered, and the
// file store flushes them asynchronously anyway. The mode is chosen when the
// bucket is created and JetStream cannot change it afterwards; an existing
// bucket keeps the one it has.
func EnsureStateBucket(ctx context.Context, js jetstream.JetStream, t Topology, maxAge time.Duration) (jetstream.KeyValue, error) {
	kc := t.StateBucketConfig(maxAge)
	name := "KV_" + StateBucket
	mode := jetstream.DefaultPersistMode
	if st, err := js.Stream(ctx, name); err == nil {
		mode = st.CachedInfo().Config.PersistMode
	} else if !errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil, fmt.Errorf("kv %s: %w", StateBucket, err)
	} else if max(kc.Replicas, 1) == 1 {
		mode = jetstream.AsyncPersistMode
	}
	if mode == jetstream.DefaultPersistMode {
		return js.CreateOrUpdateKeyValue(ctx, kc)
	}
	// nats.go's KeyValueConfig has no persist mode: the bucket's stream is
	// declared here as nats.go would declare it, with the mode added.
	dup := 2 * time.Minute
	if kc.TTL > 0 && kc.TTL < dup {
		dup = kc.TTL
	}
	_, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:              name,
		Description:       kc.Description,
		Subjects:          []string{"$KV." + StateBucket + ".>"},
		MaxMsgsPerSubject: int64(max(kc.History, 1)),
		MaxBytes:          -1,
		MaxAge:            kc.TTL,
		MaxMsgSize:        -1,
		MaxMsgs:           -1,
		MaxConsumers:      -1,
		Storage:           kc.Storage,
		Replicas:          max(kc.Replicas, 1),
		AllowRollup:       true,
		DenyDelete:        true,
		AllowDirect:       true,
		Discard:           jetstream.DiscardNew,
		Duplicates:        dup,
		PersistMode:       mode,
	})
	if err != nil {
		return nil, fmt.Errorf("kv %s: %w", StateBucket, err)
	}
	return js.KeyValue(ctx, StateBucket)
}

// Webhook notifications (SPEC §3 "Alert notifications"): the definitions
// every query and notifier instance sees, and the delivery jobs the
// notifier works through. A job is one POST of one alert to one webhook;
// a failed attempt is answered by publishing the next attempt's job, due
// later, so a retry is durable from the moment the attempt is acked.
const (
	WebhookBucket      = "auth_webhooks"
	DeliveriesStream   = "AUTH_DELIVERIES"
	DeliveriesSubjects = "auth.deliveries.>"
)

// WebhookBucketConfig is KV auth_webhooks: one key <tenant>.<webhook id>
// per webhook, its JSON (secret included: the notifier signs with it; the
// API never returns it). No TTL: a deleted webhook leaves a delete marker.
func (t Topology) WebhookBucketConfig() jetstream.KeyValueConfig {
	return jetstream.KeyValueConfig{
		Bucket:      WebhookBucket,
		Description: "authwatch webhooks per tenant (secrets included; restrict access to this bucket)",
		History:     1,
		Storage:     jetstream.FileStorage,
		Replicas:    t.Replicas,
	}
}

// DeliveriesStreamConfig is AUTH_DELIVERIES, subjects
// auth.deliveries.<tenant>.<webhook id>: a work queue (a job is removed
// when acked). A job lives at most about one retry delay (an hour), so a
// week's max age only bounds what a long outage leaves behind.
func (t Topology) DeliveriesStreamConfig() jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:        DeliveriesStream,
		Description: "authwatch webhook delivery jobs: one per alert, webhook and attempt",
		Subjects:    []string{DeliveriesSubjects},
		Storage:     jetstream.FileStorage,
		Retention:   jetstream.WorkQueuePolicy,
		Replicas:    t.Replicas,
		MaxAge:      7 * 24 * time.Hour,
		// Job ids are <delivery id>.<attempt>: a notifier that dies between
		// publishing a job and acking what caused it publishes it again
		// when that comes back, well within the hour.
		Duplicates: time.Hour,
		MaxMsgSize: 1 << 20,
	}
}

// DeliveriesConsumerConfig is the notifier's durable consumer on
// AUTH_DELIVERIES. Unlike ConsumerConfig it has no BackOff, so a Nak's
// delay (a job not due yet, a receiver busy) is exact; no MaxDeliver,
// since a job waiting for its time is delivered many times; and room for
// a day of retries pending.
func DeliveriesConsumerConfig() jetstream.ConsumerConfig {
	return jetstream.ConsumerConfig{
		Durable:       ConsumerNotifier,
		Description:   "authwatch notifier deliveries",
		AckPolicy:     jetstream.AckExplicitPolicy,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		// An attempt takes 10 s at most, then its log row is written; jobs
		// held longer (waiting in a busy webhook's lane, or for ClickHouse)
		// are kept alive with InProgress. What a dead notifier held comes
		// back after this long.
		AckWait:       30 * time.Second,
		MaxDeliver:    -1,
		MaxAckPending: 1_000_000,
		MaxWaiting:    512,
	}
}

// EnsureWebhooks creates or updates the webhook bucket and the deliveries
// stream (cmd/notifier and cmd/query use them).
func EnsureWebhooks(ctx context.Context, js jetstream.JetStream, t Topology) error {
	if _, err := js.CreateOrUpdateKeyValue(ctx, t.WebhookBucketConfig()); err != nil {
		return fmt.Errorf("kv %s: %w", WebhookBucket, err)
	}
	if _, err := js.CreateOrUpdateStream(ctx, t.DeliveriesStreamConfig()); err != nil {
		return fmt.Errorf("stream %s: %w", DeliveriesStream, err)
	}
	return nil
}
