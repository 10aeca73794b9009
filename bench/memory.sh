#!/usr/bin/env bash
# Memory under load and given back after it, in two phases on one server, each measured from
# what the server held before it, at its peak, and every 5 s for 30 s after it ended:
# - burst: 1,000 watchers fed for 10 s while 64 clients create tickets;
# - stalled: 300 watchers that never read their streams (16 KiB windows, a connection each)
#   while 50 tickets a second are created for 40 s — past the server's 30 s
#   --stalled-stream-secs, so it must end their streams — then dropped.
# One JSON line per phase, also appended to bench/results/memory.jsonl.
#
#   bench/memory.sh
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
. bench/lib.sh
start_server "sqlite://$work/memory.db"
# jemalloc's purging threads: its options (src/main.rs) took effect.
purgers=$( (grep -c jemalloc_bg_thd /proc/"$server_pid"/task/*/comm || true) | awk -F: '{ n += $2 } END { print n + 0 }')

# phase NAME: waits for the background jobs of the phase (their pids in $jobs), sampling the
# server's RSS, then for 30 s after; prints the phase's line.
phase() {
  local before=$1 name=$2 peak=$1 after=() pid
  for pid in "${jobs[@]}"; do
    while kill -0 "$pid" 2>/dev/null; do
      peak=$(awk -v a="$peak" -v b="$(servers_rss_mib)" 'BEGIN { print (b > a) ? b : a }')
      sleep 0.5
    done
    wait "$pid"
  done
  for _ in 1 2 3 4 5 6; do
    sleep 5
    after+=("$(servers_rss_mib)")
  done
  jq -cn --arg phase "$name" --argjson before "$before" --argjson peak "$peak" \
    --argjson after "[$(IFS=,; echo "${after[*]}")]" \
    --arg commit "$(git rev-parse --short HEAD)" --argjson purgers "$purgers" \
    '{workload: "memory", phase: $phase, commit: $commit, purge_threads: $purgers, rss_mib_before: $before, rss_mib_peak: $peak, rss_mib_after_5s_to_30s: $after}' |
    tee -a bench/results/memory.jsonl
}

before=$(servers_rss_mib)
taskset -c 1 "$bench" fanout "${target[@]}" --watchers 1000 --seconds 10 >"$work/fanout.json" &
jobs=($!)
taskset -c 1 "$bench" load "${target[@]}" --workload create --concurrency 64 --seconds 10 \
  >"$work/create.json" &
jobs+=($!)
phase "$before" burst

before=$(servers_rss_mib)
taskset -c 1 "$bench" fanout "${target[@]}" --watchers 0 --stalled 300 --rate 50 --seconds 40 \
  >"$work/stalled.json" &
jobs=($!)
phase "$before" stalled
