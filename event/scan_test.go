package event

import (
	"encoding/binary"
	"encoding/json"
	"math/rand/v2"
	"testing"
)

// plainWord must agree with the byte table on every word; the random words
// lean on the bytes around the edges (0x1f, 0x20, '"', '\\', 0x7f, 0x80).
func TestPlainWord(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	edges := []byte("\"\\\x00\x1f\x20\x21\x7f\x80\xff[]")
	for range 1_000_000 {
		var b [8]byte
		for i := range b {
			switch r.IntN(4) {
			case 0:
				b[i] = byte(r.IntN(256))
			case 1:
				b[i] = edges[r.IntN(len(edges))]
			default:
				b[i] = byte(0x20 + r.IntN(96))
			}
		}
		want := true
		for _, c := range b {
			want = want && plain[c]
		}
		if got := plainWord(binary.LittleEndian.Uint64(b[:])); got != want {
			t.Fatalf("plainWord(%q) = %v, want %v", b, got, want)
		}
	}
}

// Values in a field Decode does not read are checked, not just skipped:
// the scanner must tell JSON from not JSON exactly as encoding/json does.
func TestSkipValue(t *testing.T) {
	values := []string{
		`0`, `-0`, `1`, `-1`, `10`, `01`, `-01`, `1.5`, `1.`, `.5`, `1e5`, `1E+5`, `1e-5`, `1e`, `1e+`, `-`, `+1`,
		`1.5e3`, `0.0`, `00`, `1x`, `NaN`, `Infinity`, `-Infinity`,
		`true`, `false`, `null`, `tru`, `nul`, `True`, `nullx`,
		`""`, `"a"`, `"\""`, `"\\"`, `"\/"`, `"\b\f\n\r\t"`, `"\u0041"`, `"\u004"`, `"\u004g"`, `"\x41"`, `"\'"`,
		`"\ud83d\ude00"`, "\"a\tb\"", "\"\x7f\"", `"é"`, `"`, `"\"`,
		`[]`, `[ ]`, `[1]`, `[1,]`, `[,1]`, `[1 2]`, `[[[]]]`, `[[[]]`, `[}`, `[1,[2,[3,{"a":[]}]]]`,
		`{}`, `{ }`, `{"a":1}`, `{"a":1,}`, `{"a" 1}`, `{"a":}`, `{a:1}`, `{"a":1 "b":2}`, `{"a":{"b":{"c":[]}}}`, `{"a":1]`, `{1:2}`,
		` 1 `, "\t[\n]\r", `[1] `,
	}
	for _, v := range values {
		data := []byte(`{"x":` + v + `}`)
		var s scanner
		s.data = data
		more, ok := s.openObject()
		var key []byte
		if ok && more {
			key, _, ok = s.memberKey(nil)
		}
		if ok && string(key) == "x" {
			ok = s.skipValue()
		}
		if ok {
			_, ok = s.nextMember()
		}
		ok = ok && s.pos == len(data)
		if want := json.Valid(data); ok != want {
			t.Errorf("%s: scanner says valid %v, encoding/json %v (%s)", data, ok, want, s.err)
		}
	}
}
