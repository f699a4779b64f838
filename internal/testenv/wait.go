package testenv

import (
	"testing"
	"time"
)

// Eventually polls cond every 20 ms until it returns true, failing the test
// with what after timeout. Tests wait on conditions, never on sleeps.
func Eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
