#!/usr/bin/env bash
# The benchmark behind BENCHMARKS.md, on one store, in one run: the baselines (the health
# RPC on the same server; the raw store loop in process) and every workload, with the server
# pinned to core 0 and the load generator to core 1. Prints one JSON line per measurement and
# keeps them in bench/results/<store>.jsonl.
#
#   bench/run.sh sqlite            # embedded SQLite file (the default store)
#   bench/run.sh postgres          # a fresh database on the local PostgreSQL server
#   REPLICAS=2 bench/run.sh postgres   # two servers sharing that database (both on core 0)
#
# Besides the peak of each workload (closed loop), CreateTicket and GetTicket are offered at
# fixed rates from a quarter of their peak to past it (open loop: the latency over offered
# load plotted by bench/plot.sh).
#
# Settings (environment): SECONDS_PER_RUN (10), CONCURRENCY (64), TICKETS (10000),
# WATCHERS (1000), REPLICAS (1), PG_URL (postgres://postgres@127.0.0.1:5432), CASEWORK_BIN
# (the server binary; default: this checkout's release build), OUT
# (bench/results/<store>.jsonl, or <store>-<n>replicas.jsonl).
set -euo pipefail
cd "$(dirname "$0")/.."
store=${1:-sqlite}
seconds=${SECONDS_PER_RUN:-10}
concurrency=${CONCURRENCY:-64}
tickets=${TICKETS:-10000}
watchers=${WATCHERS:-1000}
replicas=${REPLICAS:-1}
pg_url=${PG_URL:-postgres://postgres@127.0.0.1:5432}
server_core=0
load_core=1

# shellcheck source=bench/lib.sh
. bench/lib.sh
suffix=
[ "$replicas" = 1 ] || suffix="-${replicas}replicas"
out=${OUT:-bench/results/$store$suffix.jsonl}
: >"$out"

fresh_database() {
  case "$store" in
    sqlite) echo "sqlite://$work/$1.db" ;;
    postgres)
      local name="casework_bench_$1"
      psql "$pg_url/postgres" -q -c "DROP DATABASE IF EXISTS $name" -c "CREATE DATABASE $name"
      echo "$pg_url/$name"
      ;;
    *) echo "unknown store $store (sqlite or postgres)" >&2; exit 2 ;;
  esac
}

# The raw store baselines, on the server's core: one transaction per write (on PostgreSQL
# from as many connections as the server's pool, 16), then group-committed.
writers=1
[ "$store" = sqlite ] || writers=16
url=$(fresh_database raw_tx)
note "$(taskset -c $server_core "$bench" store --database-url "$url" --batch 1 \
  --connections "$writers" --concurrency "$concurrency" --seconds "$seconds")" 0
url=$(fresh_database raw_group)
note "$(taskset -c $server_core "$bench" store --database-url "$url" --batch 128 \
  --concurrency "$concurrency" --seconds "$seconds")" 0

start_server "$(fresh_database server)" "$replicas"
load() { taskset -c $load_core "$bench" load "${target[@]}" "$@"; }
# sweep WORKLOAD PEAK: open-loop runs from a quarter of PEAK calls/s to past it.
sweep() {
  for share in 0.25 0.5 0.75 0.9 1.0 1.1; do
    rate=$(jq -n "$2 * $share | floor")
    note "$(load --workload "$1" --rate "$rate" --concurrency 1024 --seconds "$seconds" |
      jq -c '. + {sweep: true}')" "$tickets"
  done
}

taskset -c $load_core "$bench" seed "${target[@]}" --tickets "$tickets"
for workload in health list rest-get; do
  note "$(load --workload $workload --concurrency "$concurrency" --seconds "$seconds")" "$tickets"
done
got=$(load --workload get --concurrency "$concurrency" --seconds "$seconds")
note "$got" "$tickets"
created=$(load --workload create --concurrency "$concurrency" --seconds "$seconds")
note "$created" "$tickets"
# Open loop at half the peak: the latency a steady load sees.
half=$(jq '.per_second / 2 | floor' <<<"$created")
note "$(load --workload create --rate "$half" --concurrency 1024 --seconds "$seconds")" "$tickets"
note "$(load --workload message --concurrency "$concurrency" --seconds "$seconds")" "$tickets"
sweep create "$(jq .per_second <<<"$created")"
sweep get "$(jq .per_second <<<"$got")"
# The agent day last of the writes: it puts 20 agents online, so later creates are routed.
note "$(load --workload day --concurrency "$concurrency" --seconds "$seconds")" "$tickets"
note "$(taskset -c $load_core "$bench" fanout "${target[@]}" --watchers "$watchers" \
  --rate 50 --seconds "$seconds")" "$tickets"
echo "{\"server_rss_mib\": $(servers_rss_mib)}" | tee -a "$out"
