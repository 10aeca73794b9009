#!/usr/bin/env bash
# Turns one run's results (bench/results/<store>.jsonl, written by bench/run.sh) into the
# markdown table of BENCHMARKS.md: each workload absolute and as a ratio to its baseline of
# the same run (reads to the health RPC, writes to the raw store loop).
#
#   bench/table.sh bench/results/sqlite.jsonl
set -euo pipefail
results=${1:?usage: bench/table.sh <results.jsonl>}
jq -rs '
  def rate(w; m): (map(select(.workload == w and .mode == m)) | first | .per_second) // null;
  def fmt: if . == null then "–" elif . >= 100 then (. | round | tostring) else ((. * 100 | round) / 100 | tostring) end;
  def ratio(a; b): if a == null or b == null or b == 0 then "–" else ((a / b * 100 | round) / 100 | tostring) + "×" end;
  (rate("health"; "closed")) as $health
  | (rate("store-tx"; "closed")) as $tx
  | (rate("store-group"; "closed")) as $group
  | "| workload | mode | calls/s | p50 ms | p99 ms | p99.9 ms | vs. baseline |",
    "| --- | --- | --- | --- | --- | --- | --- |",
    (.[] | select(.workload != null and (.sweep | not)) |
      "| \(.workload) | \(.mode)\(if .rate then " @ \(.rate | round)/s" else "" end) "
      + "| \(.per_second | fmt) | \(.p50_ms | fmt) | \(.p99_ms | fmt) | \(.p999_ms | fmt) | "
      + (if (.workload | test("^(get|list|restget)$")) and .mode == "closed" then ratio(.per_second; $health) + " health"
         elif (.workload | test("^(create|message|day)$")) and .mode == "closed" then
           ratio(.per_second; $group) + " group loop, " + ratio(.per_second; $tx) + " tx loop"
         elif .workload == "health" then "ceiling"
         elif (.workload | test("^store-")) then "baseline"
         else "" end)
      + (if .errors > 0 then " (\(.errors) errors)" else "" end) + " |"),
    (.[] | select(.server_rss_mib != null) | "\nServer RSS at the end of the run: \(.server_rss_mib) MiB.")
' "$results"
