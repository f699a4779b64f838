#!/usr/bin/env bash
# Install (apt) and start a ClickHouse server as our own process, data under var/clickhouse.
# Idempotent: a server already answering on the native port is reused.
#   scripts/clickhouse.sh start   install if missing, start, wait until it answers
#   scripts/clickhouse.sh stop    stop the server this script started
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dir=${CLICKHOUSE_DIR:-$root/var/clickhouse}
port=${CLICKHOUSE_PORT:-9000}

answers() { clickhouse-client --port "$port" -q 'SELECT 1' >/dev/null 2>&1; }

install() {
  command -v clickhouse-server >/dev/null && command -v clickhouse-client >/dev/null && return
  echo "clickhouse: installing clickhouse-server and clickhouse-client with apt" >&2
  local sudo=""; [ "$(id -u)" -eq 0 ] || sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq clickhouse-server clickhouse-client >/dev/null
}

start() {
  install
  mkdir -p "$root/var"
  # var/ holds live database files; a go.mod there makes it a module of its
  # own, so `go test ./...` never walks into files the servers are changing.
  [ -f "$root/var/go.mod" ] || printf 'module authwatch.local/var\n' >"$root/var/go.mod"
  if answers; then echo "clickhouse: already running on port $port" >&2; return; fi
  mkdir -p "$dir"/{tmp,user_files,format_schemas}
  # the packaged config reads its users.xml relative to itself; run it as-is with our paths
  nohup clickhouse-server --config-file=/etc/clickhouse-server/config.xml -- \
    --path="$dir/" --tmp_path="$dir/tmp/" --user_files_path="$dir/user_files/" \
    --format_schema_path="$dir/format_schemas/" \
    --logger.log="$dir/server.log" --logger.errorlog="$dir/server.err.log" \
    >"$dir/stdout.log" 2>&1 &
  echo $! >"$dir/pid"
  for _ in $(seq 1 120); do
    if answers; then echo "clickhouse: up on port $port (data in $dir)" >&2; return; fi
    if ! kill -0 "$(cat "$dir/pid")" 2>/dev/null; then
      echo "clickhouse: server exited; see $dir/server.err.log" >&2; tail -20 "$dir/server.err.log" >&2 || true; exit 1
    fi
    sleep 0.5
  done
  echo "clickhouse: no answer after 60 s; see $dir/server.err.log" >&2; exit 1
}

stop() {
  [ -f "$dir/pid" ] || return 0
  local pid; pid=$(cat "$dir/pid")
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
  rm -f "$dir/pid"
}

case "${1:-start}" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
