# Shared by bench/run.sh and bench/scale.sh (sourced, from the repository root): builds the
# release binaries, and starts `casework serve --demo` pinned to core 0 with an admin token
# for the load generator.
cargo build --release --bins
casework=${CASEWORK_BIN:-$(pwd)/target/release/casework}
bench="$(pwd)/target/release/casework-bench"
work=$(mktemp -d)
server_pid=
cleanup() {
  [ -z "$server_pid" ] || kill "$server_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
mkdir -p bench/results

# start_server URL: serves URL on a free loopback port; sets server_pid, target and
# CASEWORK_BENCH_TOKEN.
start_server() {
  local url=$1 port
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  taskset -c 0 "$casework" serve --demo --listen "127.0.0.1:$port" --database-url "$url" \
    --jwt-secret bench-secret-0123456789 --log warn >"$work/server.log" 2>&1 &
  server_pid=$!
  for _ in $(seq 1 150); do
    curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
    sleep 0.2
  done
  export CASEWORK_BENCH_TOKEN
  CASEWORK_BENCH_TOKEN=$("$casework" token --sub admin@example.com --role admin \
    --jwt-secret bench-secret-0123456789 --database-url "$url")
  target=(--addr "http://127.0.0.1:$port")
}

# note JSON TICKETS: the JSON line tagged with the store and the tickets stored, to $out.
note() {
  jq -c --arg store "$store" --argjson stored "$2" '. + {store: $store, tickets_stored: $stored}' <<<"$1" |
    tee -a "$out"
}
