// Package ingest moves events from the durable JetStream consumer "ingest"
// into ClickHouse: decode, validate, enrich, batch, insert, then ack.
//
// The stages overlap: one goroutine pulls messages, one decodes and fills a
// batch, one writes full batches to ClickHouse and acks them. While a batch
// is being written the next one fills, so neither the CPU nor the database
// waits on the other. A message is acked only after the insert holding its
// row returned, so a crash at any point redelivers instead of losing.
package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/authwatch/authwatch/event"
	"github.com/authwatch/authwatch/internal/bus"
	"github.com/authwatch/authwatch/internal/enrich"
	"github.com/authwatch/authwatch/internal/store"
)

// Config tunes batching.
type Config struct {
	Consumer      string        // durable name, and the DLQ subject suffix
	BatchSize     int           // rows per insert at most
	FlushInterval time.Duration // a partial batch is written after this long
	DrainTimeout  time.Duration // on shutdown, how long to keep writing what was pulled
}

// DefaultConfig is ClickHouse's advice: few, large inserts, about one a second.
func DefaultConfig() Config {
	return Config{Consumer: bus.ConsumerIngest, BatchSize: 10_000, FlushInterval: time.Second, DrainTimeout: 20 * time.Second}
}

// poisonDeliveries is how often a message may come back before it is taken
// for one that kills the worker, and sent to the DLQ instead of retried.
// Outages do not count: a held batch is kept alive with InProgress.
const poisonDeliveries = 50

// Inserter writes batches (store.Store does, on ClickHouse).
type Inserter interface {
	Insert(ctx context.Context, b *store.Batch) error
}

// Worker runs the pipeline for one process; run several processes on the
// same durable consumer to scale out.
type Worker struct {
	cfg     Config
	js      jetstream.JetStream
	cons    jetstream.Consumer
	store   Inserter
	geo     *enrich.GeoDB
	log     *slog.Logger
	metrics *Metrics
	now     func() time.Time
}

// NewWorker wires a worker; geo may be nil.
func NewWorker(cfg Config, js jetstream.JetStream, cons jetstream.Consumer, st Inserter, geo *enrich.GeoDB, log *slog.Logger, m *Metrics) *Worker {
	return &Worker{cfg: cfg, js: js, cons: cons, store: st, geo: geo, log: log, metrics: m, now: time.Now}
}

// unit is one batch on its way through the pipeline, with the messages whose
// rows (or dead letters) it carries.
type unit struct {
	batch   *store.Batch
	msgs    []jetstream.Msg
	dead    []bus.DeadLetter
	started time.Time
}

func (u *unit) size() int { return len(u.msgs) }

func (u *unit) reset() {
	u.batch.Reset()
	clear(u.msgs)
	u.msgs = u.msgs[:0]
	u.dead = u.dead[:0]
}

// Run pulls and writes until ctx ends, then drains: what was already pulled
// is written and acked (within DrainTimeout) before Run returns.
func (w *Worker) Run(ctx context.Context) error {
	iter, err := w.cons.Messages(jetstream.PullMaxMessages(2 * w.cfg.BatchSize))
	if err != nil {
		return fmt.Errorf("ingest: pull: %w", err)
	}
	in := make(chan jetstream.Msg, 1024)
	go w.pull(iter, in)
	go func() {
		<-ctx.Done()
		iter.Drain() // deliver what is buffered, then close
	}()

	// Three units rotate: one filling, one queued, one being written.
	free := make(chan *unit, 3)
	for range 3 {
		free <- &unit{batch: store.NewBatch(w.cfg.BatchSize), msgs: make([]jetstream.Msg, 0, w.cfg.BatchSize)}
	}
	full := make(chan *unit, 1)
	done := make(chan struct{})
	// Writing survives ctx: on shutdown it finishes what was pulled, bounded by DrainTimeout.
	wctx, wcancel := context.WithCancel(context.WithoutCancel(ctx))
	defer wcancel()
	go func() {
		defer close(done)
		for u := range full {
			w.write(wctx, u)
			free <- u
		}
	}()
	go func() {
		<-ctx.Done()
		t := time.NewTimer(w.cfg.DrainTimeout)
		defer t.Stop()
		select {
		case <-t.C:
			w.log.Warn("drain timed out; unacked messages will be redelivered")
			wcancel()
		case <-done:
		}
	}()

	w.fill(in, free, full)
	close(full)
	<-done
	return nil
}

// pull forwards messages from the iterator until it is drained and closed.
func (w *Worker) pull(iter jetstream.MessagesContext, in chan<- jetstream.Msg) {
	defer close(in)
	for {
		m, err := iter.Next()
		if err != nil {
			if errors.Is(err, jetstream.ErrMsgIteratorClosed) {
				return
			}
			// Missed heartbeats and the like while NATS is away: the
			// iterator re-pulls by itself.
			w.log.Warn("pull", "err", err)
			continue
		}
		in <- m
	}
}

// fill decodes messages into units and hands a unit on when it is full or
// old enough.
func (w *Worker) fill(in <-chan jetstream.Msg, free <-chan *unit, full chan<- *unit) {
	tick := time.NewTicker(w.cfg.FlushInterval / 4)
	defer tick.Stop()
	enr := enrich.New(w.geo)
	var dec event.Decoder
	u := <-free
	handOn := func() {
		full <- u
		u = <-free
	}
	for {
		select {
		case m, ok := <-in:
			if !ok {
				if u.size() > 0 {
					full <- u
				}
				return
			}
			if u.size() == 0 {
				u.started = w.now()
			}
			w.decode(m, u, &dec, enr)
			if u.size() >= w.cfg.BatchSize {
				handOn()
			}
		case <-tick.C:
			if u.size() > 0 && w.now().Sub(u.started) >= w.cfg.FlushInterval {
				handOn()
			}
		}
	}
}

func (w *Worker) decode(m jetstream.Msg, u *unit, dec *event.Decoder, enr *enrich.Enricher) {
	u.msgs = append(u.msgs, m)
	meta, err := m.Metadata()
	if err != nil { // not a JetStream delivery: nothing to store, nothing to ack
		return
	}
	data := m.Data()
	if meta.NumDelivered >= poisonDeliveries {
		u.dead = append(u.dead, bus.NewDeadLetter(m, meta.Sequence.Stream, "redelivered",
			fmt.Errorf("delivered %d times without being stored", meta.NumDelivered)))
		return
	}
	ev, err := dec.Decode(m.Subject(), data)
	if err != nil {
		u.dead = append(u.dead, bus.NewDeadLetter(m, meta.Sequence.Stream, event.Reason(err), err))
		return
	}
	u.batch.Add(ev, enr.Enrich(ev.UserAgent, ev.IPAddress), w.now().UTC())
}

// write files dead letters, inserts the batch, then acks every message of the
// unit. Failures are retried until they succeed or ctx ends; meanwhile the
// messages are kept alive so JetStream does not hand them to another worker.
func (w *Worker) write(ctx context.Context, u *unit) {
	keepAlive := time.NewTicker(10 * time.Second)
	defer keepAlive.Stop()
	retry := func(what string, f func() error) bool {
		wait := 100 * time.Millisecond
		for {
			err := f()
			if err == nil {
				return true
			}
			w.log.Warn("retrying", "what", what, "err", err, "in", wait, "messages", len(u.msgs))
			select {
			case <-ctx.Done():
				return false
			case <-keepAlive.C:
				for _, m := range u.msgs {
					_ = m.InProgress()
				}
			case <-time.After(wait):
			}
			wait = min(wait*2, 5*time.Second)
		}
	}
	if len(u.dead) > 0 && !retry("dlq publish", func() error { return bus.PublishDead(ctx, w.js, w.cfg.Consumer, u.dead) }) {
		return
	}
	if u.batch.Len() > 0 {
		start := time.Now()
		ok := retry("clickhouse insert", func() error {
			err := w.store.Insert(ctx, u.batch)
			if err != nil {
				w.metrics.InsertErrors.Inc()
			}
			return err
		})
		if !ok {
			return
		}
		w.metrics.InsertSeconds.Observe(time.Since(start).Seconds())
		w.metrics.BatchRows.Observe(float64(u.batch.Len()))
	}
	for _, m := range u.msgs {
		// Fire and forget: a lost ack means a redelivery, which reads dedup.
		_ = m.Ack()
	}
	w.metrics.Ingested.WithLabelValues(string(event.KindLogin)).Add(float64(u.batch.Logins()))
	w.metrics.Ingested.WithLabelValues(string(event.KindToken)).Add(float64(u.batch.Tokens()))
	for _, d := range u.dead {
		w.metrics.Rejected.WithLabelValues(w.cfg.Consumer, d.Code).Inc()
	}
	u.reset()
}

// WatchLag updates the pending gauge from the consumer's info until ctx ends.
func (w *Worker) WatchLag(ctx context.Context, every time.Duration) {
	bus.WatchLag(ctx, every, []jetstream.Consumer{w.cons}, []func(float64){w.metrics.Pending.Set})
}
