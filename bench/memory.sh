#!/usr/bin/env bash
# Memory given back after load: the server's resident memory idle, at the peak of a burst
# (1,000 watchers fed for 10 s while 64 clients create tickets), and then every 5 s for
# 30 s after the burst ended. One JSON line, also appended to bench/results/memory.jsonl.
#
#   bench/memory.sh
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
. bench/lib.sh
start_server "sqlite://$work/memory.db"
idle=$(servers_rss_mib)
# jemalloc's purging threads: its options (src/main.rs) took effect.
purgers=$( (grep -c jemalloc_bg_thd /proc/"$server_pid"/task/*/comm || true) | awk -F: '{ n += $2 } END { print n + 0 }')
taskset -c 1 "$bench" fanout "${target[@]}" --watchers 1000 --seconds 10 >"$work/fanout.json" &
fanout=$!
taskset -c 1 "$bench" load "${target[@]}" --workload create --concurrency 64 --seconds 10 \
  >"$work/create.json" &
load=$!
peak=$idle
while kill -0 "$fanout" 2>/dev/null || kill -0 "$load" 2>/dev/null; do
  peak=$(awk -v a="$peak" -v b="$(servers_rss_mib)" 'BEGIN { print (b > a) ? b : a }')
  sleep 0.5
done
wait "$fanout" "$load"
after=()
for _ in 1 2 3 4 5 6; do
  sleep 5
  after+=("$(servers_rss_mib)")
done
line=$(jq -cn --argjson idle "$idle" --argjson peak "$peak" \
  --argjson after "[$(IFS=,; echo "${after[*]}")]" \
  --arg commit "$(git rev-parse --short HEAD)" --argjson purgers "$purgers" \
  '{workload: "memory", commit: $commit, purge_threads: $purgers, rss_mib_idle: $idle, rss_mib_peak: $peak, rss_mib_after_5s_to_30s: $after}')
echo "$line" | tee -a bench/results/memory.jsonl
