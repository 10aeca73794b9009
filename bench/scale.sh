#!/usr/bin/env bash
# Scale curves: the read workloads with 10k, 100k and 1M tickets stored in one growing
# database, with the bytes stored per ticket and the server's peak RSS (VmHWM), then 1,000
# live watchers on the full database. Server on core 0, load generator on core 1; one JSON
# line per measurement, kept in bench/results/scale-<store>.jsonl.
#
#   bench/scale.sh sqlite                 # 10k, 100k, 1M
#   STEPS="10000 100000" bench/scale.sh sqlite
set -euo pipefail
cd "$(dirname "$0")/.."
store=${1:-sqlite}
steps=${STEPS:-10000 100000 1000000}
seconds=${SECONDS_PER_RUN:-10}
pg_url=${PG_URL:-postgres://postgres@127.0.0.1:5432}

# shellcheck source=bench/lib.sh
. bench/lib.sh
out=${OUT:-bench/results/scale-$store.jsonl}
: >"$out"

case "$store" in
  sqlite) url="sqlite://$work/scale.db" ;;
  postgres)
    psql "$pg_url/postgres" -q -c "DROP DATABASE IF EXISTS casework_bench_scale" \
      -c "CREATE DATABASE casework_bench_scale"
    url="$pg_url/casework_bench_scale"
    ;;
  *) echo "unknown store $store (sqlite or postgres)" >&2; exit 2 ;;
esac
start_server "$url"

stored_bytes() {
  case "$store" in
    sqlite) cat "$work"/scale.db* | wc -c ;;
    postgres) psql "$url" -Atq -c "SELECT pg_database_size(current_database())" ;;
  esac
}
peak_rss_mib() { awk '/VmHWM/ { printf "%.1f", $2 / 1024 }' "/proc/$server_pid/status"; }

have=0
for want in $steps; do
  taskset -c 1 "$bench" seed "${target[@]}" --tickets $((want - have))
  have=$want
  for workload in get list rest-get; do
    note "$(taskset -c 1 "$bench" load "${target[@]}" --workload $workload --seconds "$seconds")" "$have"
  done
  bytes=$(stored_bytes)
  note "{\"bytes_per_ticket\": $((bytes / have)), \"peak_rss_mib\": $(peak_rss_mib)}" "$have"
done
note "$(taskset -c 1 "$bench" fanout "${target[@]}" --watchers 1000 --rate 50 --seconds "$seconds")" "$have"
note "{\"peak_rss_mib\": $(peak_rss_mib)}" "$have"
