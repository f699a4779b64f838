// Package testenv starts the real dependencies tests talk to: an embedded
// NATS server with JetStream on a temp dir, and a fresh database on the
// ClickHouse server that scripts/clickhouse.sh runs.
package testenv

import (
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// NATS is an embedded nats-server with JetStream, listening on a free
// loopback port. Stop and Start restart it on the same port and store dir,
// as an operator restarting the server would.
type NATS struct {
	t    testing.TB
	opts server.Options
	srv  *server.Server
}

// StartNATS starts a JetStream-enabled server for the test and stops it at cleanup.
func StartNATS(t testing.TB) *NATS {
	t.Helper()
	n := &NATS{t: t, opts: server.Options{
		Host:      "127.0.0.1",
		Port:      freePort(t),
		JetStream: true,
		StoreDir:  t.TempDir(),
		NoLog:     true,
		NoSigs:    true,
		// allow a 1 MiB AUTH_EVENTS message (SPEC §1)
		MaxPayload: 2 << 20,
	}}
	n.Start()
	t.Cleanup(n.Stop)
	return n
}

// URL is the client URL of the server.
func (n *NATS) URL() string {
	return "nats://127.0.0.1:" + strconv.Itoa(n.opts.Port)
}

// JetStream connects to the server for the test (closed at cleanup).
func (n *NATS) JetStream(t testing.TB) jetstream.JetStream {
	t.Helper()
	nc, err := nats.Connect(n.URL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

// Start (re)starts the server; it is started already by StartNATS.
func (n *NATS) Start() {
	n.t.Helper()
	opts := n.opts
	srv, err := server.NewServer(&opts)
	if err != nil {
		n.t.Fatalf("nats server: %v", err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		n.t.Fatalf("nats server not ready on %s", n.URL())
	}
	n.srv = srv
}

// Stop shuts the server down; clients see a disconnect.
func (n *NATS) Stop() {
	if n.srv == nil {
		return
	}
	n.srv.Shutdown()
	n.srv.WaitForShutdown()
	n.srv = nil
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
