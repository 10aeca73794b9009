# Shared by the bench/*.sh scripts (sourced, from the repository root): builds the
# release binaries, and starts `casework serve --demo` (one or more replicas) pinned to core 0
# with an admin token for the load generator.
cargo build --release --bins
casework=${CASEWORK_BIN:-$(pwd)/target/release/casework}
bench="$(pwd)/target/release/casework-bench"
work=$(mktemp -d)
server_pids=()
cleanup() {
  [ ${#server_pids[@]} -eq 0 ] || kill "${server_pids[@]}" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
mkdir -p bench/results

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# The load generator's one token stands for many clients: admission limits above anything a
# run puts in flight, so overload shows as latency rather than refusals. A script that wants
# the server's defaults sets `admission=()` before sourcing this file.
declare -p admission >/dev/null 2>&1 || admission=(--max-calls-in-flight 8192 --max-calls-per-principal 8192
  --max-streams-per-principal 8192 --max-connections-per-address 16384)

# start_server URL [REPLICAS]: serves URL on free loopback ports, from REPLICAS processes
# (default 1; more only share a PostgreSQL database), all on core 0; sets server_pid (the
# first of them), adds them to server_pids, sets target (the load generator's --addr, every replica) and
# CASEWORK_BENCH_TOKEN.
start_server() {
  local url=$1 replicas=${2:-1} first=${#server_pids[@]} port addrs=
  for i in $(seq 1 "$replicas"); do
    port=$(free_port)
    taskset -c 0 "$casework" serve --demo --listen "127.0.0.1:$port" --database-url "$url" \
      --jwt-secret bench-secret-0123456789 --log warn "${admission[@]}" >"$work/server-$i.log" 2>&1 &
    server_pids+=($!)
    for _ in $(seq 1 150); do
      curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
      sleep 0.2
    done
    addrs+="${addrs:+,}http://127.0.0.1:$port"
  done
  server_pid=${server_pids[$first]}
  export CASEWORK_BENCH_TOKEN
  CASEWORK_BENCH_TOKEN=$("$casework" token --sub admin@example.com --role admin \
    --jwt-secret bench-secret-0123456789 --database-url "$url")
  target=(--addr "$addrs")
}

# stop_servers: stops the servers start_server started.
stop_servers() {
  kill "${server_pids[@]}"
  wait "${server_pids[@]}" 2>/dev/null || true
  server_pids=()
}

# servers_rss_mib: the resident memory of the running server processes, summed.
servers_rss_mib() {
  ps -o rss= -p "$(IFS=,; echo "${server_pids[*]}")" | awk '{ kib += $1 } END { printf "%.1f", kib / 1024 }'
}

# note JSON TICKETS: the JSON line tagged with the store and the tickets stored, to $out.
note() {
  jq -c --arg store "$store" --argjson stored "$2" '. + {store: $store, tickets_stored: $stored}' <<<"$1" |
    tee -a "$out"
}
