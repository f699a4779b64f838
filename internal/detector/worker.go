// Package detector runs the rules of internal/detect on the durable
// consumer "detector": decode and enrich each event, apply it to the state
// of its user, IP and token in stream order, then publish and store the
// alerts, write lockouts, write the states, and only then acknowledge.
//
// Order: the states are written first, with compare-and-set (so two
// detectors never overwrite each other), then the alerts and lockouts go
// out, then the acks. A state remembers the verdicts of its recent events,
// so a batch redelivered after a crash gets the same alerts again (same
// ids: JetStream and the store keep one) instead of losing them.
package detector

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/authwatch/authwatch/event"
	"github.com/authwatch/authwatch/internal/bus"
	"github.com/authwatch/authwatch/internal/detect"
	"github.com/authwatch/authwatch/internal/enrich"
)

// Config tunes the worker.
type Config struct {
	Consumer      string        // durable name, and the DLQ subject suffix
	BatchSize     int           // events per batch at most
	FlushInterval time.Duration // a partial batch is processed after this long
	MaxCached     int           // states kept in memory
	DrainTimeout  time.Duration // on shutdown, how long to keep finishing the batch in hand
	Rules         detect.Config
}

// DefaultConfig keeps alerts within tens of milliseconds of their event.
func DefaultConfig() Config {
	return Config{Consumer: bus.ConsumerDetector, BatchSize: 1000, FlushInterval: 5 * time.Millisecond,
		MaxCached: 200_000, DrainTimeout: 20 * time.Second, Rules: detect.DefaultConfig()}
}

// AlertStore stores alerts (store.Store does, in ClickHouse).
type AlertStore interface {
	InsertAlerts(ctx context.Context, alerts []detect.Alert) error
}

// Worker is one detector process's loop. Several processes may share the
// consumer: state writes are compare-and-set (see States).
type Worker struct {
	cfg     Config
	js      jetstream.JetStream
	cons    jetstream.Consumer
	locks   jetstream.KeyValue
	states  *States
	alerts  AlertStore
	geo     *enrich.GeoDB
	log     *slog.Logger
	metrics *Metrics
	now     func() time.Time
	unlocks chan string // state keys of IPs an admin unlocked
}

// NewWorker wires a worker; geo may be nil (geo rules are then off).
func NewWorker(cfg Config, js jetstream.JetStream, cons jetstream.Consumer, locks jetstream.KeyValue, states *States,
	alerts AlertStore, geo *enrich.GeoDB, log *slog.Logger, m *Metrics) *Worker {
	return &Worker{cfg: cfg, js: js, cons: cons, locks: locks, states: states, alerts: alerts, geo: geo, log: log,
		metrics: m, now: time.Now, unlocks: make(chan string, 1024)}
}

// item is one message of a batch, decoded.
type item struct {
	msg   jetstream.Msg
	login *detect.Login
	token *detect.TokenUse
	dead  *bus.DeadLetter

	// The states it reads and writes ("" for none), set once by decode.
	userKey, ipKey, tokenKey string
}

// keys are the states an item reads and writes.
func (it *item) keys() (user, ip, token string) {
	switch {
	case it.login != nil:
		l := it.login
		if l.UserID != "" {
			user = userKey(l.TenantID, l.UserID)
		}
		if l.Status == event.StatusFailed || l.Status == event.Status2FAFailed {
			ip = ipKey(l.TenantID, l.IP)
		}
	case it.token != nil && it.token.Action == event.TokenAuthenticated:
		token = tokenKey(it.token.TenantID, it.token.TokenID)
	}
	return
}

// Run pulls and processes batches until ctx ends; what was pulled by then
// is still processed and acknowledged before Run returns.
func (w *Worker) Run(ctx context.Context) error {
	iter, err := w.cons.Messages(jetstream.PullMaxMessages(2 * w.cfg.BatchSize))
	if err != nil {
		return fmt.Errorf("detector: pull: %w", err)
	}
	in := make(chan jetstream.Msg, w.cfg.BatchSize)
	go func() {
		defer close(in)
		for {
			m, err := iter.Next()
			if err != nil {
				if errors.Is(err, jetstream.ErrMsgIteratorClosed) {
					return
				}
				w.log.Warn("pull", "err", err)
				continue
			}
			in <- m
		}
	}()
	go func() {
		<-ctx.Done()
		iter.Drain()
	}()
	go w.watchUnlocks(ctx)

	// Effects survive ctx so a shutdown finishes the batch in hand, for
	// DrainTimeout at most (NATS or ClickHouse may be what is down).
	pctx, pcancel := context.WithCancel(context.WithoutCancel(ctx))
	defer pcancel()
	go func() {
		<-ctx.Done()
		t := time.NewTimer(w.cfg.DrainTimeout)
		defer t.Stop()
		select {
		case <-t.C:
			w.log.Warn("drain timed out; unacknowledged messages will be redelivered")
			pcancel()
		case <-pctx.Done():
		}
	}()
	finishing := make(chan *finished, 8)
	finisherDone := make(chan struct{})
	go func() { defer close(finisherDone); w.finish(pctx, finishing) }()
	defer func() { close(finishing); <-finisherDone }()

	// Batches are cut and decoded one ahead of the one being processed:
	// decoding needs no state, so it runs while the previous batch waits
	// for its state writes to be stored.
	ready := make(chan []item, 1)
	go w.batches(in, ready)
	tick := time.NewTicker(w.cfg.FlushInterval / 2)
	defer tick.Stop()
	for {
		select {
		case items, ok := <-ready:
			if !ok {
				if len(w.unlocks) > 0 {
					w.process(pctx, nil, finishing)
				}
				return nil
			}
			w.process(pctx, items, finishing)
		case <-tick.C:
			if len(w.unlocks) > 0 {
				w.process(pctx, nil, finishing)
			}
		}
	}
}

// batches cuts the delivered messages into batches of BatchSize, or of what
// came within FlushInterval of a batch's first message, decodes each and
// hands it on. It closes out when in is closed, after the last batch.
func (w *Worker) batches(in <-chan jetstream.Msg, out chan<- []item) {
	defer close(out)
	tick := time.NewTicker(w.cfg.FlushInterval / 2)
	defer tick.Stop()
	// One enricher for the worker's life: its user-agent and place caches
	// stay warm from batch to batch.
	enr := enrich.New(w.geo)
	var batch []jetstream.Msg
	var started time.Time
	flush := func() {
		if len(batch) > 0 {
			out <- w.decode(enr, batch)
			batch = make([]jetstream.Msg, 0, w.cfg.BatchSize)
		}
	}
	for {
		select {
		case m, ok := <-in:
			if !ok {
				flush()
				return
			}
			if len(batch) == 0 {
				started = w.now()
			}
			batch = append(batch, m)
			if len(batch) >= w.cfg.BatchSize {
				flush()
			}
		case <-tick.C:
			if len(batch) > 0 && w.now().Sub(started) >= w.cfg.FlushInterval {
				flush()
			}
		}
	}
}

// process runs one batch: states written, alerts published, lockouts
// written, dead letters filed; then it hands the batch to finish, which
// stores the alerts and acks. Failures of NATS are retried until they
// pass; meanwhile the messages are kept from redelivery with InProgress.
func (w *Worker) process(ctx context.Context, items []item, finish chan<- *finished) {
	start := time.Now()
	msgs := make([]jetstream.Msg, len(items))
	for i := range items {
		msgs[i] = items[i].msg
	}
	var keys []string
	seen := map[string]bool{}
	addKey := func(k string) {
		if k != "" && !seen[k] {
			seen[k] = true
			keys = append(keys, k)
		}
	}
	for i := range items {
		addKey(items[i].userKey)
		addKey(items[i].ipKey)
		addKey(items[i].tokenKey)
	}
	var unlocked []string
	for len(w.unlocks) > 0 {
		k := <-w.unlocks
		unlocked = append(unlocked, k)
		addKey(k)
	}

	retry := bus.Retrier{Log: w.log, Msgs: msgs}
	w.states.checkConnection()
	if !retry.Do(ctx, "load state", func() error { return w.states.load(ctx, keys) }) {
		return
	}
	for _, k := range unlocked {
		if e := w.states.open(k); e != nil && e.ip != nil {
			e.ip.Unlock(w.now())
		}
	}
	// Apply and write the states first, with compare-and-set. A state that
	// another detector changed since we read it is read again and this
	// batch's events applied on top (events it already holds are skipped).
	// Only verdicts from states that were written count.
	var alerts []detect.Alert
	var lockouts []lockout
	var only map[string]bool // nil: every key
	pending := keys
	for round := 0; len(pending) > 0; round++ {
		out := w.apply(items, only)
		var conflicts []string
		ok := retry.Do(ctx, "write state", func() (err error) {
			conflicts, err = w.states.write(ctx, pending)
			return err
		})
		if !ok {
			w.dropDirty(keys)
			return
		}
		lost := map[string]bool{}
		for _, k := range conflicts {
			lost[k] = true
		}
		for _, r := range out {
			if !lost[r.key] {
				alerts = append(alerts, r.alerts...)
				if r.lock != nil {
					lockouts = append(lockouts, *r.lock)
				}
			}
		}
		if len(conflicts) == 0 {
			break
		}
		w.metrics.Conflicts.Add(float64(len(conflicts)))
		if round > 20 {
			w.log.Warn("state keeps changing under us; retrying", "keys", len(conflicts))
		}
		if !retry.Do(ctx, "reload state", func() error { return w.states.load(ctx, conflicts) }) {
			w.dropDirty(keys)
			return
		}
		pending, only = conflicts, lost
	}

	// Then the effects. A crash from here on redelivers the batch; its
	// events are in the states already and get the same verdicts again, so
	// the alerts (same ids: JetStream and the store keep one) and lockouts
	// still go out.
	ok := retry.Do(ctx, "publish alerts", func() error { return w.publishAlerts(ctx, alerts) }) &&
		retry.Do(ctx, "write lockouts", func() error { return w.writeLockouts(ctx, lockouts) })
	if !ok {
		return
	}

	var dead []bus.DeadLetter
	for _, it := range items {
		if it.dead != nil {
			dead = append(dead, *it.dead)
		}
	}
	if !retry.Do(ctx, "dlq publish", func() error { return bus.PublishDead(ctx, w.js, w.cfg.Consumer, dead) }) {
		return
	}
	// Storing the alerts in ClickHouse and the acks happen behind: the next
	// batch's alerts need not wait for this one's insert.
	finish <- &finished{items: items, alerts: alerts, start: start}
}

// finished is a batch whose alerts are out and whose states are written:
// what is left is storing its alerts and acknowledging it.
type finished struct {
	items  []item
	alerts []detect.Alert
	start  time.Time
}

// finish stores the alerts of finished batches in ClickHouse, several
// batches to an insert when they queue up, then acknowledges them. It
// returns when in is closed and drained. Once ctx ends with a batch not
// stored, it stops storing and acking but still takes what comes until in
// is closed, so process never blocks on it; what is not acked is
// redelivered, and gets the same alerts again.
func (w *Worker) finish(ctx context.Context, in <-chan *finished) {
	defer func() {
		for range in {
		}
	}()
	for f := range in {
		group := []*finished{f}
		for more := true; more; {
			select {
			case g, ok := <-in:
				if !ok {
					more = false
					break
				}
				group = append(group, g)
			default:
				more = false
			}
		}
		var alerts []detect.Alert
		var msgs []jetstream.Msg
		for _, g := range group {
			alerts = append(alerts, g.alerts...)
			for _, it := range g.items {
				msgs = append(msgs, it.msg)
			}
		}
		retry := bus.Retrier{Log: w.log, Msgs: msgs}
		if !retry.Do(ctx, "store alerts", func() error { return w.alerts.InsertAlerts(ctx, alerts) }) {
			return
		}
		for _, g := range group {
			for _, it := range g.items {
				_ = it.msg.Ack()
				switch {
				case it.dead != nil:
					w.metrics.Rejected.WithLabelValues(w.cfg.Consumer, it.dead.Code).Inc()
				case it.login != nil:
					w.metrics.Events.WithLabelValues(string(event.KindLogin)).Inc()
				case it.token != nil:
					w.metrics.Events.WithLabelValues(string(event.KindToken)).Inc()
				}
			}
			w.metrics.Batch.Observe(time.Since(g.start).Seconds())
		}
	}
}

// dropDirty forgets states changed by a batch that is abandoned: they are
// read again from KV when the batch comes back.
func (w *Worker) dropDirty(keys []string) {
	for _, k := range keys {
		if e := w.states.cache[k]; e != nil && e.dirty {
			w.states.forget(k)
		}
	}
}

// lockout is an IP lockout to write to KV.
type lockout struct {
	key   string
	value bus.Lockout
}

// keyResult is what applying a batch to one state gave.
type keyResult struct {
	key    string
	alerts []detect.Alert
	lock   *lockout
}

// apply runs the batch's events through the rules in stream order (only
// on the states in only, when not nil) and returns the alerts and lockouts
// of each state touched. A lockout already over when it is decided (a
// backlog) raises its alert but is not written.
func (w *Worker) apply(items []item, only map[string]bool) []keyResult {
	rules := &w.cfg.Rules
	now := w.now().UTC()
	var out []keyResult
	use := func(k string) *entry {
		if k == "" || only != nil && !only[k] {
			return nil
		}
		return w.states.open(k)
	}
	// Most events fire nothing: only verdicts and lockouts make a result.
	emit := func(key string, vs []detect.Verdict, lock *lockout, tenant, user, id, ip, country string, at time.Time) {
		if len(vs) == 0 && lock == nil {
			return
		}
		r := keyResult{key: key, lock: lock}
		for _, v := range vs {
			r.alerts = append(r.alerts, detect.NewAlert(tenant, user, id, ip, country, at, now, v))
		}
		out = append(out, r)
	}
	for _, it := range items {
		if l := it.login; l != nil {
			if e := use(it.userKey); e != nil {
				emit(it.userKey, rules.User(e.user, *l), nil, l.TenantID, l.UserID, l.ID, l.IP, l.Country, l.At)
			}
			if e := use(it.ipKey); e != nil {
				verdicts, lock := rules.IP(e.ip, *l)
				var lo *lockout
				if lock != nil && lock.Until.After(now) {
					lo = &lockout{bus.LockoutKey(l.TenantID, l.IP),
						bus.Lockout{TenantID: l.TenantID, IPAddress: l.IP, FailedAttempts: lock.Attempts, LockedUntil: lock.Until}}
				}
				emit(it.ipKey, verdicts, lo, l.TenantID, l.UserID, l.ID, l.IP, l.Country, l.At)
			}
		}
		if t := it.token; t != nil {
			if e := use(it.tokenKey); e != nil {
				emit(it.tokenKey, rules.Token(e.token, *t), nil, t.TenantID, t.UserID, t.ID, t.IP, t.Country, t.At)
			}
		}
	}
	return out
}

// decode turns messages into items; what cannot be used becomes a dead letter.
func (w *Worker) decode(enr *enrich.Enricher, msgs []jetstream.Msg) []item {
	var dec event.Decoder
	items := make([]item, len(msgs))
	for i, m := range msgs {
		it := &items[i]
		it.msg = m
		meta, err := m.Metadata()
		if err != nil {
			continue
		}
		ev, err := dec.Decode(m.Subject(), m.Data())
		if err != nil {
			d := bus.NewDeadLetter(m, meta.Sequence.Stream, event.Reason(err), err)
			it.dead = &d
			continue
		}
		r := enr.Enrich(ev.UserAgent, ev.IPAddress)
		switch ev.Kind {
		case event.KindLogin:
			it.login = &detect.Login{TenantID: ev.TenantID, UserID: ev.UserID, ID: ev.ID, Identifier: ev.Identifier, IP: ev.IPAddress,
				Status: ev.Status, At: ev.OccurredAt, Device: detect.Device{Type: r.Type, Browser: r.Browser, Platform: r.Platform},
				Country: r.Country, City: r.City, Lat: r.Latitude, Lon: r.Longitude, Located: r.Located}
		case event.KindToken:
			it.token = &detect.TokenUse{TenantID: ev.TenantID, TokenID: ev.TokenID, ID: ev.ID, UserID: ev.UserID, IP: ev.IPAddress,
				Action: ev.Action, At: ev.OccurredAt, Country: r.Country}
		}
		it.userKey, it.ipKey, it.tokenKey = it.keys()
	}
	return items
}

// publishAlerts publishes each alert with its id as Nats-Msg-Id and waits
// until JetStream stored them all.
func (w *Worker) publishAlerts(ctx context.Context, alerts []detect.Alert) error {
	futures := make([]jetstream.PubAckFuture, 0, len(alerts))
	for _, a := range alerts {
		data, err := a.Marshal()
		if err != nil {
			return err
		}
		m := nats.NewMsg(detect.AlertSubject(a.TenantID, a.Rule))
		m.Data = data
		m.Header.Set(jetstream.MsgIDHeader, a.ID)
		f, err := w.js.PublishMsgAsync(m)
		if err != nil {
			return err
		}
		futures = append(futures, f)
	}
	if err := bus.WaitAcks(ctx, futures); err != nil {
		return fmt.Errorf("alerts: %w", err)
	}
	for _, a := range alerts {
		w.metrics.Alerts.WithLabelValues(string(a.Rule)).Inc()
	}
	return nil
}

// writeLockouts creates each lockout key with a TTL ending at locked_until.
// A key that exists already is a lockout in force (another detector, or an
// earlier attempt at this batch): it is left as it is.
func (w *Worker) writeLockouts(ctx context.Context, locks []lockout) error {
	for _, l := range locks {
		ttl := time.Until(l.value.LockedUntil)
		if ttl < time.Second {
			continue
		}
		data, err := json.Marshal(l.value)
		if err != nil {
			return err
		}
		if _, err := w.locks.Create(ctx, l.key, data, jetstream.KeyTTL(ttl)); err != nil && !errors.Is(err, jetstream.ErrKeyExists) {
			return fmt.Errorf("lockout %s: %w", l.key, err)
		}
		w.metrics.Lockouts.Inc()
		w.log.Info("ip locked", "tenant", l.value.TenantID, "ip", l.value.IPAddress, "until", l.value.LockedUntil.Format(time.RFC3339))
	}
	return nil
}

// watchUnlocks follows deletes in auth_lockouts (an admin's unlock, or a
// lockout expiring) and queues the IP's state to be unlocked too, so its
// failures count afresh from now on.
func (w *Worker) watchUnlocks(ctx context.Context) {
	for ctx.Err() == nil {
		watcher, err := w.locks.WatchAll(ctx, jetstream.UpdatesOnly())
		if err != nil {
			w.log.Warn("watch lockouts", "err", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Second):
			}
			continue
		}
		for e := range watcher.Updates() {
			if e == nil || e.Operation() == jetstream.KeyValuePut {
				continue
			}
			select {
			case w.unlocks <- kindIP + "." + e.Key():
			case <-ctx.Done():
			}
		}
		_ = watcher.Stop()
	}
}

// CountLockouts sets the active-lockouts gauge from the bucket every
// period until ctx ends.
func (w *Worker) CountLockouts(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if n, err := w.activeLockouts(ctx); err == nil {
			w.metrics.Active.Set(float64(n))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (w *Worker) activeLockouts(ctx context.Context) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	keys, err := w.locks.ListKeys(ctx)
	if err != nil {
		return 0, err
	}
	now := w.now()
	n := 0
	for k := range keys.Keys() {
		e, err := w.locks.Get(ctx, k)
		if err != nil {
			continue
		}
		var l bus.Lockout
		if json.Unmarshal(e.Value(), &l) == nil && l.LockedUntil.After(now) {
			n++
		}
	}
	return n, nil
}

// WatchLag updates the pending gauge from the consumer's info until ctx ends.
func (w *Worker) WatchLag(ctx context.Context, every time.Duration) {
	bus.WatchLag(ctx, every, []jetstream.Consumer{w.cons}, []func(float64){w.metrics.Pending.Set})
}
