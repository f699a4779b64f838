package testenv

import (
	"bytes"
	"io"
	"sync"
	"testing"
)

// LogBuffer is a writer for a service's log in a test: it keeps what is
// written and, when the test has failed, shows it at cleanup under name.
// A passing test stays quiet.
func LogBuffer(t testing.TB, name string) io.Writer {
	b := &lockedBuffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("%s logged:\n%s", name, b.String())
		}
	})
	return b
}

type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
