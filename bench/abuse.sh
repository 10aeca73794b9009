#!/usr/bin/env bash
# A well-behaved client under attack: its GetTicket latency (200 calls/s, open loop) alone and
# during each attack — an HTTP/2 rapid-reset flood, a CONTINUATION flood, oversized header
# lists (4 attacking connections each, every attack repeated as soon as the server ends it),
# and an overload (2,048 calls kept in flight by one other principal, four times the server's
# default --max-calls-in-flight), once on the default limits and once with a rate limit of
# 1,000 calls/s per principal — with the server's resident memory before and at its peak.
# The server runs on core 0, a fresh database of 1,000 tickets per attack; the clients on
# core 1, the attackers in a process of their own (ABUSE_IN_PROCESS=1: in the good client's).
# One JSON line per attack (`server_args`: the limits set beyond the defaults), also in
# bench/results/abuse.jsonl.
#
#   bench/abuse.sh                  # 10 s alone + 10 s attacked, per attack
#   ABUSE_SECONDS=60 bench/abuse.sh
#   ABUSE_RUNS=overload ABUSE_SERVER_ARGS="--max-calls-running 64" bench/abuse.sh
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${ABUSE_SECONDS:-10}
read -r -a runs <<<"${ABUSE_RUNS:-rapid-reset continuation headers overload overload-rate-limited}"
read -r -a extra <<<"${ABUSE_SERVER_ARGS:-}"
attack_process=(--attack-process)
[ -n "${ABUSE_IN_PROCESS:-}" ] && attack_process=()
admission=()
# shellcheck source=bench/lib.sh
. bench/lib.sh
out=${ABUSE_OUT:-bench/results/abuse.jsonl}
: >"$out"
for run in "${runs[@]}"; do
  attack=${run%-rate-limited}
  url="sqlite://$work/abuse-$run.db"
  admission=("${extra[@]}")
  start_server "$url"
  taskset -c 1 "$bench" seed "${target[@]}" --tickets 1000 >/dev/null
  if [ "$run" != "$attack" ]; then
    # The same database, served again with the rate limit (the seeding would have hit it).
    stop_servers
    admission=("${extra[@]}" --rate-limit-per-second 1000)
    start_server "$url"
  fi
  attacker=$("$casework" token --sub flood-bot --role service \
    --jwt-secret bench-secret-0123456789 --database-url "$url")
  before=$(servers_rss_mib)
  taskset -c 1 "$bench" abuse "${target[@]}" --attack "$attack" --seconds "$seconds" \
    --attack-token "$attacker" "${attack_process[@]}" \
    >"$work/abuse.json" &
  load=$!
  peak=$before
  while kill -0 "$load" 2>/dev/null; do
    peak=$(awk -v a="$peak" -v b="$(servers_rss_mib)" 'BEGIN { print (b > a) ? b : a }')
    sleep 0.5
  done
  wait "$load"
  jq -c --argjson before "$before" --argjson peak "$peak" --arg args "${admission[*]}" \
    '. + {server_args: $args, rss_mib_before: $before, rss_mib_peak: $peak}' "$work/abuse.json" |
    tee -a "$out"
  stop_servers
done
