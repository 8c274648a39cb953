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
# Every comparison is run twice: first with each server loaded at the same
# time as the reflector (compare.sh --paired: the ratio of per-query costs,
# spread about 1%), then one after the other (the plain method, whose
# rounds swing by 10-20% with this VM's speed).
# A second dnslb ("dnslb+rrl") with the same config and [rrl] on, at a rate
# the load never reaches, runs in the www rounds: the cost of rate limiting
# on the unlimited path. The open-loop latency runs (dnslb and gdnsd in
# turn, half of gdnsd's capacity) save their distributions, and with
# --svg FILE the median run of each is drawn with `dnslb-loadgen plot`.
#
# usage: benches/peers.sh [--rounds 7] [--seconds 3] [--server-cpu 1]
#                         [--load-cpu 0] [--markdown FILE] [--svg FILE]
#                         [--peers DIR]
set -euo pipefail

rounds=7 seconds=3 server_cpu=1 load_cpu=0 markdown="" svg=""
root=$(cd "$(dirname "$0")/.." && pwd)
peers=$(cd "$root/../shared/peers" 2>/dev/null && pwd || true)
while [ $# -gt 0 ]; do
    case "$1" in
        --rounds) rounds=$2; shift 2 ;;
        --seconds) seconds=$2; shift 2 ;;
        --server-cpu) server_cpu=$2; shift 2 ;;
        --load-cpu) load_cpu=$2; shift 2 ;;
        --markdown) markdown=$2; shift 2 ;;
        --svg) svg=$2; shift 2 ;;
        --peers) peers=$2; shift 2 ;;
        -h|--help) sed -n '2,23p' "$0"; exit 0 ;;
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

# A live HTTP endpoint for dnslb's health checks (all of 127/8 reaches it),
# on the load CPU: it stands for the backends, not for the server under test.
taskset -c "$load_cpu" python3 -m http.server 8099 --bind 0.0.0.0 --directory "$work" >/dev/null 2>&1 &
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
sed -e 's/127.0.0.1:5390/127.0.0.1:5391/' "$work/dnslb.toml" >"$work/dnslb-rrl.toml"
printf '\n[rrl]\nresponses_per_second = 1000000\n' >>"$work/dnslb-rrl.toml"
taskset -c "$server_cpu" "$root/target/release/dnslb" serve --config "$work/dnslb-rrl.toml" 2>"$work/dnslb-rrl.log" &
pids+=($!)

targets=(reflect=127.0.0.1:5399 dnslb=127.0.0.1:5390 dnslb+rrl=127.0.0.1:5391)
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
    "$root/benches/compare.sh" --paired --rounds "$rounds" --seconds "$seconds" --load-cpu "$load_cpu" \
        --args "$args" ${markdown:+--markdown "$markdown"} --title "$title" "$@"
    "$root/benches/compare.sh" --rounds "$rounds" --seconds "$seconds" --load-cpu "$load_cpu" \
        --args "$args" ${markdown:+--markdown "$markdown"} --title "$title" "$@"
}
run "www.example.com A (dnslb: weighted, 4 backends, HTTP checks; gdnsd: weighted plugin; others: static 4 A)" \
    "--qname www.example.com --qtype A" "${targets[@]}"
run "static 4-A RRset" "--qname static.example.com --qtype A" reflect=127.0.0.1:5399 dnslb=127.0.0.1:5390
run "NXDOMAIN" "--qname nope.example.com --qtype A" reflect=127.0.0.1:5399 dnslb=127.0.0.1:5390
run "weighted service of 64 backends" "--qname w64.example.com --qtype A" reflect=127.0.0.1:5399 dnslb=127.0.0.1:5390

# Latency: open loop at half of gdnsd's capacity, dnslb and gdnsd in turn.
# Percentiles also with lost queries counted at the 1 s timeout, so a server
# that drops during a stall gets no shorter tail for it.
if printf '%s\n' "${targets[@]}" | grep -q '^gdnsd='; then
    capacity=$(taskset -c "$load_cpu" "$root/target/release/dnslb-loadgen" run --server 127.0.0.1:5303 \
        --qname www.example.com --duration 5s --json | jq '.qps')
    rate=$(python3 -c "print(int($capacity / 2))")
    echo "== open loop at $rate qps (half of gdnsd's $capacity), $rounds pairs of $((seconds * 3))s"
    for round in $(seq "$rounds"); do
        for target in dnslb=5390 gdnsd=5303; do
            taskset -c "$load_cpu" "$root/target/release/dnslb-loadgen" run --server "127.0.0.1:${target#*=}" \
                --qname www.example.com --rate "$rate" --duration "$((seconds * 3))s" --json \
                --hgrm "$work/${target%=*}-$round.hgrm" |
                jq -c --arg name "${target%=*}" --arg round "$round" \
                    '{name: $name, round: $round, qps, lost, l: .latency_us, w: .latency_with_lost_us}' >>"$work/latency.jsonl"
        done
    done
    python3 - "$work/latency.jsonl" "$rate" "$markdown" <<'PY'
import json, statistics, sys
rows = [json.loads(line) for line in open(sys.argv[1])]
rate, markdown = sys.argv[2], sys.argv[3]
lines = ["", f"open loop at {rate} qps (half of gdnsd's capacity), www.example.com A, {len(rows) // 2} runs each, medians", "",
         "| server | achieved qps | lost | p50 us | p99 us | p99.9 us | p99 / p99.9 us, lost counted at 1 s |", "|---|---|---|---|---|---|---|"]
for name in ("dnslb", "gdnsd"):
    mine = [row for row in rows if row["name"] == name]
    med = lambda f: statistics.median(f(row) for row in mine)
    lines.append(f"| {name} | {med(lambda r: r['qps']):.0f} | {med(lambda r: r['lost']):.0f} | {med(lambda r: r['l']['p50'])} | "
                 f"{med(lambda r: r['l']['p99'])} | {med(lambda r: r['l']['p999'])} | {med(lambda r: r['w']['p99'])} / {med(lambda r: r['w']['p999'])} |")
print("\n".join(lines))
if markdown:
    open(markdown, "a").write("\n".join(lines) + "\n")
# The run of each server whose p99 (lost counted) is the median, for the plot.
with open(sys.argv[1] + ".median", "w") as out:
    for name in ("dnslb", "gdnsd"):
        mine = sorted((row for row in rows if row["name"] == name), key=lambda r: r["w"]["p99"])
        row = mine[len(mine) // 2]
        out.write(f"{name}\t{row['round']}\t{row['lost']}\n")
PY
    if [ -n "$svg" ]; then
        plot=() labels=()
        while IFS=$'\t' read -r name round lost; do
            plot+=("$work/$name-$round.hgrm")
            if [ "$lost" = 0 ]; then labels+=(--label "$name"); else labels+=(--label "$name, $lost lost (at 1 s)"); fi
        done <"$work/latency.jsonl.median"
        "$root/target/release/dnslb-loadgen" plot "${plot[@]}" "${labels[@]}" -o "$svg" \
            --title "www.example.com A, open loop at $rate qps, one core each, median of $rounds runs ($(date +%F))"
        echo "latency plot: $svg"
    fi
fi

# Knot pins its UDP worker to CPU 0 whatever taskset says, so it is measured
# in its own run with the CPUs swapped: Knot and a second reflector on the
# load CPU, the load on the server CPU (the other servers sit idle there).
if [ -n "$peers" ] && command -v knotd >/dev/null; then
    taskset -c "$load_cpu" "$root/target/release/dnslb-loadgen" reflect --listen 127.0.0.1:5398 >/dev/null &
    pids+=($!)
    "$peers/run-peer.sh" knot "$load_cpu" >"$work/knot.log" 2>&1 &
    pids+=($!)
    sleep 3
    echo "== Knot (CPUs swapped)"
    for paired in --paired ""; do
        "$root/benches/compare.sh" $paired --rounds "$rounds" --seconds "$seconds" --load-cpu "$server_cpu" \
            --args "--qname www.example.com --qtype A" ${markdown:+--markdown "$markdown"} \
            --title "Knot, www.example.com A (static 4 A), CPUs swapped: knotd pins its worker to CPU 0 itself" \
            reflect=127.0.0.1:5398 knot=127.0.0.1:5301
    done
else
    echo "peers.sh: knot not installed, left out" >&2
fi
