#!/usr/bin/env bash
# PostgreSQL goes away and comes back under a running casework (issue 8). Not part of
# `cargo test`: it stops and restarts the local PostgreSQL cluster, which other tests share.
#
#   .ci/pg-restart-check.sh
#
# Run as root (pg_ctlcluster) on a machine whose one cluster (/etc/postgresql/VERSION/main)
# serves CASEWORK_TEST_POSTGRES_URL (default postgres://postgres@127.0.0.1:5432/postgres), with
# no tests running against it. Builds the binary and examples/pg_outage_probe.rs (honours
# CARGO_TARGET_DIR), starts one `casework serve --demo` on a fresh database with a 2 s acquire
# timeout and a load of CreateTicket/GetTicket calls, then:
#   1. stops PostgreSQL (the first half of a restart, held open so the gap can be looked at):
#      calls fail with UNAVAILABLE within the acquire timeout + 3 s, never hang, never another
#      code; /readyz answers 503 as fast;
#   2. starts it again: calls succeed again within 10 s, /readyz 200, same casework process;
#   3. restarts it in one go (pg_ctlcluster restart) under the load: calls succeed again
#      within 10 s;
#   4. stops the load: every load call was OK or UNAVAILABLE within the bound, and every
#      acknowledged ticket is readable.
# PostgreSQL is running again when the script ends, whatever happened. Needs curl, jq, psql.
set -euo pipefail
cd "$(dirname "$0")/.."

ACQUIRE_TIMEOUT_SECS=2
BOUND_SECS=$((ACQUIRE_TIMEOUT_SECS + 3))
BACK_WITHIN_SECS=10

step() { printf '\n==> %s\n' "$*"; }
fail() {
  echo "pg-restart-check FAILED: $*" >&2
  exit 1
}

admin_url=${CASEWORK_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}
clusters=$(ls /etc/postgresql)
[ "$(wc -w <<<"$clusters")" = 1 ] || fail "expected one PostgreSQL version in /etc/postgresql, found: $clusters"
pg() { pg_ctlcluster --skip-systemctl-redirect "$clusters" main "$@"; }
pg_up() { pg_isready -h 127.0.0.1 -q; }

target=${CARGO_TARGET_DIR:-target}
step "build"
cargo build --quiet --bin casework --example pg_outage_probe
casework=$target/debug/casework
probe=$target/debug/examples/pg_outage_probe

work=$(mktemp -d)
database=casework_restart_check_$$
server_pid=
load_pid=
cleanup() {
  status=$?
  [ -z "$load_pid" ] || kill "$load_pid" 2>/dev/null || true
  [ -z "$server_pid" ] || kill "$server_pid" 2>/dev/null || true
  # Whatever happened, PostgreSQL runs again.
  if ! pg_up; then
    pg start || true
    for _ in $(seq 1 100); do pg_up && break; sleep 0.2; done
  fi
  pg_up || echo "WARNING: PostgreSQL is not accepting connections on 127.0.0.1" >&2
  psql -q "$admin_url" -c "DROP DATABASE IF EXISTS $database WITH (FORCE)" >/dev/null 2>&1 || true
  if [ "$status" != 0 ] && [ -f "$work/server.log" ]; then
    echo "--- casework log: ERROR and WARN lines (last 20) ---" >&2
    grep -E '"level":"(ERROR|WARN)"' "$work/server.log" | tail -n 20 >&2 || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

pg_up || fail "PostgreSQL does not accept connections on 127.0.0.1"
psql -q "$admin_url" -c "CREATE DATABASE $database"
database_url="${admin_url%%\?*}"
database_url="${database_url%/*}/$database"
secret=pg-restart-check-secret-$$-$RANDOM

step "casework serve on $database (acquire timeout ${ACQUIRE_TIMEOUT_SECS}s)"
"$casework" --log-format json serve --demo --listen 127.0.0.1:0 --database-url "$database_url" \
  --jwt-secret "$secret" --pg-acquire-timeout-secs "$ACQUIRE_TIMEOUT_SECS" \
  >"$work/server.log" 2>&1 &
server_pid=$!
addr=
for _ in $(seq 1 150); do
  addr=$(jq -rR 'fromjson? | select(.fields.message == "casework listening") | .fields.addr' \
    "$work/server.log" | head -n 1)
  [ -z "$addr" ] || break
  kill -0 "$server_pid" 2>/dev/null || fail "casework exited at start-up"
  sleep 0.2
done
[ -n "$addr" ] || fail "casework did not log its address"
readyz() { curl -s -o /dev/null -w '%{http_code}' --max-time 20 "http://$addr/readyz" || true; }
for _ in $(seq 1 150); do
  [ "$(readyz)" = 200 ] && break
  sleep 0.2
done
[ "$(readyz)" = 200 ] || fail "casework at $addr never reported ready"
token=$("$casework" token --sub admin@example.com --role admin --jwt-secret "$secret")
probe() { "$probe" --addr "http://$addr" --token "$token" "$@"; }
echo "casework pid $server_pid listening on $addr"
probe up --within "$BACK_WITHIN_SECS"

step "load: 4 clients calling CreateTicket and GetTicket"
probe load --stop-file "$work/stop" --workers 4 --bound "$BOUND_SECS" >"$work/load.out" 2>&1 &
load_pid=$!

step "PostgreSQL stops (pg_ctlcluster stop): the gap"
pg stop
pg_up && fail "PostgreSQL still accepts connections after stop"
probe down --calls 5 --bound "$BOUND_SECS"
started=$(date +%s.%N)
code=$(readyz)
took=$(awk -v from="$started" -v to="$(date +%s.%N)" 'BEGIN { printf "%.2f", to - from }')
[ "$code" = 503 ] || fail "/readyz answered $code while PostgreSQL was down, expected 503"
echo "/readyz: 503 after ${took}s"
awk -v t="$took" -v b="$BOUND_SECS" 'BEGIN { exit !(t <= b) }' ||
  fail "/readyz took ${took}s while PostgreSQL was down (bound ${BOUND_SECS}s)"

step "PostgreSQL starts again: casework serves again without a restart"
pg start
probe up --within "$BACK_WITHIN_SECS"
[ "$(readyz)" = 200 ] || fail "/readyz not 200 after PostgreSQL came back"

step "PostgreSQL restarts in one go (pg_ctlcluster restart) under the load"
pg restart
probe up --within "$BACK_WITHIN_SECS"
[ "$(readyz)" = 200 ] || fail "/readyz not 200 after the restart"
kill -0 "$server_pid" 2>/dev/null || fail "casework is gone"

step "load stops"
touch "$work/stop"
load_status=0
wait "$load_pid" || load_status=$?
load_pid=
cat "$work/load.out"
errors=$(jq -rR 'fromjson? | select(.level == "ERROR") | "\(.span.method // "-"): \(.fields.error // .fields.message)"' \
  "$work/server.log" | sort | uniq -c)
if [ -n "$errors" ]; then
  echo "ERROR lines in the casework log (counted):"
  echo "$errors"
fi
[ "$load_status" = 0 ] || fail "the load saw calls that were neither OK nor a quick UNAVAILABLE"
echo
echo "pg-restart-check: ok (casework pid $server_pid served throughout)"
