#!/usr/bin/env bash
# What authwatch adds to a login over HTTP (examples/gateway's
# BenchmarkLoginOverhead), measured the way a gateway runs in production:
# NATS in a process of its own, on a core the gateway does not use.
#
# A throwaway nats-server (bin/, see scripts/nats.sh) is pinned to the last
# CPU this script may use and the benchmark (gateway, bare twin and load
# loop) to the others. With one CPU, or without taskset, nothing is pinned
# and the figures say more about the machine than about the guard.
#   scripts/bench-gateway.sh [go test flags, e.g. -count 3]
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$root/scripts/nats.sh" install
dir=$(mktemp -d)
pid=""
trap 'if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi; rm -rf "$dir"' EXIT

# The CPUs we may use (a cpuset need not start at 0), one per line.
cpus=()
if command -v taskset >/dev/null; then
  list=$(taskset -cp $$ | sed 's/.*: *//')
  for part in ${list//,/ }; do
    if [[ $part == *-* ]]; then
      for ((c = ${part%-*}; c <= ${part#*-}; c++)); do cpus+=("$c"); done
    else
      cpus+=("$part")
    fi
  done
fi
nats_pin=() bench_pin=()
if [ "${#cpus[@]}" -ge 2 ]; then
  last=$((${#cpus[@]} - 1))
  nats_pin=(taskset -c "${cpus[$last]}")
  rest=$(IFS=,; echo "${cpus[*]:0:$last}")
  bench_pin=(taskset -c "$rest")
else
  echo "bench-gateway: one CPU or no taskset: NATS shares the gateway's cores" >&2
fi

# A free port: ask the kernel for one through a throwaway listener.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2>/dev/null || echo 14222)
${nats_pin[@]+"${nats_pin[@]}"} "$root/bin/nats-server" -a 127.0.0.1 -p "$port" -js -sd "$dir" >"$dir/server.log" 2>&1 &
pid=$!
up=""
for _ in $(seq 50); do
  kill -0 "$pid" 2>/dev/null || break
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then up=1; break; fi
  sleep 0.1
done
if [ -z "$up" ]; then
  echo "bench-gateway: nats-server did not come up on port $port:" >&2
  cat "$dir/server.log" >&2
  exit 1
fi

cd "$root"
BENCH_NATS_URL="nats://127.0.0.1:$port" ${bench_pin[@]+"${bench_pin[@]}"} \
  go test -run '^$' -bench LoginOverhead -benchtime 50000x "$@" ./examples/gateway/
