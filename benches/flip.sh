#!/usr/bin/env bash
# flip.sh: lost queries and tail latency while the answer set changes under
# load. Starts dnslb (one worker pinned to --server-cpu), measures its
# closed-loop capacity, then runs dnslb-loadgen open loop at --load of that
# capacity twice in the same run: once quietly and once while a backend is
# drained and undrained through the admin API every --flip-ms (each flip is one
# snapshot swap). Prints, for both: asked and achieved rate, lost queries,
# p50/p99/p99.9/max latency, and the swaps counted by /metrics.
#
# usage: benches/flip.sh [--seconds 60] [--flip-ms 50] [--load 0.5]
#                        [--rate QPS] [--server-cpu 1] [--load-cpu 0]
set -euo pipefail

seconds=60 flip_ms=50 load=0.5 rate="" server_cpu=1 load_cpu=0
while [ $# -gt 0 ]; do
    case "$1" in
        --seconds) seconds=$2; shift 2 ;;
        --flip-ms) flip_ms=$2; shift 2 ;;
        --load) load=$2; shift 2 ;;
        --rate) rate=$2; shift 2 ;;
        --server-cpu) server_cpu=$2; shift 2 ;;
        --load-cpu) load_cpu=$2; shift 2 ;;
        -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
        *) echo "flip.sh: unknown option $1" >&2; exit 2 ;;
    esac
done

root=$(cd "$(dirname "$0")/.." && pwd)
cargo build --release --quiet --manifest-path "$root/Cargo.toml" --bins
dnslb="$root/target/release/dnslb"
loadgen="$root/target/release/dnslb-loadgen"
work=$(mktemp -d)
server_pid=""
cleanup() {
    [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT

port=5391 admin=8091
cp "$root/zones/example.com.zone" "$work/"
cat >"$work/dnslb.toml" <<EOF
[server]
listen = ["127.0.0.1:$port"]
workers = 1
cpus = [$server_cpu]

[admin]
listen = "127.0.0.1:$admin"

[[zone]]
name = "example.com"
file = "example.com.zone"

[[service]]
name = "flip.example.com"
policy = "weighted"
answers = 2
ttl = 5
backends = [
  { address = "192.0.2.1" }, { address = "192.0.2.2" },
  { address = "192.0.2.3" }, { address = "192.0.2.4" },
]
EOF
taskset -c "$server_cpu" "$dnslb" serve --config "$work/dnslb.toml" 2>"$work/dnslb.log" &
server_pid=$!
for _ in $(seq 50); do
    curl -sf "127.0.0.1:$admin/status" >/dev/null 2>&1 && break
    sleep 0.1
done

query=(--server "127.0.0.1:$port" --qname flip.example.com --qtype A)
swaps() { curl -sf "127.0.0.1:$admin/metrics" | awk '$1 == "dnslb_snapshot_swaps_total" { print $2 }'; }

if [ -z "$rate" ]; then
    capacity=$(taskset -c "$load_cpu" "$loadgen" run "${query[@]}" --duration 5s --json | jq '.qps')
    rate=$(python3 -c "print(int($capacity * $load))")
    echo "capacity (closed loop, 5 s): ${capacity%.*} qps; open loop at $load of it: $rate qps"
fi

run() {
    taskset -c "$load_cpu" "$loadgen" run "${query[@]}" --rate "$rate" \
        --duration "${seconds}s" --json >"$work/$1.json"
}

flipper() {
    python3 - "$admin" "$seconds" "$flip_ms" <<'PY'
import http.client, sys, time
admin, seconds, period = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]) / 1000
deadline = time.monotonic() + seconds
drained, flips, next_tick = False, 0, time.monotonic()
while time.monotonic() < deadline:
    drained = not drained
    action = "drain" if drained else "undrain"
    connection = http.client.HTTPConnection("127.0.0.1", admin, timeout=2)
    connection.request("POST", f"/backends/flip.example.com/192.0.2.1/{action}")
    if connection.getresponse().status == 200:
        flips += 1
    connection.close()
    next_tick += period
    time.sleep(max(0.0, next_tick - time.monotonic()))
print(flips)
PY
}

before=$(swaps)
run quiet
quiet_swaps=$(( $(swaps) - before ))
before=$(swaps)
flipper >"$work/flips" &
flipper_pid=$!
run flipping
wait "$flipper_pid"
flipping_swaps=$(( $(swaps) - before ))

report() {
    jq -r --arg name "$1" --arg swaps "$2" \
        '[$name, .rate_asked, .qps, .sent, .answered, .lost, .latency_us.p50, .latency_us.p99, .latency_us.p999, .latency_us.max, $swaps] | @tsv' \
        "$work/$1.json"
}
{
    printf 'run\tasked\tachieved\tsent\tanswered\tlost\tp50_us\tp99_us\tp99.9_us\tmax_us\tswaps\n'
    report quiet "$quiet_swaps"
    report flipping "$flipping_swaps"
} | column -t
echo "flips acknowledged: $(cat "$work/flips")"
