package client

import (
	"crypto/rand"
	"encoding/binary"
	"time"
)

// crockford is the ULID alphabet: Crockford's base32, without I, L, O, U.
const crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// NewEventID returns a new event id: a ULID (26 characters of 0-9 and
// upper-case letters), its first 10 the millisecond it was made, the other
// 16 random (80 bits from crypto/rand). Ids made later sort after earlier
// ones, except within one millisecond. It fits the id rule of SPEC §2.
func NewEventID() string {
	return newULID(time.Now())
}

func newULID(t time.Time) string {
	var b [16]byte
	ms := uint64(t.UnixMilli())
	b[0], b[1], b[2], b[3], b[4], b[5] = byte(ms>>40), byte(ms>>32), byte(ms>>24), byte(ms>>16), byte(ms>>8), byte(ms)
	_, _ = rand.Read(b[6:]) // never fails (crypto/rand since Go 1.24)
	hi, lo := binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])
	// 26 characters of 5 bits are 130 bits: the value is read as 2 zero
	// bits followed by the 128 bits of b.
	var out [26]byte
	for i := range out {
		shift := uint(125 - 5*i) // of the lowest bit of character i
		var v uint64
		switch {
		case shift >= 64:
			v = hi >> (shift - 64)
		case shift+5 <= 64:
			v = lo >> shift
		default: // straddles hi and lo
			v = lo>>shift | hi<<(64-shift)
		}
		out[i] = crockford[v&31]
	}
	return string(out[:])
}
