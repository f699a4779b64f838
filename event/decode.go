package event

import (
	"bytes"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"unicode/utf8"
)

// Decoder decodes events, reusing its buffers from one call to the next. A
// Decoder must not be used by two goroutines at once; its zero value is
// ready to use. Decode (the function) keeps a pool of them.
type Decoder struct {
	scan scanner
	strs []byte // the string bytes kept from the event being decoded
	meta []span // metadata keys and values, alternating, as spans of strs
	key  []byte // a key being read, when it has escapes
	ip   []byte // the canonical form of ip_address
}

// span locates one string in Decoder.strs.
type span struct{ start, end int }

func (s span) in(all string) string { return all[s.start:s.end] }

var decoders = sync.Pool{New: func() any { return new(Decoder) }}

// Decode decodes and validates one event as received on subject. It is pure
// and safe for concurrent use; see Decoder.Decode.
func Decode(subject string, data []byte) (*Event, error) {
	d := decoders.Get().(*Decoder)
	ev, err := d.Decode(subject, data)
	decoders.Put(d)
	return ev, err
}

// Decode decodes and validates one event received on subject, which must be
// auth.events.<tenant_id>.<kind> of the event. The checks run in this order,
// and the first that fails is returned as an *Error:
//
//  1. data is at most MaxPayloadBytes (ReasonOversize);
//  2. data is one JSON object (RFC 8259) in valid UTF-8 (ReasonNotJSON);
//  3. no field we read appears twice, every field has its JSON type, and the
//     rules that need the raw JSON hold (ReasonInvalid);
//  4. Validate (ReasonInvalid);
//  5. the subject has its form and names the event's tenant and kind
//     (ReasonSubjectMismatch).
//
// Within one step, fields are checked in the order of SPEC §2, whatever their
// order in the payload, so a payload with several faults always reports the
// same one.
//
// Decode cuts a user_agent longer than MaxUserAgentBytes, returns occurred_at
// in UTC and ip_address in canonical form (netip; an IPv4-mapped IPv6 address
// becomes the IPv4 address). data is not retained: NATS reuses the buffer.
//
// All strings of the returned event share one allocation, to keep decoding
// cheap; whoever keeps one string for long (a cache key, say) keeps the whole
// event's text alive, at most MaxPayloadBytes, unless it uses strings.Clone.
func (d *Decoder) Decode(subject string, data []byte) (*Event, error) {
	if len(data) > MaxPayloadBytes {
		return nil, &Error{Reason: ReasonOversize, Msg: fmt.Sprintf("payload is %d bytes, over the limit of %d", len(data), MaxPayloadBytes)}
	}
	if !utf8.Valid(data) {
		return nil, notJSON("payload is not valid UTF-8")
	}
	var w wire
	if err := d.read(data, &w); err != nil {
		return nil, err
	}
	ev, k, err := d.build(&w)
	if err != nil {
		return nil, err
	}
	if err := ev.validate(k); err != nil {
		return nil, err
	}
	if err := checkSubject(subject, ev); err != nil {
		return nil, err
	}
	return ev, nil
}

func notJSON(msg string) *Error {
	return &Error{Reason: ReasonNotJSON, Msg: msg}
}

// field numbers the wire fields that Decode reads, in the order of SPEC §2:
// common fields, then login fields, then token fields.
type field int

const (
	fID field = iota
	fKind
	fTenantID
	fUserID
	fOccurredAt
	fIPAddress
	fUserAgent
	fMetadata
	fStatus
	fFailureReason
	fIdentifier
	fUser
	fTokenID
	fTokenName
	fTokenType
	fEnvironment
	fEvent
	numFields
)

var fieldNames = [numFields]string{
	fID:            "id",
	fKind:          "kind",
	fTenantID:      "tenant_id",
	fUserID:        "user_id",
	fOccurredAt:    "occurred_at",
	fIPAddress:     "ip_address",
	fUserAgent:     "user_agent",
	fMetadata:      "metadata",
	fStatus:        "status",
	fFailureReason: "failure_reason",
	fIdentifier:    "identifier",
	fUser:          "user",
	fTokenID:       "token_id",
	fTokenName:     "token_name",
	fTokenType:     "token_type",
	fEnvironment:   "environment",
	fEvent:         "event",
}

func lookupField(key []byte) (field, bool) {
	switch string(key) {
	case "id":
		return fID, true
	case "kind":
		return fKind, true
	case "tenant_id":
		return fTenantID, true
	case "user_id":
		return fUserID, true
	case "occurred_at":
		return fOccurredAt, true
	case "ip_address":
		return fIPAddress, true
	case "user_agent":
		return fUserAgent, true
	case "metadata":
		return fMetadata, true
	case "status":
		return fStatus, true
	case "failure_reason":
		return fFailureReason, true
	case "identifier":
		return fIdentifier, true
	case "user":
		return fUser, true
	case "token_id":
		return fTokenID, true
	case "token_name":
		return fTokenName, true
	case "token_type":
		return fTokenType, true
	case "environment":
		return fEnvironment, true
	case "event":
		return fEvent, true
	}
	return 0, false
}

// wire is what read found in a payload, before it becomes an Event.
type wire struct {
	spans    [numFields]span   // the value of each string field in Decoder.strs
	isString uint32            // bit f: field f was a string (not absent, not null)
	seen     uint32            // bit f: field f appeared
	dups     uint32            // bit f: field f appeared more than once
	problem  [numFields]*Error // the first problem with each field's value
	name     span              // user.name
	email    span              // user.email
	userSeen uint8             // 1: user.name appeared, 2: user.email
}

func (w *wire) setProblem(f field, err *Error) {
	if w.problem[f] == nil {
		w.problem[f] = err
	}
}

// read scans data, one JSON object, copying the values of the fields it
// knows into d.strs and d.meta and noting in w where they are and what is
// wrong with them. Only a syntax error stops it: a value of the wrong type
// is noted and skipped, so that a payload that is not JSON is always
// reported as such, whatever its fields.
func (d *Decoder) read(data []byte, w *wire) error {
	d.strs = d.strs[:0]
	d.meta = d.meta[:0]
	s := &d.scan
	s.data, s.pos, s.err, s.nul = data, 0, "", false
	defer func() { s.data = nil }() // not retained: NATS reuses the buffer

	s.skipSpace()
	switch c := s.peek(); {
	case s.pos == len(data):
		return notJSON("payload is empty")
	case c == '[' || c == '"' || c == 't' || c == 'f' || c == 'n' || c == '-' || '0' <= c && c <= '9':
		return notJSON("payload is a JSON " + kindOf(c) + ", not an object")
	}
	more, ok := s.openObject()
	for ok && more {
		var key []byte
		if key, d.key, ok = s.memberKey(d.key); !ok {
			break
		}
		if ok = d.member(w, key); !ok {
			break
		}
		more, ok = s.nextMember()
	}
	if ok {
		s.skipSpace()
		if s.pos != len(data) {
			ok = s.fail("unexpected data after the object")
		}
	}
	if !ok {
		return notJSON("payload is not valid JSON: " + s.err)
	}
	return nil
}

// member reads the value of the member named key.
func (d *Decoder) member(w *wire, key []byte) bool {
	s := &d.scan
	f, ok := lookupField(key)
	if !ok {
		return s.skipValue() // unknown fields are for later versions
	}
	bit := uint32(1) << f
	if w.seen&bit != 0 {
		w.dups |= bit
	}
	w.seen |= bit
	switch f {
	case fMetadata:
		return d.readMetadata(w)
	case fUser:
		return d.readUser(w)
	}
	switch c := s.peek(); c {
	case 'n':
		w.spans[f] = span{}
		w.isString &^= bit
		return s.literal("null")
	case '"':
	default:
		w.setProblem(f, invalid(fieldNames[f], "must be a string, not "+kindOf(c)))
		return s.skipValue()
	}
	start := len(d.strs)
	d.strs, ok = s.str(d.strs)
	w.spans[f] = span{start, len(d.strs)}
	w.isString |= bit
	if ok && f == fUserAgent {
		d.cutUserAgent(w)
	}
	return ok
}

// cutUserAgent cuts the user agent just read to MaxUserAgentBytes.
func (d *Decoder) cutUserAgent(w *wire) {
	sp := &w.spans[fUserAgent]
	ua := d.strs[sp.start:sp.end]
	// NUL is looked for before cutting, so that a NUL in the part cut off is
	// refused just as the JSON Schema, which sees the whole value, refuses it.
	if bytes.IndexByte(ua, 0) >= 0 {
		w.setProblem(fUserAgent, invalid("user_agent", quote(string(ua))+" contains a NUL character"))
	}
	if len(ua) > MaxUserAgentBytes {
		n := MaxUserAgentBytes
		for !utf8.RuneStart(ua[n]) { // ua is valid UTF-8: at most 3 steps back
			n--
		}
		sp.end = sp.start + n
		d.strs = d.strs[:sp.end] // the user agent is the last string read
	}
}

// readMetadata reads the metadata object's keys and values into d.strs and
// their spans into d.meta.
func (d *Decoder) readMetadata(w *wire) bool {
	s := &d.scan
	d.meta = d.meta[:0]
	switch c := s.peek(); c {
	case 'n':
		return s.literal("null")
	case '{':
	default:
		w.setProblem(fMetadata, invalid("metadata", "must be an object of strings, not "+kindOf(c)))
		return s.skipValue()
	}
	n := 0
	more, ok := s.openObject()
	for ok && more {
		keyStart := len(d.strs)
		var name []byte
		if name, d.key, ok = s.memberKey(d.key); !ok {
			break
		}
		d.strs = append(d.strs, name...)
		key := span{keyStart, len(d.strs)}
		n++
		if c := s.peek(); c == '"' {
			d.strs, ok = s.str(d.strs)
			if n <= MaxMetadataKeys {
				d.meta = append(d.meta, key, span{key.end, len(d.strs)})
			}
		} else {
			w.setProblem(fMetadata, invalid("metadata", "value of key "+quote(string(d.strs[key.start:key.end]))+" must be a string, not "+kindOf(c)))
			ok = s.skipValue()
		}
		if n > MaxMetadataKeys {
			d.strs = d.strs[:keyStart] // keep no more than an event may have, however many keys come
		}
		if !ok {
			break
		}
		more, ok = s.nextMember()
	}
	if n > MaxMetadataKeys {
		w.setProblem(fMetadata, invalid("metadata", fmt.Sprintf("has %d keys, over the limit of %d", n, MaxMetadataKeys)))
	}
	return ok
}

// readUser reads the user object's name and email. Other keys of the object
// are ignored, like unknown fields of the event.
func (d *Decoder) readUser(w *wire) bool {
	s := &d.scan
	w.name, w.email, w.userSeen = span{}, span{}, 0
	switch c := s.peek(); c {
	case 'n':
		return s.literal("null")
	case '{':
	default:
		w.setProblem(fUser, invalid("user", `must be an object {"name": ..., "email": ...}, not `+kindOf(c)))
		return s.skipValue()
	}
	more, ok := s.openObject()
	for ok && more {
		var key []byte
		if key, d.key, ok = s.memberKey(d.key); !ok {
			break
		}
		switch string(key) {
		case "name":
			ok = d.readUserString(w, &w.name, "user.name", 1)
		case "email":
			ok = d.readUserString(w, &w.email, "user.email", 2)
		default:
			ok = s.skipValue()
		}
		if !ok {
			break
		}
		more, ok = s.nextMember()
	}
	return ok
}

func (d *Decoder) readUserString(w *wire, sp *span, field string, bit uint8) bool {
	s := &d.scan
	if w.userSeen&bit != 0 {
		w.setProblem(fUser, invalid(field, "appears more than once"))
	}
	w.userSeen |= bit
	switch c := s.peek(); c {
	case 'n':
		*sp = span{}
		return s.literal("null")
	case '"':
	default:
		w.setProblem(fUser, invalid(field, "must be a string, not "+kindOf(c)))
		return s.skipValue()
	}
	start := len(d.strs)
	var ok bool
	d.strs, ok = s.str(d.strs)
	*sp = span{start, len(d.strs)}
	return ok
}

// build makes the Event from what read found, after the checks that need
// the wire form: repeated fields, types, an empty user_id, the occurred_at
// syntax and repeated metadata keys. Fields of the other kind, like unknown
// fields, are not looked at: the JSON Schema defines them only under their
// own kind, and so ignores them too.
//
// It also returns what it has found to be right, for validate to skip.
func (d *Decoder) build(w *wire) (*Event, known, error) {
	// Every string is valid UTF-8, as the payload is and unescaping makes
	// nothing else, and is free of NUL unless an escape said \u0000.
	k := known{text: !d.scan.nul}
	all := string(d.strs) // the one allocation for every string of the event
	sp := &w.spans
	kind := Kind(sp[fKind].in(all))

	var ev *Event
	if kind == KindLogin && (w.name.end > w.name.start || w.email.end > w.email.start) {
		// One allocation for the event and its profile, which live as long.
		both := new(struct {
			event Event
			user  UserProfile
		})
		ev = &both.event
		ev.User = &both.user
		ev.User.Name, ev.User.Email = w.name.in(all), w.email.in(all)
	} else {
		ev = new(Event)
	}

	for f := range numFields {
		if !f.readFor(kind) {
			continue
		}
		// A repeated field is refused rather than read as its last (or first)
		// value: parsers differ on which wins, and an event must not mean one
		// thing to a gateway's JSON Schema check and another to us.
		if w.dups&(1<<f) != 0 {
			return nil, k, invalid(fieldNames[f], "appears more than once")
		}
		if err := w.problem[f]; err != nil {
			return nil, k, err
		}
		switch f {
		case fUserID:
			if w.isString&(1<<fUserID) != 0 && sp[f].start == sp[f].end {
				return nil, k, invalid("user_id", "must not be empty; leave it out (or null) when there is no account")
			}
		case fOccurredAt:
			if w.isString&(1<<fOccurredAt) == 0 {
				break // validate reports it missing
			}
			t, year, ok := parseTimestamp(d.strs[sp[f].start:sp[f].end])
			if !ok {
				return nil, k, invalid("occurred_at", quote(sp[f].in(all))+" is not an RFC 3339 date-time like 2025-12-27T20:57:29.123Z")
			}
			if year < minYear || year > maxYear {
				return nil, k, invalid("occurred_at", fmt.Sprintf("year %d is outside %d–%d", year, minYear, maxYear))
			}
			ev.OccurredAt = t
		case fMetadata:
			if len(d.meta) == 0 {
				break
			}
			// read has kept no more than MaxMetadataKeys keys.
			ev.Metadata = make(map[string]string, len(d.meta)/2)
			size := 0
			for i := 0; i < len(d.meta); i += 2 {
				key, value := d.meta[i].in(all), d.meta[i+1].in(all)
				ev.Metadata[key] = value
				if len(ev.Metadata) != i/2+1 {
					return nil, k, invalid("metadata", "key "+quote(key)+" appears more than once")
				}
				size += len(key) + len(value)
			}
			k.metadata = k.text && size <= MaxMetadataBytes
		}
	}
	if ev.Metadata == nil {
		k.metadata = k.text
	}

	ev.ID = sp[fID].in(all)
	ev.Kind = kind
	ev.TenantID = sp[fTenantID].in(all)
	ev.UserID = sp[fUserID].in(all)
	ev.IPAddress, k.ip = d.canonicalIP(sp[fIPAddress].in(all))
	ev.UserAgent = sp[fUserAgent].in(all)
	switch kind {
	case KindLogin:
		ev.Status = Status(sp[fStatus].in(all))
		ev.FailureReason = sp[fFailureReason].in(all)
		ev.Identifier = sp[fIdentifier].in(all)
	case KindToken:
		ev.TokenID = sp[fTokenID].in(all)
		ev.TokenName = sp[fTokenName].in(all)
		ev.TokenType = TokenType(sp[fTokenType].in(all))
		ev.Environment = Environment(sp[fEnvironment].in(all))
		ev.Action = TokenAction(sp[fEvent].in(all))
	}
	return ev, k, nil
}

// readFor says whether field f is part of an event of the given kind. The
// fields of an unknown kind are not looked at: Validate reports the kind.
func (f field) readFor(kind Kind) bool {
	switch {
	case f < fStatus:
		return true
	case f <= fUser:
		return kind == KindLogin
	default:
		return kind == KindToken
	}
}

// canonicalIP returns the canonical form of a valid address, so that the
// same address is always the same string in storage, lockout keys and
// alerts, and ok true. An invalid address is returned as it is, for validate
// to report.
func (d *Decoder) canonicalIP(s string) (_ string, ok bool) {
	addr, err := netip.ParseAddr(s)
	if err != nil || addr.Zone() != "" {
		return s, false
	}
	if addr.Is4() {
		return s, true // ParseAddr takes only the one dotted-decimal form
	}
	d.ip = addr.Unmap().AppendTo(d.ip[:0])
	if string(d.ip) == s {
		return s, true // the usual case: no second allocation
	}
	return string(d.ip), true
}

// checkSubject checks that subject is auth.events.<tenant>.<kind> of ev.
func checkSubject(subject string, ev *Event) error {
	rest, ok := strings.CutPrefix(subject, "auth.events.")
	tenant, kind, ok2 := strings.Cut(rest, ".")
	if !ok || !ok2 || tenant == "" || kind == "" || strings.Contains(kind, ".") {
		return &Error{Reason: ReasonSubjectMismatch, Msg: "subject " + quote(subject) + " is not auth.events.<tenant>.<kind>"}
	}
	if tenant != ev.TenantID {
		return &Error{Reason: ReasonSubjectMismatch, Field: "tenant_id", Msg: quote(ev.TenantID) + " differs from the subject's tenant " + quote(tenant)}
	}
	if kind != string(ev.Kind) {
		return &Error{Reason: ReasonSubjectMismatch, Field: "kind", Msg: quote(string(ev.Kind)) + " differs from the subject's kind " + quote(kind)}
	}
	return nil
}
