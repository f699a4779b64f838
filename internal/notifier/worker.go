package notifier

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/authwatch/authwatch/internal/bus"
	"github.com/authwatch/authwatch/internal/detect"
	"github.com/authwatch/authwatch/internal/notify"
	"github.com/authwatch/authwatch/internal/store"
)

// Config tunes the worker.
type Config struct {
	Schedule       notify.Schedule
	AttemptTimeout time.Duration // an attempt without an answer by then failed (SPEC §3: 10 s)
	Concurrency    int           // attempts in flight per webhook
	Queue          int           // jobs waiting per webhook beyond those in flight
	BusyDelay      time.Duration // a job of a webhook whose queue is full comes back after this
	LogFlush       time.Duration // at most one delivery-log insert per this long
	DrainTimeout   time.Duration // on shutdown, how long attempts in flight may finish
	AllowPrivate   bool          // WEBHOOK_ALLOW_PRIVATE
}

// DefaultConfig is SPEC §3's schedule and timeout.
func DefaultConfig() Config {
	return Config{Schedule: notify.DefaultSchedule(), AttemptTimeout: 10 * time.Second, Concurrency: 8, Queue: 100,
		BusyDelay: 5 * time.Second, LogFlush: time.Second, DrainTimeout: 15 * time.Second}
}

// DeliveryLog stores attempts (store.Store does, in ClickHouse).
type DeliveryLog interface {
	InsertDeliveries(ctx context.Context, rows []store.DeliveryAttempt) error
}

// Worker is one notifier process's loops. Several processes may share the
// consumers: a job is one attempt, and whoever takes it makes it.
//
// Alerts: each alert of AUTH_ALERTS becomes one job per webhook that wants
// it, published to AUTH_DELIVERIES; the alert is acked once JetStream has
// stored its jobs. Jobs: each goes to its webhook's lane (Concurrency
// attempts in flight, Queue waiting: a slow or dead receiver fills its own
// lane and no other); the attempt is logged in ClickHouse, a failure's
// next attempt is published as a job due later, and only then is the job
// acked. A process killed anywhere leaves an unacked message that comes
// back: nothing is lost, and an attempt may be made twice, with the same
// Authwatch-Delivery.
type Worker struct {
	cfg    Config
	js     jetstream.JetStream
	alerts jetstream.Consumer // "notifier" on AUTH_ALERTS
	jobs   jetstream.Consumer // "notifier" on AUTH_DELIVERIES
	reg    *Registry
	dlog   DeliveryLog
	sender *Sender
	log    *slog.Logger
	m      *Metrics
	now    func() time.Time

	mu       sync.Mutex
	lanes    map[string]*lane // by webhook id; a lane goes when it is idle
	stopping bool

	inflight sync.WaitGroup // lane goroutines
	finished chan *task
}

// lane is one webhook's attempts: active in flight, queue waiting.
type lane struct {
	active int
	queue  []*task
}

// task is one job taken from AUTH_DELIVERIES and what its attempt gave.
type task struct {
	msg     jetstream.Msg
	job     notify.Job
	hook    notify.Webhook
	at      time.Time
	res     Attempt
	outcome notify.Outcome
	next    notify.Job // the next attempt's job when outcome is Retrying
}

// NewWorker wires a worker.
func NewWorker(cfg Config, js jetstream.JetStream, alerts, jobs jetstream.Consumer, reg *Registry, dlog DeliveryLog,
	log *slog.Logger, m *Metrics) *Worker {
	return &Worker{cfg: cfg, js: js, alerts: alerts, jobs: jobs, reg: reg, dlog: dlog,
		sender: NewSender(cfg.AllowPrivate, cfg.AttemptTimeout), log: log, m: m, now: time.Now,
		lanes: map[string]*lane{}, finished: make(chan *task, 4096)}
}

// Run fans out alerts and makes attempts until ctx ends; then it stops
// taking messages, puts back the jobs still waiting in lanes, lets the
// attempts in flight finish (DrainTimeout at most) and logs and acks them.
func (w *Worker) Run(ctx context.Context) error {
	alerts, err := pull(ctx, w.alerts, 256, w.log)
	if err != nil {
		return fmt.Errorf("notifier: pull alerts: %w", err)
	}
	jobs, err := pull(ctx, w.jobs, 256, w.log)
	if err != nil {
		return fmt.Errorf("notifier: pull jobs: %w", err)
	}
	// Effects survive ctx for DrainTimeout, so a shutdown finishes what is
	// in flight; what is not acked by then comes back to another process.
	pctx, pcancel := context.WithCancel(context.WithoutCancel(ctx))
	defer pcancel()
	go func() {
		<-ctx.Done()
		t := time.NewTimer(w.cfg.DrainTimeout)
		defer t.Stop()
		select {
		case <-t.C:
			w.log.Warn("drain timed out; unacknowledged jobs will be redelivered")
			pcancel()
		case <-pctx.Done():
		}
	}()
	stopFinisher := make(chan struct{})
	finisherDone := make(chan struct{})
	go func() { defer close(finisherDone); w.finish(pctx, stopFinisher) }()

	var loops sync.WaitGroup
	loops.Add(2)
	go func() { defer loops.Done(); w.fanOut(pctx, alerts) }()
	go func() { defer loops.Done(); w.dispatch(ctx, pctx, jobs) }()
	go w.keepQueuedAlive(ctx)
	loops.Wait()

	for _, t := range w.stopLanes() {
		_ = t.msg.Nak() // another process (or this one restarted) takes it at once
	}
	lanesDone := make(chan struct{})
	go func() { w.inflight.Wait(); close(lanesDone) }()
	select {
	case <-lanesDone:
	case <-pctx.Done():
	}
	close(stopFinisher)
	<-finisherDone
	return nil
}

// fanOut turns alerts into delivery jobs, a batch at a time, until in
// closes (what was pulled before a shutdown is still fanned out).
func (w *Worker) fanOut(ctx context.Context, in <-chan jetstream.Msg) {
	for m := range in {
		batch := []jetstream.Msg{m}
	more:
		for len(batch) < 256 {
			select {
			case m, ok := <-in:
				if !ok {
					break more
				}
				batch = append(batch, m)
			default:
				break more
			}
		}
		w.fanOutBatch(ctx, batch)
	}
}

// pull delivers a consumer's messages on a channel until ctx ends (what
// was buffered by then still comes, then the channel closes).
func pull(ctx context.Context, c jetstream.Consumer, max int, log *slog.Logger) (<-chan jetstream.Msg, error) {
	iter, err := c.Messages(jetstream.PullMaxMessages(max))
	if err != nil {
		return nil, err
	}
	out := make(chan jetstream.Msg, max)
	go func() {
		defer close(out)
		for {
			m, err := iter.Next()
			if err != nil {
				if errors.Is(err, jetstream.ErrMsgIteratorClosed) {
					return
				}
				log.Warn("pull", "err", err)
				continue
			}
			out <- m
		}
	}()
	go func() {
		<-ctx.Done()
		iter.Drain()
	}()
	return out, nil
}

func (w *Worker) fanOutBatch(ctx context.Context, msgs []jetstream.Msg) {
	retry := bus.Retrier{Log: w.log, Msgs: msgs}
	// Every webhook created before these alerts were published must be
	// known: read the bucket up to its current end first.
	if !retry.Do(ctx, "read webhooks", func() error {
		sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		return w.reg.Sync(sctx)
	}) {
		return
	}
	var jobs []notify.Job
	var dead []bus.DeadLetter
	for _, m := range msgs {
		meta, err := m.Metadata()
		if err != nil {
			continue
		}
		a, err := decodeAlert(m.Subject(), m.Data())
		if err != nil {
			dead = append(dead, bus.NewDeadLetter(m, meta.Sequence.Stream, "bad_alert", err))
			continue
		}
		for _, h := range w.reg.ForAlert(a.TenantID, a.Rule, a.Severity, meta.Timestamp) {
			j := notify.NewJob(h, a.ID, m.Data())
			j.AlertPublishedAt = meta.Timestamp
			jobs = append(jobs, j)
		}
	}
	if !retry.Do(ctx, "publish delivery jobs", func() error { return PublishJobs(ctx, w.js, jobs) }) ||
		!retry.Do(ctx, "dlq publish", func() error { return bus.PublishDead(ctx, w.js, bus.ConsumerNotifier, dead) }) {
		return
	}
	for _, m := range msgs {
		_ = m.Ack()
	}
	w.m.Alerts.Add(float64(len(msgs) - len(dead)))
	for range dead {
		w.m.Rejected.WithLabelValues(bus.ConsumerNotifier, "bad_alert").Inc()
	}
}

// decodeAlert reads an alert and checks it can be delivered: an id, a
// rule and severity, and the tenant of its subject.
func decodeAlert(subject string, data []byte) (detect.Alert, error) {
	var a detect.Alert
	if err := json.Unmarshal(data, &a); err != nil {
		return a, fmt.Errorf("not an alert: %w", err)
	}
	parts := strings.Split(subject, ".")
	switch {
	case a.ID == "" || !detect.ValidRule(string(a.Rule)) || notify.SeverityRank(a.Severity) == 0:
		return a, errors.New("not an alert: id, rule or severity missing or unknown")
	case len(parts) != 4 || parts[2] != a.TenantID || !notify.ValidID(a.TenantID):
		return a, fmt.Errorf("alert of tenant %q on subject %s", a.TenantID, subject)
	}
	return a, nil
}

// dispatch takes jobs and hands each to its webhook's lane until in
// closes; jobs pulled after ctx ended are put back at once.
func (w *Worker) dispatch(ctx, pctx context.Context, in <-chan jetstream.Msg) {
	for m := range in {
		if ctx.Err() != nil {
			_ = m.Nak()
			continue
		}
		w.route(pctx, m)
	}
}

func (w *Worker) route(ctx context.Context, m jetstream.Msg) {
	job, err := notify.ParseJob(m.Data())
	if err != nil {
		meta, merr := m.Metadata()
		if merr != nil {
			return
		}
		d := bus.NewDeadLetter(m, meta.Sequence.Stream, "bad_job", err)
		if err := bus.PublishDead(ctx, w.js, bus.ConsumerNotifier, []bus.DeadLetter{d}); err != nil {
			_ = m.NakWithDelay(5 * time.Second)
			return
		}
		_ = m.Ack()
		w.m.Rejected.WithLabelValues(bus.ConsumerNotifier, "bad_job").Inc()
		return
	}
	if wait := job.NotBefore.Sub(w.now()); wait > 20*time.Millisecond {
		_ = m.NakWithDelay(wait) // a retry, back when it is due
		return
	}
	hook, ok := w.reg.Get(job.TenantID, job.WebhookID)
	if !ok {
		// Perhaps created a moment ago (a test sent right after the 201).
		sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		err := w.reg.Sync(sctx)
		cancel()
		if err != nil {
			_ = m.NakWithDelay(time.Second)
			return
		}
		if hook, ok = w.reg.Get(job.TenantID, job.WebhookID); !ok {
			w.m.Dropped.Inc()
			_ = m.Ack()
			return
		}
	}
	if !w.submit(ctx, &task{msg: m, job: job, hook: hook}) {
		w.m.Deferred.Inc()
		_ = m.NakWithDelay(w.cfg.BusyDelay)
	}
}

// submit starts the task in its webhook's lane, or queues it there; false
// when the lane is full.
func (w *Worker) submit(ctx context.Context, t *task) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.stopping {
		return false
	}
	l := w.lanes[t.hook.ID]
	if l == nil {
		l = &lane{}
		w.lanes[t.hook.ID] = l
	}
	switch {
	case l.active < w.cfg.Concurrency:
		l.active++
		w.inflight.Add(1)
		go w.runLane(ctx, t.hook.ID, t)
	case len(l.queue) < w.cfg.Queue:
		l.queue = append(l.queue, t)
	default:
		return false
	}
	return true
}

// runLane makes attempts of one webhook, t first, then what is queued.
func (w *Worker) runLane(ctx context.Context, id string, t *task) {
	defer w.inflight.Done()
	for t != nil {
		w.attempt(ctx, t)
		t = w.nextInLane(id)
	}
}

func (w *Worker) nextInLane(id string) *task {
	w.mu.Lock()
	defer w.mu.Unlock()
	l := w.lanes[id]
	if w.stopping || len(l.queue) == 0 {
		l.active--
		if l.active == 0 && len(l.queue) == 0 {
			delete(w.lanes, id)
		}
		return nil
	}
	t := l.queue[0]
	l.queue[0] = nil
	l.queue = l.queue[1:]
	return t
}

// stopLanes stops lanes from starting attempts and returns what waited.
func (w *Worker) stopLanes() []*task {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.stopping = true
	var out []*task
	for _, l := range w.lanes {
		out = append(out, l.queue...)
		l.queue = nil
	}
	return out
}

// keepQueuedAlive tells JetStream that jobs waiting in lanes are being
// worked on, so they are not redelivered while a slow receiver keeps
// them waiting.
func (w *Worker) keepQueuedAlive(ctx context.Context) {
	t := time.NewTicker(10 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		w.mu.Lock()
		var msgs []jetstream.Msg
		for _, l := range w.lanes {
			for _, q := range l.queue {
				msgs = append(msgs, q.msg)
			}
		}
		w.mu.Unlock()
		for _, m := range msgs {
			_ = m.InProgress()
		}
	}
}

// attempt makes one POST and hands the task to the finisher.
func (w *Worker) attempt(ctx context.Context, t *task) {
	if _, ok := w.reg.Get(t.job.TenantID, t.job.WebhookID); !ok {
		w.m.Dropped.Inc() // deleted while the job waited
		_ = t.msg.Ack()
		return
	}
	t.at = w.now()
	body, err := notify.Body(t.hook.Format, t.job.Alert)
	if err != nil {
		t.res = Attempt{Err: "the alert cannot be formatted: " + oneLine(err.Error()), Result: "error"}
	} else {
		t.res = w.sender.Send(ctx, t.hook, t.job.DeliveryID, body)
	}
	if ctx.Err() != nil {
		_ = t.msg.Nak() // the drain ran out: made again by whoever takes it
		return
	}
	// The schedule counts from the end of the failed attempt.
	t.outcome, t.next = notify.Decide(w.cfg.Schedule, t.job, t.at, t.at.Add(t.res.Duration), t.res.OK())
	w.m.Attempts.WithLabelValues(t.res.Result).Inc()
	w.m.AttemptTime.Observe(t.res.Duration.Seconds())
	if t.res.OK() && t.job.Attempt == 1 && !t.job.AlertPublishedAt.IsZero() {
		w.m.Latency.Observe(t.at.Add(t.res.Duration).Sub(t.job.AlertPublishedAt).Seconds())
	}
	if t.outcome != notify.Delivered {
		w.log.Info("delivery attempt failed", "tenant", t.job.TenantID, "webhook", t.job.WebhookID, "delivery", t.job.DeliveryID,
			"attempt", t.job.Attempt, "status", t.res.StatusCode, "err", t.res.Err, "outcome", string(t.outcome))
	}
	select {
	case w.finished <- t:
	case <-ctx.Done():
		_ = t.msg.Nak()
	}
}

// finish logs finished attempts in ClickHouse, several to an insert and
// at most one insert per LogFlush, publishes the next attempts of the
// failed ones, then acks them all. It returns when stop is closed and
// nothing is left, or when ctx ends (unacked jobs come back).
func (w *Worker) finish(ctx context.Context, stop <-chan struct{}) {
	var last time.Time
	for {
		var first *task
		select {
		case first = <-w.finished:
		case <-stop:
			select {
			case first = <-w.finished:
			default:
				return
			}
		case <-ctx.Done():
			return
		}
		group := []*task{first}
		wait := time.NewTimer(time.Until(last.Add(w.cfg.LogFlush)))
	gather:
		for {
			select {
			case t := <-w.finished:
				group = append(group, t)
			case <-wait.C:
				break gather
			case <-stop:
				break gather
			case <-ctx.Done():
				wait.Stop()
				return
			}
		}
		wait.Stop()
		for more := true; more; {
			select {
			case t := <-w.finished:
				group = append(group, t)
			default:
				more = false
			}
		}
		if !w.finishGroup(ctx, group) {
			return
		}
		last = time.Now()
	}
}

func (w *Worker) finishGroup(ctx context.Context, group []*task) bool {
	rows := make([]store.DeliveryAttempt, len(group))
	msgs := make([]jetstream.Msg, len(group))
	var next []notify.Job
	for i, t := range group {
		msgs[i] = t.msg
		rows[i] = store.DeliveryAttempt{TenantID: t.job.TenantID, WebhookID: t.job.WebhookID, DeliveryID: t.job.DeliveryID,
			AlertID: t.job.AlertID, Attempt: t.job.Attempt, StatusCode: t.res.StatusCode, Error: t.res.Err,
			Outcome: string(t.outcome), NextAttemptAt: t.next.NotBefore, AttemptedAt: t.at, Duration: t.res.Duration}
		if t.outcome == notify.Retrying {
			next = append(next, t.next)
		}
	}
	retry := bus.Retrier{Log: w.log, Msgs: msgs}
	if !retry.Do(ctx, "write delivery log", func() error { return w.dlog.InsertDeliveries(ctx, rows) }) ||
		!retry.Do(ctx, "schedule retries", func() error { return PublishJobs(ctx, w.js, next) }) {
		return false
	}
	for _, t := range group {
		_ = t.msg.Ack()
		switch t.outcome {
		case notify.Retrying:
			w.m.Retries.Inc()
		default:
			w.m.Deliveries.WithLabelValues(string(t.outcome)).Inc()
			if t.outcome == notify.Failed {
				w.log.Warn("delivery failed for good", "tenant", t.job.TenantID, "webhook", t.job.WebhookID,
					"delivery", t.job.DeliveryID, "alert", t.job.AlertID, "attempts", t.job.Attempt)
			}
		}
	}
	return true
}

// WatchLag updates the pending gauges from the consumers' info until ctx ends.
func (w *Worker) WatchLag(ctx context.Context, every time.Duration) {
	bus.WatchLag(ctx, every, []jetstream.Consumer{w.alerts, w.jobs}, []func(float64){w.m.Pending.Set, w.m.JobsPending.Set})
}
