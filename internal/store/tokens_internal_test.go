package store

import "testing"

func TestCountFirst(t *testing.T) {
	bounds := func(vals ...uint64) []tokenBound {
		out := make([]tokenBound, len(vals))
		for i, v := range vals {
			out[i] = tokenBound{id: string(rune('a' + i)), bound: v}
		}
		return out
	}
	for _, c := range []struct {
		name  string
		first []tokenBound
		n     int
		want  int
	}{
		{"no tokens", nil, 3, 0},
		{"fewer tokens than n", bounds(9, 5), 3, 2},
		// 3 % of 100 is within 1/32: 97 joins, 96 does not.
		{"a near bound joins, a far one does not", bounds(300, 200, 100, 97, 96, 10, 5), 3, 4},
		{"far bounds only", bounds(300, 200, 100, 50, 40, 30, 20), 3, 3},
		// Seven fetched (2n+1): the seventh stays for the check even when near.
		{"all near, one left for the check", bounds(100, 100, 100, 100, 100, 100, 100), 3, 6},
		// Fewer than 2n+1 fetched: they are every token, all may be counted.
		{"every token fetched and near", bounds(100, 100, 100, 99, 99), 3, 5},
		{"small bounds: 1/32 of 10 is 0", bounds(10, 10, 10, 10, 9), 3, 4},
	} {
		if got := countFirst(c.first, c.n); got != c.want {
			t.Errorf("%s: countFirst = %d, want %d", c.name, got, c.want)
		}
	}
}
