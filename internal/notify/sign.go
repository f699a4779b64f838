package notify

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"time"
)

// Headers of a delivery (SPEC §3).
const (
	HeaderDelivery  = "Authwatch-Delivery"
	HeaderSignature = "Authwatch-Signature"
)

// Signature is the Authwatch-Signature value of body sent at t:
// t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>" keyed with secret>.
func Signature(secret string, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + sign(secret, ts, body)
}

func sign(secret, ts string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// Errors of Verify.
var (
	ErrBadSignatureHeader = errors.New("malformed Authwatch-Signature header")
	ErrSignatureMismatch  = errors.New("signature does not match")
	ErrSignatureTooOld    = errors.New("signature timestamp outside the tolerance (a replay?)")
)

// Verify is what a receiver does: the header parses, its timestamp is
// within tolerance of now (older ones are replays), and one v1 matches the
// HMAC of "<t>.<body>", compared in constant time.
func Verify(secret, header string, body []byte, now time.Time, tolerance time.Duration) error {
	var ts string
	var sigs []string
	for _, part := range strings.Split(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return ErrBadSignatureHeader
		}
		switch k {
		case "t":
			ts = v
		case "v1":
			sigs = append(sigs, v)
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || len(sigs) == 0 {
		return ErrBadSignatureHeader
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return ErrSignatureTooOld
	}
	want := sign(secret, ts, body)
	for _, s := range sigs {
		if hmac.Equal([]byte(s), []byte(want)) {
			return nil
		}
	}
	return ErrSignatureMismatch
}
