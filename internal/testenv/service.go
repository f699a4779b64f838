package testenv

import (
	"fmt"
	"net/http"
	"testing"
)

// FreeAddr is a 127.0.0.1 address no one listens on right now, for a
// service under test (INGEST_ADDR, DETECTOR_ADDR, ...).
func FreeAddr(t testing.TB) string {
	t.Helper()
	return fmt.Sprintf("127.0.0.1:%d", freePort(t))
}

// Ready says whether the service at addr answers 200 on /readyz.
func Ready(addr string) bool {
	resp, err := http.Get("http://" + addr + "/readyz")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}
