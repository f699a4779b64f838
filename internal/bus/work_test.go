package bus

import (
	"strings"
	"testing"
)

func TestOneLine(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain", "plain"},
		{"two\nlines\r\nhere", "two lines  here"},
		{strings.Repeat("x", 401), strings.Repeat("x", 400) + "..."},
		{strings.Repeat("y", 400), strings.Repeat("y", 400)},
	}
	for _, tc := range tests {
		if got := OneLine(tc.in); got != tc.want {
			t.Errorf("OneLine(%.20q…) = %.30q…, want %.30q…", tc.in, got, tc.want)
		}
	}
}
