#!/usr/bin/env bash
# peers.sh: the side-by-side benchmark behind the README's table. Starts, on
# the server CPU: the `dnslb-loadgen reflect` ceiling, dnslb (one worker) and
# every peer of ../shared/peers that is installed (gdnsd, Knot, NSD,
# dnsdist); then runs benches/compare.sh (interleaved rounds, load on the
# other CPU) for:
#   www.example.com A   dnslb: a `weighted` service of 4 backends with HTTP
#                       health checks against a live local listener; gdnsd:
#                       its `weighted` plugin; Knot, NSD, dnsdist: the static
#                       4-A RRset
#   static, NXDOMAIN and a 64-backend weighted service: dnslb only, against
#                       the reflector
# and appends each run's medians as a Markdown table to --markdown FILE.
#
# usage: benches/peers.sh [--rounds 7] [--seconds 3] [--server-cpu 1]
#                         [--load-cpu 0] [--markdown FILE] [--peers DIR]
set -euo pipefail

rounds=7 seconds=3 server_cpu=1 load_cpu=0 markdown=""
root=$(cd "$(dirname "$0")/.." && pwd)
peers=$(cd "$root/../shared/peers" 2>/dev/null && pwd || true)
while [ $# -gt 0 ]; do
    case "$1" in
        --rounds) rounds=$2; shift 2 ;;
        --seconds) seconds=$2; shift 2 ;;
        --server-cpu) server_cpu=$2; shift 2 ;;
        --load-cpu) load_cpu=$2; shift 2 ;;
        --markdown) markdown=$2; shift 2 ;;
        --peers) peers=$2; shift 2 ;;
        -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
        *) echo "peers.sh: unknown option $1" >&2; exit 2 ;;
    esac
done

cargo build --release --quiet --manifest-path "$root/Cargo.toml" --bins
work=$(mktemp -d)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

# A live HTTP endpoint for dnslb's health checks (all of 127/8 reaches it).
python3 -m http.server 8099 --bind 0.0.0.0 --directory "$work" >/dev/null 2>&1 &
pids+=($!)

cat >"$work/example.com.zone" <<'EOF'
$ORIGIN example.com.
$TTL 300
@      IN SOA ns1.example.com. hostmaster.example.com. 1 3600 600 86400 30
@      IN NS  ns1.example.com.
ns1    IN A   192.0.2.53
static 30 IN A 192.0.2.1
static 30 IN A 192.0.2.2
static 30 IN A 192.0.2.3
static 30 IN A 192.0.2.4
EOF
w64=$(for index in $(seq 1 64); do printf '{ address = "10.0.0.%d" }, ' "$index"; done)
cat >"$work/dnslb.toml" <<EOF
[server]
listen = ["127.0.0.1:5390"]
workers = 1
cpus = [$server_cpu]

[[zone]]
name = "example.com"
file = "example.com.zone"

[[service]]
name = "www.example.com"
policy = "weighted"
answers = 1
ttl = 30
backends = [
  { address = "127.0.0.1", weight = 10 }, { address = "127.0.0.2", weight = 10 },
  { address = "127.0.0.3", weight = 10 }, { address = "127.0.0.4", weight = 10 },
]
health = { kind = "http", port = 8099, path = "/", expect = [200], interval = "1s", timeout = "400ms" }

[[service]]
name = "w64.example.com"
policy = "weighted"
answers = 1
ttl = 30
backends = [ $w64 ]
EOF
taskset -c "$server_cpu" "$root/target/release/dnslb-loadgen" reflect --listen 127.0.0.1:5399 >/dev/null &
pids+=($!)
taskset -c "$server_cpu" "$root/target/release/dnslb" serve --config "$work/dnslb.toml" 2>"$work/dnslb.log" &
pids+=($!)

targets=(reflect=127.0.0.1:5399 dnslb=127.0.0.1:5390)
start_peer() { # NAME BINARY PORT
    if [ -n "$peers" ] && command -v "$2" >/dev/null; then
        "$peers/run-peer.sh" "$1" "$server_cpu" >"$work/$1.log" 2>&1 &
        pids+=($!)
        targets+=("$1=127.0.0.1:$3")
    else
        echo "peers.sh: $1 not installed, left out" >&2
    fi
}
start_peer gdnsd gdnsd 5303
# Knot pins its UDP worker to CPU 0 by itself: run it on the other CPU and say so.
start_peer knot knotd 5301
start_peer nsd nsd 5302
start_peer dnsdist dnsdist 5304
sleep 3
# The health checks have run: every www backend must be up.
for _ in $(seq 30); do
    grep -q "backend health changed" "$work/dnslb.log" && { cat "$work/dnslb.log" >&2; exit 1; }
    dig +short @127.0.0.1 -p 5390 www.example.com A | grep -q '^127\.' && break
    sleep 0.2
done

run() { # TITLE ARGS TARGET...
    local title=$1 args=$2
    shift 2
    echo "== $title"
    "$root/benches/compare.sh" --rounds "$rounds" --seconds "$seconds" --load-cpu "$load_cpu" \
        --args "$args" ${markdown:+--markdown "$markdown"} --title "$title" "$@"
}
run "www.example.com A (dnslb: weighted, 4 backends, HTTP checks; gdnsd: weighted plugin; others: static 4 A)" \
    "--qname www.example.com --qtype A" "${targets[@]}"
run "static 4-A RRset" "--qname static.example.com --qtype A" reflect=127.0.0.1:5399 dnslb=127.0.0.1:5390
run "NXDOMAIN" "--qname nope.example.com --qtype A" reflect=127.0.0.1:5399 dnslb=127.0.0.1:5390
run "weighted service of 64 backends" "--qname w64.example.com --qtype A" reflect=127.0.0.1:5399 dnslb=127.0.0.1:5390
