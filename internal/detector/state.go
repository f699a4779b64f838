package detector

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/authwatch/authwatch/internal/bus"
	"github.com/authwatch/authwatch/internal/detect"
)

// States keeps the rules' state in KV auth_detector_state with a cache in
// front. Every write is a compare-and-set on the revision the state was
// read at, so two detectors on the same consumer never overwrite each
// other's update: the loser reloads and applies its events again.
//
// Keys: u.<tenant>.<user>, ip.<tenant>.<ip>, t.<tenant>.<token>, user and
// token base64url-encoded (KV keys allow few characters), the IP written as
// in auth_lockouts.
type States struct {
	js     jetstream.JetStream
	stream jetstream.Stream
	max    int // cached entries at most

	log *slog.Logger

	cache      map[string]*entry // used by the worker goroutine only
	noMulti    bool              // the server cannot read many keys in one request
	reconnects uint64            // the connection's reconnects when the cache was last checked
}

// entry is one cached state: as read from KV (data) until a batch first
// changes it, decoded from then on (states are compact: a few hundred
// bytes either way).
type entry struct {
	rev   uint64 // KV revision the state was read or written at; 0 = none yet
	data  []byte // the state as read, until decoded; nil = empty
	kind  string
	user  *detect.UserState // decoded
	ip    *detect.IPState
	token *detect.TokenState
	dirty bool
}

// open returns the cached entry of key, decoded and marked dirty: the
// batch at hand may change it, and write stores it.
func (s *States) open(key string) *entry {
	e := s.cache[key]
	if e == nil {
		return nil
	}
	e.dirty = true
	if e.user != nil || e.ip != nil || e.token != nil {
		return e
	}
	switch e.kind {
	case kindUser:
		e.user = &detect.UserState{}
	case kindIP:
		e.ip = &detect.IPState{}
	default:
		e.token = &detect.TokenState{}
	}
	if len(e.data) > 0 {
		// A state we cannot read is started afresh rather than blocking the stream.
		if err := json.Unmarshal(e.data, e.value()); err != nil {
			e.user, e.ip, e.token = nil, nil, nil
			e.data = nil
			return s.open(key)
		}
		e.data = nil
	}
	return e
}

func (e *entry) value() any {
	switch {
	case e.user != nil:
		return e.user
	case e.ip != nil:
		return e.ip
	default:
		return e.token
	}
}

// Kinds of state key.
const (
	kindUser  = "u"
	kindIP    = "ip"
	kindToken = "t"
)

func userKey(tenant, user string) string { return bus.UserStateKey(tenant, user) }

func ipKey(tenant, ip string) string { return kindIP + "." + bus.LockoutKey(tenant, ip) }

func tokenKey(tenant, token string) string {
	return kindToken + "." + tenant + "." + base64.RawURLEncoding.EncodeToString([]byte(token))
}

// OpenStates binds the state bucket (created by EnsureStateBucket).
func OpenStates(ctx context.Context, js jetstream.JetStream, maxCached int, log *slog.Logger) (*States, error) {
	s, err := js.Stream(ctx, "KV_"+bus.StateBucket)
	if err != nil {
		return nil, fmt.Errorf("state bucket: %w", err)
	}
	return &States{js: js, stream: s, max: maxCached, log: log, cache: map[string]*entry{},
		reconnects: js.Conn().Stats().Reconnects}, nil
}

func subjectOf(key string) string { return "$KV." + bus.StateBucket + "." + key }

// checkConnection empties the cache when the connection to NATS was lost
// since the last check. A single server in async persist mode that was
// killed can come back without its last writes, and reuse their
// sequences: a revision cached from before could then match another
// detector's newer write and let a compare-and-set through that should
// fail. Called between batches, when no entry is dirty.
func (s *States) checkConnection() {
	if n := s.js.Conn().Stats().Reconnects; n != s.reconnects {
		s.reconnects = n
		clear(s.cache)
	}
}

// load makes sure the entries of keys are cached, reading the missing ones
// from KV: many to a request (readMany), or one request each where the
// server cannot do that.
func (s *States) load(ctx context.Context, keys []string) error {
	var missing []string
	for _, k := range keys {
		if _, ok := s.cache[k]; !ok {
			missing = append(missing, k)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	var loaded []*entry
	var err error
	if !s.noMulti {
		loaded, err = s.readMany(ctx, missing)
		if errors.Is(err, errNoMultiGet) {
			s.log.Warn("the NATS server cannot read many keys in one request (nats-server 2.11 can): reading states one request each")
			s.noMulti = true
		}
	}
	if s.noMulti {
		loaded, err = s.readEach(ctx, missing)
	}
	if err != nil {
		return err
	}
	s.evict(len(missing), keys)
	for i, k := range missing {
		s.cache[k] = loaded[i]
	}
	return nil
}

// errNoMultiGet: the server does not answer multi_last direct gets.
var errNoMultiGet = errors.New("server has no batched direct get")

// multiGetChunk keeps each request under the server's limit of 1,024
// messages per batched get.
const multiGetChunk = 512

// readMany reads the latest state of each key with JetStream's batched
// direct get (multi_last, nats-server 2.11 and later): one request per 512
// keys instead of one per key. Keys never written come back empty.
func (s *States) readMany(ctx context.Context, keys []string) ([]*entry, error) {
	found := make(map[string]*entry, len(keys))
	for start := 0; start < len(keys); start += multiGetChunk {
		if err := s.readChunk(ctx, keys[start:min(start+multiGetChunk, len(keys))], found); err != nil {
			return nil, err
		}
	}
	out := make([]*entry, len(keys))
	for i, k := range keys {
		if e := found[k]; e != nil {
			out[i] = e
		} else {
			out[i] = &entry{kind: kindOf(k)}
		}
	}
	return out, nil
}

// readChunk reads the keys of one batched get, asking again for those a
// reply left out (the server stops at its max_pending bytes and says how
// many it did not send), and files what it gets in found by key.
func (s *States) readChunk(ctx context.Context, keys []string, found map[string]*entry) error {
	for len(keys) > 0 {
		pending, err := s.getBatch(ctx, keys, found)
		if err != nil {
			return err
		}
		if !pending {
			return nil
		}
		var rest []string
		for _, k := range keys {
			if found[k] == nil {
				rest = append(rest, k)
			}
		}
		if len(rest) == len(keys) {
			return errors.New("read states: the server returned none of the keys it said it had")
		}
		keys = rest
	}
	return nil
}

// getBatch sends one multi_last direct get for keys. pending says the
// server has more of them than it sent.
func (s *States) getBatch(ctx context.Context, keys []string, found map[string]*entry) (pending bool, err error) {
	nc := s.js.Conn()
	subjects := make([]string, len(keys))
	for i, k := range keys {
		subjects[i] = subjectOf(k)
	}
	req, err := json.Marshal(struct {
		MultiLast []string `json:"multi_last"`
	}{subjects})
	if err != nil {
		return false, err
	}
	// An inbox of its own: one under nats.go's shared request prefix would
	// bring every reply twice (once to the client's shared subscription).
	inbox := nc.NewInbox()
	sub, err := nc.SubscribeSync(inbox)
	if err != nil {
		return false, err
	}
	defer func() { _ = sub.Unsubscribe() }()
	if err := nc.PublishRequest("$JS.API.DIRECT.GET.KV_"+bus.StateBucket, inbox, req); err != nil {
		return false, err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	prefix := "$KV." + bus.StateBucket + "."
	got := 0
	for {
		m, err := sub.NextMsgWithContext(ctx)
		if err != nil {
			return false, fmt.Errorf("read states: %w", err)
		}
		if status := m.Header.Get("Status"); status != "" {
			desc := m.Header.Get("Description")
			switch {
			case status == "204": // end of the batch
				return m.Header.Get("Nats-Num-Pending") != "0", nil
			case status == "404" && got == 0 && strings.EqualFold(desc, "no results"):
				return false, nil // none of them written yet
			case status == "408" && strings.EqualFold(desc, "empty request"):
				// Before 2.11 the server ignores multi_last and sees an
				// empty request.
				return false, errNoMultiGet
			}
			// 503 (no responders: the stream is moving or NATS restarting),
			// a 404 other than "No Results" (a message failed to load), anything else:
			// the batch is retried.
			return false, fmt.Errorf("read states: status %s %s", status, desc)
		}
		key, ok := strings.CutPrefix(m.Header.Get("Nats-Subject"), prefix)
		seq, err := strconv.ParseUint(m.Header.Get("Nats-Sequence"), 10, 64)
		if !ok || err != nil {
			return false, fmt.Errorf("read states: unexpected answer for %q", m.Header.Get("Nats-Subject"))
		}
		e := &entry{kind: kindOf(key), rev: seq}
		if op := m.Header.Get("KV-Operation"); op != "DEL" && op != "PURGE" {
			e.data = m.Data
		}
		found[key] = e
		got++
	}
}

// readEach reads the keys one request each, several at a time.
func (s *States) readEach(ctx context.Context, keys []string) ([]*entry, error) {
	loaded := make([]*entry, len(keys))
	errs := make([]error, len(keys))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 32)
	for i, k := range keys {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			loaded[i], errs[i] = s.read(ctx, k)
		}()
	}
	wg.Wait()
	return loaded, errors.Join(errs...)
}

// read fetches one key's latest state; a key never written, deleted or
// purged is an empty state at the revision of its marker.
func (s *States) read(ctx context.Context, key string) (*entry, error) {
	e := &entry{kind: kindOf(key)}
	m, err := s.stream.GetLastMsgForSubject(ctx, subjectOf(key))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return e, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read state %s: %w", key, err)
	}
	e.rev = m.Sequence
	if op := m.Header.Get("KV-Operation"); op != "DEL" && op != "PURGE" {
		e.data = m.Data
	}
	return e, nil
}

func kindOf(key string) string {
	kind, _, _ := strings.Cut(key, ".")
	return kind
}

// evict drops clean entries, other than those of keep, until n more fit
// under the cap.
func (s *States) evict(n int, keep []string) {
	over := len(s.cache) + n - s.max
	if over <= 0 {
		return
	}
	kept := make(map[string]bool, len(keep))
	for _, k := range keep {
		kept[k] = true
	}
	for k, e := range s.cache {
		if over <= 0 {
			return
		}
		if !e.dirty && !kept[k] {
			delete(s.cache, k)
			over--
		}
	}
}

// forget drops a key from the cache, so the next load reads KV.
func (s *States) forget(key string) { delete(s.cache, key) }

// write stores every dirty entry of keys with compare-and-set, all in
// flight at once. It returns the keys that lost a race with another
// detector (their cache entries are dropped); the others are clean at
// their new revision.
func (s *States) write(ctx context.Context, keys []string) (conflicts []string, err error) {
	type pending struct {
		key string
		f   jetstream.PubAckFuture
	}
	var inflight []pending
	for _, k := range keys {
		e := s.cache[k]
		if e == nil || !e.dirty {
			continue
		}
		data, err := json.Marshal(e.value())
		if err != nil {
			return nil, err
		}
		f, err := s.js.PublishAsync(subjectOf(k), data, jetstream.WithExpectLastSequencePerSubject(e.rev))
		if err != nil {
			return nil, fmt.Errorf("write state %s: %w", k, err)
		}
		inflight = append(inflight, pending{k, f})
	}
	var errs []error
	for _, p := range inflight {
		select {
		case ack := <-p.f.Ok():
			e := s.cache[p.key]
			e.rev, e.dirty = ack.Sequence, false
		case err := <-p.f.Err():
			if wrongLastSequence(err) {
				s.forget(p.key) // read again by the caller
				conflicts = append(conflicts, p.key)
			} else {
				// Kept dirty, at the revision it was read at: the caller's
				// retry writes it again. Forgotten, the retry would skip it
				// and the batch's update would be lost. If this write did
				// land (a lost ack), the retry conflicts and the events,
				// already in the state read again, are not applied twice.
				errs = append(errs, fmt.Errorf("write state %s: %w", p.key, err))
			}
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return conflicts, errors.Join(errs...)
}

// wrongLastSequence says whether a publish lost a compare-and-set race
// (10164 is what replicated streams answer).
func wrongLastSequence(err error) bool {
	var api *jetstream.APIError
	return errors.As(err, &api) &&
		(api.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence || api.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant)
}
