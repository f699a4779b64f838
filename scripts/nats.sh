#!/usr/bin/env bash
# Build (go install, pinned version) and start a real nats-server with
# JetStream, data under var/nats. Idempotent: a server already answering on
# the port is reused.
#   scripts/nats.sh start | stop | install
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# Keep in step with the nats-server module in go.mod (the tests embed that one).
version=v2.15.2
dir=${NATS_DIR:-$root/var/nats}
port=${NATS_PORT:-4222}
monitor=${NATS_MONITOR_PORT:-8222}
bin=$root/bin/nats-server

answers() { (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; }

install() {
  if [ -x "$bin" ] && "$bin" --version 2>/dev/null | grep -q "${version#v}"; then return; fi
  echo "nats: building nats-server $version into bin/" >&2
  mkdir -p "$root/bin"
  GOBIN="$root/bin" go install "github.com/nats-io/nats-server/v2@$version"
}

start() {
  install
  mkdir -p "$root/var"
  # var/ holds live database files; a go.mod there makes it a module of its
  # own, so `go test ./...` never walks into files the servers are changing.
  [ -f "$root/var/go.mod" ] || printf 'module authwatch.local/var\n' >"$root/var/go.mod"
  if answers; then echo "nats: already running on port $port" >&2; return; fi
  mkdir -p "$dir"
  # max_payload 2 MiB: AUTH_EVENTS takes messages up to 1 MiB so that an
  # oversize event reaches the DLQ instead of failing at the gateway.
  cat >"$dir/nats.conf" <<CONF
listen: 127.0.0.1:$port
http: 127.0.0.1:$monitor
max_payload: 2MB
jetstream { store_dir: "$dir/jetstream" }
CONF
  nohup "$bin" -c "$dir/nats.conf" -l "$dir/server.log" >"$dir/stdout.log" 2>&1 &
  echo $! >"$dir/pid"
  for _ in $(seq 1 100); do
    if answers; then echo "nats: up on port $port (JetStream in $dir)" >&2; return; fi
    if ! kill -0 "$(cat "$dir/pid")" 2>/dev/null; then
      echo "nats: server exited; see $dir/server.log" >&2; tail -20 "$dir/server.log" >&2 || true; exit 1
    fi
    sleep 0.2
  done
  echo "nats: no answer after 20 s" >&2; exit 1
}

stop() {
  [ -f "$dir/pid" ] || return 0
  local pid; pid=$(cat "$dir/pid")
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
  rm -f "$dir/pid"
}

case "${1:-start}" in
  start) start ;;
  stop) stop ;;
  install) install ;;
  *) echo "usage: $0 start|stop|install" >&2; exit 2 ;;
esac
