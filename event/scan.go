package event

import (
	"encoding/binary"
	"fmt"
	"unicode/utf16"
	"unicode/utf8"
)

// scanner reads one JSON text strictly by RFC 8259, in a single pass and
// without allocating: strings are unescaped straight into a caller's buffer
// and values nobody asked for are checked and skipped. It exists because a
// general parser needs two passes here: fastjson, for one, only holds to the
// RFC in its separate validator, and its Validate and Parse together took
// 1.6 µs of the 2 µs budget for a 450-byte login on the build machine.
//
// The input must already be valid UTF-8: the scanner then only has to
// look at ASCII bytes, as every byte of a multi-byte sequence is >= 0x80.
type scanner struct {
	data  []byte
	pos   int
	err   string // the first syntax error, for a person
	stack []byte // open containers of the value being skipped, '{' or '['
	skip  []byte // scratch for the bytes of skipped strings
	nul   bool   // a string held an escaped NUL (\u0000)
}

// fail records a syntax error at the current position and returns false.
func (s *scanner) fail(what string) bool {
	if s.err == "" {
		s.err = fmt.Sprintf("%s at byte %d", what, s.pos)
	}
	return false
}

// unexpected fails naming the byte at the current position.
func (s *scanner) unexpected() bool {
	if s.pos >= len(s.data) {
		return s.fail("unexpected end")
	}
	c := s.data[s.pos]
	if c < 0x20 || c >= 0x7f {
		return s.fail(fmt.Sprintf("unexpected byte 0x%02x", c))
	}
	return s.fail(fmt.Sprintf("unexpected %q", c))
}

func (s *scanner) skipSpace() {
	if s.pos < len(s.data) && s.data[s.pos] > ' ' {
		return // the usual case in compact JSON
	}
	for s.pos < len(s.data) {
		switch s.data[s.pos] {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return
		}
	}
}

// peek returns the next byte, or 0 at the end.
func (s *scanner) peek() byte {
	if s.pos < len(s.data) {
		return s.data[s.pos]
	}
	return 0
}

// expect consumes c, after optional white space.
func (s *scanner) expect(c byte) bool {
	s.skipSpace()
	if s.peek() != c {
		return s.unexpected()
	}
	s.pos++
	return true
}

// kindOf names the JSON type of the value starting with c, as JSON Schema
// names types, for messages about a value of the wrong type.
func kindOf(c byte) string {
	switch c {
	case '{':
		return "object"
	case '[':
		return "array"
	case '"':
		return "string"
	case 't', 'f':
		return "boolean"
	case 'n':
		return "null"
	}
	return "number"
}

func (s *scanner) literal(word string) bool {
	if len(s.data)-s.pos < len(word) || string(s.data[s.pos:s.pos+len(word)]) != word {
		return s.fail("invalid literal")
	}
	s.pos += len(word)
	return true
}

// str reads the string that starts at the current position (its opening
// quote) and appends its unescaped bytes to dst.
func (s *scanner) str(dst []byte) ([]byte, bool) {
	data := s.data
	if s.peek() != '"' {
		return dst, s.unexpected()
	}
	i := s.pos + 1
	for {
		start := i
		for i+8 <= len(data) && plainWord(binary.LittleEndian.Uint64(data[i:])) {
			i += 8
		}
		for i < len(data) && plain[data[i]] {
			i++
		}
		dst = append(dst, data[start:i]...)
		s.pos = i
		if i >= len(data) {
			return dst, s.fail("unterminated string")
		}
		switch data[i] {
		case '"':
			s.pos = i + 1
			return dst, true
		case '\\':
		default:
			return dst, s.fail("control character in string")
		}
		if i+1 >= len(data) {
			return dst, s.fail("unterminated string")
		}
		esc := data[i+1]
		i += 2
		switch esc {
		case '"', '\\', '/':
			dst = append(dst, esc)
			continue
		case 'b':
			dst = append(dst, '\b')
			continue
		case 'f':
			dst = append(dst, '\f')
			continue
		case 'n':
			dst = append(dst, '\n')
			continue
		case 'r':
			dst = append(dst, '\r')
			continue
		case 't':
			dst = append(dst, '\t')
			continue
		case 'u':
		default:
			return dst, s.fail("invalid escape in string")
		}
		r := s.hexEscape(i)
		if r < 0 {
			return dst, s.fail(`invalid \u escape in string`)
		}
		i += 4
		if utf16.IsSurrogate(rune(r)) {
			// A character outside the BMP is a pair of escapes, high then
			// low. Half a pair is not a character: parsers disagree on what
			// to make of it (encoding/json writes U+FFFD, others keep it or
			// drop what follows), so it is refused rather than stored as
			// something the gateway did not mean.
			low := -1
			if r < 0xdc00 && i+1 < len(data) && data[i] == '\\' && data[i+1] == 'u' {
				low = s.hexEscape(i + 2)
			}
			if low < 0xdc00 || low > 0xdfff {
				s.pos = i - 6
				return dst, s.fail("half a UTF-16 surrogate pair in string")
			}
			r = int(utf16.DecodeRune(rune(r), rune(low)))
			i += 6
		}
		if r == 0 {
			s.nul = true
		}
		dst = utf8.AppendRune(dst, rune(r))
	}
}

// plain tells the bytes that stand for themselves in a JSON string: all but
// the quote, the backslash and control characters.
var plain = func() (t [256]bool) {
	for c := range t {
		t[c] = c >= 0x20 && c != '"' && c != '\\'
	}
	return t
}()

// plainWord reports whether all eight bytes of x are plain, eight at a time
// rather than one, since strings (user agents above all) are most of an
// event. It is the "has a byte less than n" and "has a zero byte" tests of
// Bit Twiddling Hacks: subtracting 0x01 (or n) from every byte sets a byte's
// high bit where the byte was below it, and "& ^x" drops bytes that had the
// high bit set already. A borrow only spreads upward from a byte that is
// itself found, so the test never reports a word of plain bytes.
func plainWord(x uint64) bool {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	quote := x ^ (ones * '"')
	backslash := x ^ (ones * '\\')
	control := (x - ones*0x20) & ^x
	return (control|(quote-ones)&^quote|(backslash-ones)&^backslash)&highs == 0
}

// hexEscape decodes the four hex digits at data[i:], or returns -1.
func (s *scanner) hexEscape(i int) int {
	if len(s.data)-i < 4 {
		return -1
	}
	n := 0
	for _, c := range s.data[i : i+4] {
		switch {
		case '0' <= c && c <= '9':
			n = n<<4 | int(c-'0')
		case 'a' <= c && c <= 'f':
			n = n<<4 | int(c-'a'+10)
		case 'A' <= c && c <= 'F':
			n = n<<4 | int(c-'A'+10)
		default:
			return -1
		}
	}
	return n
}

// skipString checks and skips a string; its bytes are not kept.
func (s *scanner) skipString() bool {
	var ok bool
	s.skip, ok = s.str(s.skip[:0])
	return ok
}

// number checks and skips a number: -? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?
func (s *scanner) number() bool {
	data := s.data
	i := s.pos
	if i < len(data) && data[i] == '-' {
		i++
	}
	switch {
	case i < len(data) && data[i] == '0':
		i++
	case i < len(data) && '1' <= data[i] && data[i] <= '9':
		for i < len(data) && '0' <= data[i] && data[i] <= '9' {
			i++
		}
	default:
		s.pos = i
		return s.unexpected()
	}
	if i < len(data) && data[i] == '.' {
		i++
		j := i
		for i < len(data) && '0' <= data[i] && data[i] <= '9' {
			i++
		}
		if i == j {
			s.pos = i
			return s.fail("invalid number")
		}
	}
	if i < len(data) && (data[i] == 'e' || data[i] == 'E') {
		i++
		if i < len(data) && (data[i] == '+' || data[i] == '-') {
			i++
		}
		j := i
		for i < len(data) && '0' <= data[i] && data[i] <= '9' {
			i++
		}
		if i == j {
			s.pos = i
			return s.fail("invalid number")
		}
	}
	s.pos = i
	return true
}

// skipValue checks and skips any JSON value. It keeps its own stack of open
// containers instead of recursing, so deep nesting costs no Go stack; the
// payload limit bounds the depth anyway.
func (s *scanner) skipValue() bool {
	s.stack = s.stack[:0]
	for {
		// A value is expected here.
		s.skipSpace()
		switch c := s.peek(); c {
		case '{', '[':
			s.pos++
			s.skipSpace()
			if closing := c + 2; s.peek() == closing { // '{'+2 == '}', '['+2 == ']'
				s.pos++
				break
			}
			s.stack = append(s.stack, c)
			if c == '{' && !s.objectKey() {
				return false
			}
			continue
		case '"':
			if !s.skipString() {
				return false
			}
		case 't':
			if !s.literal("true") {
				return false
			}
		case 'f':
			if !s.literal("false") {
				return false
			}
		case 'n':
			if !s.literal("null") {
				return false
			}
		default:
			if !s.number() {
				return false
			}
		}
		// A value ended: close containers until one continues with a comma.
		for {
			if len(s.stack) == 0 {
				return true
			}
			open := s.stack[len(s.stack)-1]
			s.skipSpace()
			c := s.peek()
			if c == ',' {
				s.pos++
				if open == '{' && !s.objectKey() {
					return false
				}
				break
			}
			if c != open+2 {
				return s.unexpected()
			}
			s.pos++
			s.stack = s.stack[:len(s.stack)-1]
		}
	}
}

// objectKey skips a key and its colon inside a skipped object.
func (s *scanner) objectKey() bool {
	s.skipSpace()
	return s.skipString() && s.expect(':')
}

// openObject consumes the '{' of an object; more is false when the object
// is empty (and then consumed whole). Members are read with memberKey, the
// value, then nextMember.
func (s *scanner) openObject() (more, ok bool) {
	if !s.expect('{') {
		return false, false
	}
	s.skipSpace()
	if s.peek() == '}' {
		s.pos++
		return false, true
	}
	return true, true
}

// memberKey reads a member's key and consumes the colon after it, leaving
// the scanner at the value. The key is the bytes of data when it has no
// escapes, as keys rarely do; otherwise it is unescaped into buf.
func (s *scanner) memberKey(buf []byte) (key, newBuf []byte, ok bool) {
	s.skipSpace()
	key, newBuf, ok = s.rawKey(buf)
	if !ok || !s.expect(':') {
		return key, newBuf, false
	}
	s.skipSpace()
	return key, newBuf, true
}

func (s *scanner) rawKey(buf []byte) (key, newBuf []byte, ok bool) {
	data := s.data
	if s.peek() == '"' {
		i := s.pos + 1
		for i < len(data) && plain[data[i]] {
			i++
		}
		if i < len(data) && data[i] == '"' {
			key = data[s.pos+1 : i]
			s.pos = i + 1
			return key, buf, true
		}
	}
	buf, ok = s.str(buf[:0])
	return buf, buf, ok
}

// nextMember consumes what follows a member's value: ',' (more members) or
// the closing '}'.
func (s *scanner) nextMember() (more, ok bool) {
	s.skipSpace()
	switch s.peek() {
	case ',':
		s.pos++
		return true, true
	case '}':
		s.pos++
		return false, true
	}
	return false, s.unexpected()
}
