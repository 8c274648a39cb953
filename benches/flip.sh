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
# shellcheck source=benches/lib.sh
source "$(dirname "$0")/lib.sh"

seconds=60 flip_ms=50 load=0.5 rate=""
while [ $# -gt 0 ]; do
    case "$1" in
        --seconds) seconds=$2; shift 2 ;;
        --flip-ms) flip_ms=$2; shift 2 ;;
        --load) load=$2; shift 2 ;;
        --rate) rate=$2; shift 2 ;;
        --server-cpu) server_cpu=$2; shift 2 ;;
        --load-cpu) load_cpu=$2; shift 2 ;;
        -h|--help) usage_from_header; exit 0 ;;
        *) fail 2 "unknown option $1" ;;
    esac
done
need_tools taskset curl jq python3 column

build_binaries
make_work

port=5391 admin=8091
copy_example_zone "$work"
write_config_head "$work/dnslb.toml" "$port" "$server_cpu" "$admin"
cat >>"$work/dnslb.toml" <<EOF

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
start_dnslb "$server_cpu" "$work/dnslb.toml" "$work/dnslb.log"
wait_for_admin "$admin" 50 || { cat "$work/dnslb.log" >&2; fail 1 "dnslb did not start"; }

query=(--server "127.0.0.1:$port" --qname flip.example.com --qtype A)
swaps() { metric "$admin" dnslb_snapshot_swaps_total; }

if [ -z "$rate" ]; then
    capacity=$(closed_loop_qps "${query[@]}")
    rate=$(fraction_of "$capacity" "$load")
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
track "$flipper_pid"
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
