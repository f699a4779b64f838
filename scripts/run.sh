#!/usr/bin/env bash
# make run: start ClickHouse, NATS, every authwatch service that is built, and
# demo traffic; print where to look; Ctrl-C stops everything it started.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
mkdir -p var/log

ch_was_up=false; nats_was_up=false
clickhouse-client -q 'SELECT 1' >/dev/null 2>&1 && ch_was_up=true
(exec 3<>/dev/tcp/127.0.0.1/4222) 2>/dev/null && nats_was_up=true
scripts/clickhouse.sh start
scripts/nats.sh start
go run ./internal/tools/demogeo var/demo-city.mmdb

export NATS_URL=${NATS_URL:-nats://127.0.0.1:4222}
export CLICKHOUSE_ADDR=${CLICKHOUSE_ADDR:-127.0.0.1:9000}
export CLICKHOUSE_DATABASE=${CLICKHOUSE_DATABASE:-authwatch}
export GEOIP_CITY_DB=${GEOIP_CITY_DB:-$root/var/demo-city.mmdb}
export INGEST_ADDR=${INGEST_ADDR:-127.0.0.1:9101}
export DETECTOR_ADDR=${DETECTOR_ADDR:-127.0.0.1:9102}
export QUERY_ADDR=${QUERY_ADDR:-127.0.0.1:8080}
# A dev signing secret, made once per checkout; real deployments bring their own.
[ -s var/dev-secret ] || head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >var/dev-secret
export AUTHWATCH_JWT_SECRET=${AUTHWATCH_JWT_SECRET:-$(cat var/dev-secret)}

pids=()
cleanup() {
  trap - INT TERM EXIT
  echo; echo "stopping..."
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  $nats_was_up || scripts/nats.sh stop
  $ch_was_up || scripts/clickhouse.sh stop
  echo "stopped."
}
trap 'cleanup; exit 0' INT TERM
trap cleanup EXIT

start() {
  local name=$1; shift
  "$@" >"var/log/$name.log" 2>&1 &
  pids+=($!)
  echo "started $name (log: var/log/$name.log)"
}
for svc in ingest detector query notifier; do
  [ -x "bin/$svc" ] && start "$svc" "bin/$svc"
done

for _ in $(seq 1 150); do
  curl -fs "http://$INGEST_ADDR/readyz" >/dev/null 2>&1 && break
  sleep 0.2
done
for _ in $(seq 1 150); do
  curl -fs "http://$QUERY_ADDR/readyz" >/dev/null 2>&1 && break
  sleep 0.2
done
# loadgen's first demo tenant is "acme"; an admin token for it:
bin/query mint-token -tenant acme -user demo-admin -admin -ttl 720h >var/dev-admin-token
# A week of history first (same seed: the same users, devices and places),
# so the detector knows everyone's habits before the live attacks begin.
seed=${DEMO_SEED:-7}
if [ ! -e var/demo-backfilled ]; then
  echo "backfilling a week of demo history for the detector to learn from..."
  bin/loadgen -seed "$seed" -n "${DEMO_BACKFILL:-30000}" -backfill 168h -quiet >/dev/null
  touch var/demo-backfilled
fi
start loadgen bin/loadgen -seed "$seed" -rate "${DEMO_RATE:-200}" -attacks bruteforce,spray,travel,newdevice,leakedtoken -quiet

cat <<MSG

authwatch is running on demo traffic (${DEMO_RATE:-200} events/s). Where to look:
  dashboard                   http://$QUERY_ADDR/  (sign in with the token in var/dev-admin-token)
  query API (admin token in var/dev-admin-token)
    curl -H "Authorization: Bearer \$(cat var/dev-admin-token)" http://$QUERY_ADDR/api/v1/login-history/tenant
    a user's own view: bin/query mint-token -tenant acme -user <user_id from the list> , then /api/v1/login-history/stats
    OpenAPI document          http://$QUERY_ADDR/api/openapi.json
    alerts (the demo mixes in brute force, spray, impossible travel, new devices, a leaked token)
    curl -H "Authorization: Bearer \$(cat var/dev-admin-token)" http://$QUERY_ADDR/api/v1/alerts
    live:  curl -N -H "Authorization: Bearer \$(cat var/dev-admin-token)" http://$QUERY_ADDR/api/v1/alerts/stream
    lockouts: curl -H "Authorization: Bearer \$(cat var/dev-admin-token)" http://$QUERY_ADDR/api/v1/lockouts
  backtest the rules on stored history (nothing published)
    bin/detector replay -from $(date -u -d '7 days ago' +%F) -to $(date -u +%F) -set DETECT_LOCKOUT_FAILURES=10
  ingest health and metrics   http://$INGEST_ADDR/readyz   http://$INGEST_ADDR/metrics
  detector health and metrics http://$DETECTOR_ADDR/readyz http://$DETECTOR_ADDR/metrics
  query metrics               http://$QUERY_ADDR/metrics
  NATS monitoring             http://127.0.0.1:8222/jsz?consumers=true
  ClickHouse                  clickhouse-client -d $CLICKHOUSE_DATABASE -q 'SELECT status, count() FROM login_events GROUP BY status'
  logs                        var/log/
Ctrl-C stops everything.

MSG
while true; do
  sleep 5
  counts=$(clickhouse-client -d "$CLICKHOUSE_DATABASE" -q \
    "SELECT (SELECT uniqExact(id) FROM login_events), (SELECT uniqExact(id) FROM token_events), (SELECT uniqExact(id) FROM alerts)" 2>/dev/null || echo "? ? ?")
  read -r logins tokens alerts <<<"$counts"
  echo "$(date +%T)  stored: $logins login events, $tokens token events, $alerts alerts"
  for i in "${!pids[@]}"; do
    if ! kill -0 "${pids[$i]}" 2>/dev/null; then echo "a process exited; see var/log/"; exit 1; fi
  done
done
