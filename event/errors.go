package event

import (
	"errors"
	"strconv"
	"unicode/utf8"
)

// Reason codes of an *Error. They are few and fixed so that they can label a
// metric (authwatch_events_rejected_total{reason=...}) without growing it.
const (
	// ReasonOversize: the payload is over MaxPayloadBytes.
	ReasonOversize = "oversize"
	// ReasonNotJSON: the payload is not one JSON object in valid UTF-8.
	ReasonNotJSON = "not_json"
	// ReasonInvalid: a field has the wrong type or breaks a rule of SPEC §2.
	ReasonInvalid = "invalid"
	// ReasonSubjectMismatch: the subject is not auth.events.<tenant>.<kind>,
	// or the event's tenant_id or kind differs from it.
	ReasonSubjectMismatch = "subject_mismatch"
)

// maxMessageBytes bounds Error(): the message travels in a DLQ header, where
// a person reads it, so it stays one short line.
const maxMessageBytes = 300

// maxEchoBytes bounds how much of an offending value a message repeats: enough
// to recognise it, not enough to copy a payload into a header.
const maxEchoBytes = 64

// Error says why an event was rejected.
type Error struct {
	Reason string // one of the Reason* codes
	Field  string // the JSON field at fault ("ip_address", "user.email"), or "" for the whole payload
	Msg    string // what is wrong, for a person, without the field name
}

// Error returns "field: message" on one line of at most 300 bytes.
func (e *Error) Error() string {
	s := e.Msg
	if e.Field != "" {
		s = e.Field + ": " + e.Msg
	}
	return truncate(s, maxMessageBytes)
}

// Reason returns the reason code of err: one of the Reason* constants for an
// *Error (also when wrapped), "" for nil, and ReasonInvalid for any other
// error, so that the result is always a valid, bounded metric label.
func Reason(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Reason
	}
	return ReasonInvalid
}

func invalid(field, msg string) *Error {
	return &Error{Reason: ReasonInvalid, Field: field, Msg: msg}
}

// quote returns s as a Go string literal, cut so that the literal stays short
// whatever s holds (escapes of control or invalid bytes take up to 4 bytes).
func quote(s string) string {
	n := len(s)
	for {
		cut := truncate(s, min(n, maxEchoBytes))
		q := strconv.Quote(cut)
		if len(q) <= 2*maxEchoBytes || n == 0 {
			if len(cut) < len(s) {
				q += "…"
			}
			return q
		}
		n = len(cut) / 2
	}
}

// truncate cuts s to at most n bytes without splitting a UTF-8 sequence.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
