#!/usr/bin/env bash
# plot.sh: the README's latency picture. Starts a release dnslb with its
# embedded default config (127.0.0.1:5353) and gdnsd (../shared/peers, port
# 5303, its `weighted` plugin), each on the server CPU; runs the same open-loop
# load against each in turn from the load CPU (www.example.com A, same rate,
# same duration, latency from the scheduled send time, lost queries counted at
# the 1 s timeout), saving each run's distribution as .hgrm; then draws both
# with `dnslb-loadgen plot`. Every command it runs is printed first.
#
# usage: benches/plot.sh [--rate 50000] [--duration 10s] [--server-cpu 1]
#                        [--load-cpu 0] [--output docs/latency.svg]
#                        [--work DIR] [--peers DIR]
#
# The .hgrm files stay in --work (default target/plot) for `dnslb-loadgen plot`
# with other runs. The machine is shared: regenerate the picture on a quiet one,
# and read the ratio of the two lines, not their absolute height.
set -euo pipefail

rate=50000 duration=10s server_cpu=1 load_cpu=0
root=$(cd "$(dirname "$0")/.." && pwd)
output="$root/docs/latency.svg" work="$root/target/plot"
peers=$(cd "$root/../shared/peers" 2>/dev/null && pwd || true)
while [ $# -gt 0 ]; do
    case "$1" in
        --rate) rate=$2; shift 2 ;;
        --duration) duration=$2; shift 2 ;;
        --server-cpu) server_cpu=$2; shift 2 ;;
        --load-cpu) load_cpu=$2; shift 2 ;;
        --output) output=$2; shift 2 ;;
        --work) work=$2; shift 2 ;;
        --peers) peers=$2; shift 2 ;;
        -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
        *) echo "plot.sh: unknown option $1" >&2; exit 2 ;;
    esac
done
[ -n "$peers" ] && [ -x "$peers/run-peer.sh" ] ||
    { echo "plot.sh: no peers directory with run-peer.sh (--peers DIR)" >&2; exit 2; }
command -v gdnsd >/dev/null || { echo "plot.sh: gdnsd is not installed" >&2; exit 2; }
command -v taskset >/dev/null || { echo "plot.sh: taskset is missing (util-linux)" >&2; exit 2; }

# Prints a command, then runs it.
run() {
    printf '+' >&2
    printf ' %q' "$@" >&2
    printf '\n' >&2
    "$@"
}

dnslb_port=5353 gdnsd_port=5303
for port in "$dnslb_port" "$gdnsd_port"; do
    if ss -Hlun "sport = :$port" | grep -q .; then
        echo "plot.sh: UDP port $port is in use already; stop that server first" >&2
        exit 1
    fi
done

run cargo build --release --quiet --manifest-path "$root/Cargo.toml" -p dnslb -p dnslb-loadgen
loadgen="$root/target/release/dnslb-loadgen"
mkdir -p "$work" "$(dirname "$output")"
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
}
trap cleanup EXIT

# The servers run in the background: printed, then started directly, so that
# $! is the server itself (taskset and run-peer.sh exec it) and the trap stops it.
echo "+ taskset -c $server_cpu $root/target/release/dnslb serve   # the embedded default config" >&2
taskset -c "$server_cpu" "$root/target/release/dnslb" serve 2>"$work/dnslb.log" &
pids+=($!)
echo "+ $peers/run-peer.sh gdnsd $server_cpu" >&2
"$peers/run-peer.sh" gdnsd "$server_cpu" >"$work/gdnsd.log" 2>&1 &
pids+=($!)

# Both answer before any load is sent.
for port in "$dnslb_port" "$gdnsd_port"; do
    for attempt in $(seq 50); do
        dig +short +time=1 +tries=1 @127.0.0.1 -p "$port" www.example.com A | grep -q . && break
        if [ "$attempt" = 50 ]; then
            echo "plot.sh: nothing answers on port $port; logs:" >&2
            cat "$work/dnslb.log" "$work/gdnsd.log" >&2
            exit 1
        fi
        sleep 0.2
    done
done

for target in dnslb="$dnslb_port" gdnsd="$gdnsd_port"; do
    name=${target%%=*} port=${target#*=}
    run taskset -c "$load_cpu" "$loadgen" run --server "127.0.0.1:$port" \
        --qname www.example.com --qtype A --rate "$rate" --duration "$duration" \
        --timeout 1s --cpu "$load_cpu" --hgrm "$work/$name.hgrm" --json >"$work/$name.json"
    jq -r --arg name "$name" '"\($name): sent \(.sent) answered \(.answered) lost \(.lost), latency us p50 \(.latency_us.p50) p99 \(.latency_us.p99) p99.9 \(.latency_us.p999) max \(.latency_us.max)"' "$work/$name.json"
done

# A run that lost queries says so in the legend: its tail is the timeout.
label() { # NAME
    jq -r --arg name "$1" 'if .lost > 0 then "\($name), \(.lost) lost (at 1 s)" else $name end' "$work/$1.json"
}
run "$loadgen" plot "$work/dnslb.hgrm" "$work/gdnsd.hgrm" -o "$output" \
    --label "$(label dnslb)" --label "$(label gdnsd)" \
    --title "www.example.com A at $rate qps for $duration, one server core each ($(date -u +%Y-%m-%d))"
echo "wrote $output (from $work/dnslb.hgrm and $work/gdnsd.hgrm)"
