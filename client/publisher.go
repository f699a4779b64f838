package client

import (
	"container/heap"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/authwatch/authwatch/event"
)

var (
	// ErrBufferFull is returned by Publish when the Publisher already holds
	// as many events as its buffer allows; the event is dropped and counted.
	ErrBufferFull = errors.New("client: publish buffer full, event dropped")
	// ErrClosed is returned by Publish after Close.
	ErrClosed = errors.New("client: publisher closed")
)

// disconnectedPoll bounds how long the worker waits for a reconnect before
// looking at the connection again, in case a status change went unseen.
const disconnectedPoll = time.Second

// Publisher sends events to JetStream in the background. Publish only
// validates and enqueues; a single worker goroutine marshals, publishes
// asynchronously with a Nats-Msg-Id, and re-sends what was not acknowledged.
//
// Every event the Publisher has accepted and not yet seen acknowledged
// (queued, in flight, or waiting to be re-sent) counts against one bound,
// the buffer size, so its memory is bounded however long NATS is away: once
// full, Publish drops new events rather than wait.
//
// An event whose acknowledgement does not come (timeout, disconnect, no
// stream yet, a server out of resources) is re-sent with the same
// Nats-Msg-Id after a backoff from 100 ms doubling to 5 s, for as long as
// the Publisher is open; while the connection is down nothing is sent.
// Only an event JetStream itself rejects (too large, for instance) is given
// up, counted as Failed and reported to the OnDrop callback. A re-send
// within the stream's duplicate window is stored once; one after it (a
// very long outage) may be stored twice, which authwatch's consumers
// absorb, since they count an event id once.
//
// A Publisher is safe for concurrent use.
type Publisher struct {
	nc     *nats.Conn
	js     jetstream.JetStream
	log    *slog.Logger
	onDrop func(eventID string, err error)

	capacity    int64
	maxInFlight int64
	linger      time.Duration

	queue   chan event.Event
	wake    chan struct{} // capacity 1: something changed that the worker may act on
	abandon chan struct{} // closed when Close gives up waiting
	done    chan struct{} // closed when the worker has returned

	closed      atomic.Bool
	abandonOnce sync.Once

	// held counts accepted events not yet acknowledged or given up on;
	// Publish reserves a place in it before enqueueing.
	held     atomic.Int64
	inFlight atomic.Int64

	enqueued   atomic.Uint64
	published  atomic.Uint64
	duplicates atomic.Uint64
	dropped    atomic.Uint64
	failed     atomic.Uint64
	retried    atomic.Uint64

	// mu guards the events in flight and those waiting to be re-sent; only
	// the worker and the ack callbacks take it, never Publish.
	mu      sync.Mutex
	sent    map[*nats.Msg]*outgoing
	retries retryQueue
}

// Stats is a snapshot of a Publisher's counters.
type Stats struct {
	Enqueued   uint64 // events accepted by Publish
	Published  uint64 // events acknowledged by JetStream (Duplicates included)
	Duplicates uint64 // acknowledgements saying JetStream already had the event: a re-send after a lost ack
	Dropped    uint64 // events refused by Publish because the buffer was full
	Failed     uint64 // events JetStream rejected for good (never re-sent)
	Retried    uint64 // re-sends after a failed or missing acknowledgement
	InFlight   int64  // events sent and not yet acknowledged
	Buffered   int64  // events accepted and waiting to be sent or re-sent
}

// NewPublisher starts a Publisher on nc. The Publisher does not own nc:
// close nc after Close. For the Publisher to ride out an outage, nc should
// reconnect forever (nats.MaxReconnects(-1)).
//
// The AUTH_EVENTS stream is created by the authwatch services, not here;
// events published before it exists are re-sent until it does (or until
// Close gives up).
func NewPublisher(nc *nats.Conn, opts ...Option) (*Publisher, error) {
	if nc == nil {
		return nil, errors.New("client: nil NATS connection")
	}
	cfg := defaultConfig()
	for _, opt := range opts {
		opt(&cfg)
	}
	if err := cfg.check(); err != nil {
		return nil, err
	}
	p := &Publisher{
		nc:          nc,
		log:         cfg.logger,
		onDrop:      cfg.onDrop,
		capacity:    int64(cfg.bufferSize),
		maxInFlight: int64(cfg.maxInFlight),
		linger:      cfg.linger,
		queue:       make(chan event.Event, cfg.bufferSize),
		wake:        make(chan struct{}, 1),
		abandon:     make(chan struct{}),
		done:        make(chan struct{}),
		sent:        make(map[*nats.Msg]*outgoing, cfg.maxInFlight),
	}
	js, err := jetstream.New(nc,
		// The worker keeps under this bound itself; this is a backstop.
		jetstream.WithPublishAsyncMaxPending(cfg.maxInFlight),
		// Without a timeout an ack lost on the way would hold its event,
		// and a place in the buffer, forever.
		jetstream.WithPublishAsyncTimeout(cfg.ackTimeout),
		jetstream.WithPublishAsyncAckHandler(p.acked),
		jetstream.WithPublishAsyncErrHandler(p.notAcked),
	)
	if err != nil {
		return nil, fmt.Errorf("client: jetstream: %w", err)
	}
	p.js = js
	connected := nc.StatusChanged(nats.CONNECTED)
	go p.run(connected)
	return p, nil
}

// Publish validates ev and hands it to the background worker. It never
// blocks: when the buffer is full it drops ev, counts it and returns
// ErrBufferFull. An invalid event returns ev.Validate's error and is not
// published. After Close it returns ErrClosed.
//
// Publish copies the Event struct, so the caller may reuse ev once Publish
// returns, but the copy shares ev.Metadata and ev.User: the caller must not
// change the map or the profile after Publish (build new ones instead).
func (p *Publisher) Publish(ev *event.Event) error {
	if ev == nil {
		return errors.New("client: nil event")
	}
	if err := ev.Validate(); err != nil {
		return err
	}
	if p.closed.Load() {
		return ErrClosed
	}
	// Reserve a place first, then check closed: Close sets closed before it
	// waits for held to reach zero, so either this event is seen by the
	// worker or Publish reports ErrClosed, never neither. The plain load
	// first spares a flood of refused events a write to a shared counter.
	if p.held.Load() >= p.capacity {
		p.drop(ev.ID)
		return ErrBufferFull
	}
	if p.held.Add(1) > p.capacity {
		p.held.Add(-1)
		p.drop(ev.ID)
		return ErrBufferFull
	}
	if p.closed.Load() {
		p.held.Add(-1)
		p.signal()
		return ErrClosed
	}
	// The queue's capacity equals the bound on held, so this send cannot
	// block; the default case only keeps that promise if it were ever wrong.
	select {
	case p.queue <- *ev:
		p.enqueued.Add(1)
		return nil
	default:
		p.held.Add(-1)
		p.drop(ev.ID)
		return ErrBufferFull
	}
}

func (p *Publisher) drop(id string) {
	p.dropped.Add(1)
	if p.onDrop != nil {
		p.onDrop(id, ErrBufferFull)
	}
}

// Close stops accepting events and waits until everything accepted has
// been acknowledged by JetStream (or rejected for good), or until ctx ends.
// If ctx ends first, the rest is abandoned and the error says how many
// events were not confirmed. Close does not close the NATS connection.
func (p *Publisher) Close(ctx context.Context) error {
	p.closed.Store(true)
	p.signal()
	select {
	case <-p.done:
	case <-ctx.Done():
		p.abandonOnce.Do(func() { close(p.abandon) })
		<-p.done
	}
	if n := p.held.Load(); n > 0 {
		return fmt.Errorf("client: %d events not confirmed by JetStream: %w", n, context.Cause(ctx))
	}
	return nil
}

// Stats returns the current counters. They are read one by one, so while
// events flow they may be off from each other by a few events.
func (p *Publisher) Stats() Stats {
	held, inFlight := p.held.Load(), p.inFlight.Load()
	return Stats{
		Enqueued:   p.enqueued.Load(),
		Published:  p.published.Load(),
		Duplicates: p.duplicates.Load(),
		Dropped:    p.dropped.Load(),
		Failed:     p.failed.Load(),
		Retried:    p.retried.Load(),
		InFlight:   inFlight,
		Buffered:   max(held-inFlight, 0),
	}
}

// signal wakes the worker without blocking; one pending wake is enough.
func (p *Publisher) signal() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// run is the worker: it sends due re-sends first (they are the oldest
// events), then queued events, while fewer than maxInFlight are unacknowledged
// and the connection is up. While NATS is away it sends nothing, so events
// wait in the bounded buffer rather than in nats.go's reconnect buffer.
//
// With a linger, the worker takes queued events without waiting, and when
// there are none it parks without listening on the queue, looking again
// after the linger: so Publish never wakes it. Waking a parked goroutine
// makes the caller wake an idle thread, which on a virtual or busy
// machine costs a login tens of microseconds at the 99th percentile.
// Under load the worker does not park at all.
func (p *Publisher) run(reconnected chan nats.Status) {
	defer close(p.done)
	// Release the ack subscription and nats.go's reconnect watcher; the
	// connection may live on without us.
	defer p.js.CleanupPublisher()
	defer p.nc.RemoveStatusListener(reconnected)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()

	for {
		if p.closed.Load() && p.held.Load() == 0 {
			return
		}
		up := p.nc.IsConnected()
		canSend := p.inFlight.Load() < p.maxInFlight && up
		wait := time.Duration(-1) // no deadline: wait for a wake-up
		queue := p.queue
		switch {
		case canSend:
			o, next := p.dueRetry(time.Now())
			if o != nil {
				p.send(o)
				continue
			}
			if next > 0 {
				wait = next
			}
			if p.linger > 0 {
				select {
				case ev := <-p.queue:
					p.take(&ev)
					continue
				default:
				}
				queue = nil
				if wait < 0 || p.linger < wait {
					wait = p.linger
				}
			}
		case !up:
			queue = nil
			wait = disconnectedPoll
		default: // as many in flight as allowed: an ack wakes us
			queue = nil
		}

		var timeout <-chan time.Time
		if wait >= 0 {
			// Since Go 1.23 Reset discards a value the timer left unread.
			timer.Reset(wait)
			timeout = timer.C
		}
		select {
		case ev := <-queue:
			p.take(&ev)
		case <-p.wake:
		case <-reconnected:
		case <-timeout:
		case <-p.abandon:
			return
		}
	}
}

// take sends an event taken from the queue, or keeps it for later when
// the connection has just dropped.
func (p *Publisher) take(ev *event.Event) {
	o, err := prepare(ev)
	switch {
	case err != nil:
		p.giveUp(ev.ID, err)
	case !p.nc.IsConnected():
		// The connection dropped meanwhile: keep the event for when it
		// is back.
		p.later(o, time.Now())
	default:
		p.send(o)
	}
}

// prepare marshals ev once for all its sends.
func prepare(ev *event.Event) (*outgoing, error) {
	data, err := json.Marshal(ev)
	if err != nil {
		return nil, fmt.Errorf("client: marshal event: %w", err)
	}
	return &outgoing{
		id:      ev.ID,
		subject: event.Subject(ev.TenantID, ev.Kind),
		header:  nats.Header{jetstream.MsgIDHeader: []string{ev.ID}},
		data:    data,
	}, nil
}

// dueRetry takes the earliest event due for a re-send at now, or returns
// how long until the next one is due (0 when there is none).
func (p *Publisher) dueRetry(now time.Time) (*outgoing, time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.retries) == 0 {
		return nil, 0
	}
	if wait := p.retries[0].due.Sub(now); wait > 0 {
		return nil, wait
	}
	return heap.Pop(&p.retries).(*outgoing), 0
}

// send publishes o asynchronously. Each send uses a new nats.Msg, the key
// of the sent map, so that a late callback about an earlier send of the
// same event cannot be mistaken for this one.
func (p *Publisher) send(o *outgoing) {
	msg := &nats.Msg{Subject: o.subject, Header: o.header, Data: o.data}
	p.mu.Lock()
	if o.attempts > 0 {
		p.retried.Add(1)
	}
	o.attempts++
	p.sent[msg] = o // before publishing: the ack may come back at once
	p.mu.Unlock()
	p.inFlight.Add(1)

	if _, err := p.js.PublishMsgAsync(msg); err != nil {
		p.mu.Lock()
		delete(p.sent, msg)
		p.mu.Unlock()
		p.inFlight.Add(-1)
		p.retryOrGiveUp(o, err)
	}
}

// acked is nats.go's callback for an acknowledgement.
func (p *Publisher) acked(_ jetstream.JetStream, msg *nats.Msg, ack *jetstream.PubAck) {
	p.mu.Lock()
	_, ok := p.sent[msg]
	delete(p.sent, msg)
	p.mu.Unlock()
	if !ok {
		return
	}
	if ack.Duplicate {
		p.duplicates.Add(1)
	}
	p.published.Add(1)
	p.inFlight.Add(-1)
	p.held.Add(-1)
	p.signal()
}

// notAcked is nats.go's callback for a send that got no acknowledgement:
// a timeout, a disconnect, no stream listening, or an error from JetStream.
func (p *Publisher) notAcked(_ jetstream.JetStream, msg *nats.Msg, err error) {
	p.mu.Lock()
	o, ok := p.sent[msg]
	delete(p.sent, msg)
	p.mu.Unlock()
	if !ok {
		return
	}
	p.inFlight.Add(-1)
	if errors.Is(err, jetstream.ErrJetStreamPublisherClosed) {
		// Close gave up waiting: the event stays counted as unconfirmed.
		return
	}
	p.retryOrGiveUp(o, err)
}

func (p *Publisher) retryOrGiveUp(o *outgoing, err error) {
	if !retryable(err) {
		p.giveUp(o.id, err)
		return
	}
	p.mu.Lock()
	attempts := o.attempts
	p.mu.Unlock()
	p.log.Debug("event not acknowledged, will re-send",
		"event_id", o.id, "attempts", attempts, "error", err)
	p.later(o, time.Now().Add(retryDelay(attempts)))
}

// later queues o to be sent at due.
func (p *Publisher) later(o *outgoing, due time.Time) {
	p.mu.Lock()
	o.due = due
	heap.Push(&p.retries, o)
	p.mu.Unlock()
	p.signal()
}

// giveUp drops an event that can never be published.
func (p *Publisher) giveUp(id string, err error) {
	p.failed.Add(1)
	p.held.Add(-1)
	p.log.Warn("event rejected, dropped", "event_id", id, "error", err)
	if p.onDrop != nil {
		p.onDrop(id, err)
	}
	p.signal()
}
