#!/usr/bin/env bash
# Soak: the mixed "agent day" load (creates with routing, answers, holds, resumes, closes)
# for SOAK_SECONDS on one store, bounded and on loopback, with the server's resident memory,
# SQLite's share of it (`casework_sqlite_memory_bytes`: page caches and prepared statements,
# which fill up to their bound per connection as the database grows) and open file
# descriptors sampled every SAMPLE_SECONDS into bench/results/soak-<store>.tsv. Passes when
# the load saw no errors and, after the first minute's warm-up, the server's own memory (RSS
# less SQLite's share) and its file descriptors stay flat (the last sample within 10% / 16
# descriptors of the first).
#
#   bench/soak.sh sqlite                   # 10 minutes (the CI-sized soak of RELIABILITY.md)
#   SOAK_SECONDS=3600 bench/soak.sh postgres  # the documented hour
set -euo pipefail
cd "$(dirname "$0")/.."
store=${1:-sqlite}
seconds=${SOAK_SECONDS:-600}
sample=${SAMPLE_SECONDS:-10}
pg_url=${PG_URL:-postgres://postgres@127.0.0.1:5432}

# shellcheck source=bench/lib.sh
. bench/lib.sh
case "$store" in
  sqlite) url="sqlite://$work/soak.db" ;;
  postgres)
    psql "$pg_url/postgres" -q -c "DROP DATABASE IF EXISTS casework_soak" -c "CREATE DATABASE casework_soak"
    url="$pg_url/casework_soak"
    ;;
  *) echo "unknown store $store (sqlite or postgres)" >&2; exit 2 ;;
esac
start_server "$url"
out=bench/results/soak-$store.tsv
metrics="${target[1]}/metrics"
sqlite_mib() { curl -fsS --max-time 5 "$metrics" | awk '/^casework_sqlite_memory_bytes / { printf "%.1f", $2 / 1048576 }'; }
printf 'second\trss_mib\tsqlite_mib\tfds\n' >"$out"
taskset -c 1 "$bench" load "${target[@]}" --workload day --concurrency 16 --seconds "$seconds" \
  >"$work/load.json" &
load=$!
elapsed=0
while kill -0 "$load" 2>/dev/null; do
  printf '%s\t%s\t%s\t%s\n' "$elapsed" "$(servers_rss_mib)" "$(sqlite_mib)" \
    "$(ls "/proc/$server_pid/fd" | wc -l)" >>"$out"
  sleep "$sample"
  elapsed=$((elapsed + sample))
done
wait "$load"
cat "$work/load.json"
# Warm-up: the first minute fills caches and pools.
awk -F'\t' -v warm=60 '
  NR > 1 && $1 >= warm {
    if (!first_rss) { first_rss = $2; first_sqlite = $3; first_fds = $4 }
    last_rss = $2; last_sqlite = $3; last_fds = $4
  }
  END {
    printf "{\"soak_seconds\": %d, \"rss_mib_first\": %s, \"rss_mib_last\": %s, \"sqlite_mib_first\": %s, \"sqlite_mib_last\": %s, \"fds_first\": %s, \"fds_last\": %s}\n",
      '"$seconds"', first_rss, last_rss, first_sqlite, last_sqlite, first_fds, last_fds
    own_first = first_rss - first_sqlite; own_last = last_rss - last_sqlite
    # SQLite holds at most its page caches (2 MB per connection, 9 connections) and statements.
    if (own_last > own_first * 1.10 || last_fds > first_fds + 16 || last_sqlite > 64) { print "not flat" > "/dev/stderr"; exit 1 }
  }' "$out"
errors=$(jq '.errors // 0' "$work/load.json")
[ "$errors" = 0 ] || { echo "the load saw $errors errors" >&2; exit 1; }
echo "soak: flat, no errors"
