#!/usr/bin/env bash
# What authwatch adds to a login over HTTP (examples/gateway's
# BenchmarkLoginOverhead), measured the way a gateway runs in production:
# NATS in a process of its own, on a core the gateway does not use.
#
# A throwaway nats-server (bin/, see scripts/nats.sh) is pinned to the last
# CPU and the benchmark (gateway, bare twin and load loop) to the others.
# With one CPU, or without taskset, nothing is pinned and the figures say
# more about the machine than about the guard.
#   scripts/bench-gateway.sh [go test flags, e.g. -count 3]
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$root/scripts/nats.sh" install
dir=$(mktemp -d)
port=${BENCH_NATS_PORT:-14222}
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$dir"' EXIT

cpus=$(nproc)
nats_pin=() bench_pin=()
if [ "$cpus" -ge 2 ] && command -v taskset >/dev/null; then
  nats_pin=(taskset -c "$((cpus - 1))")
  bench_pin=(taskset -c "0-$((cpus - 2))")
else
  echo "bench-gateway: one CPU or no taskset: NATS shares the gateway's cores" >&2
fi

"${nats_pin[@]}" "$root/bin/nats-server" -a 127.0.0.1 -p "$port" -js -sd "$dir" >"$dir/server.log" 2>&1 &
pid=$!
for _ in $(seq 50); do
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  sleep 0.1
done

cd "$root"
BENCH_NATS_URL="nats://127.0.0.1:$port" "${bench_pin[@]}" \
  go test -run '^$' -bench LoginOverhead -benchtime 50000x "$@" ./examples/gateway/
