#!/usr/bin/env bash
# peers.sh: the side-by-side benchmark behind docs/performance.md and the
# README's headline table. Starts, on the server CPU: the `dnslb-loadgen
# reflect` ceiling, dnslb (one worker) and every peer of ../shared/peers that
# is installed (gdnsd, Knot, NSD, dnsdist); then runs benches/compare.sh
# (interleaved rounds, load on the other CPU) for:
#   www.example.com A   dnslb: a `weighted` service of 4 backends with HTTP
#                       health checks against a live local listener; gdnsd:
#                       its `weighted` plugin; Knot, NSD, dnsdist: the static
#                       4-A RRset
#   static, NXDOMAIN and a 64-backend weighted service: dnslb only, against
#                       the reflector
# and writes each run's medians as a Markdown table to --markdown FILE
# (default docs/performance.md), under a header naming this command, the
# date and the machine; the section "Measured by other commands" of an
# existing FILE is carried over unchanged. FILE is written once the runs are
# done; --markdown "" writes none.
# Every comparison is run twice: first with each server loaded at the same
# time as the reflector (compare.sh --paired: the ratio of per-query costs,
# spread about 1%), then one after the other (the plain method, whose
# rounds swing by 10-20% with this VM's speed).
# A second dnslb ("dnslb+rrl") with the same config and [rrl] on, at a rate
# the load never reaches, runs in the www rounds: the cost of rate limiting
# on the unlimited path. The open-loop latency runs (dnslb and gdnsd in
# turn, half of gdnsd's capacity) save their distributions, and the median
# run of each is drawn with `dnslb-loadgen plot` into --svg FILE (default
# docs/latency.svg; --svg "" draws none).
#
# usage: benches/peers.sh [--rounds 7] [--seconds 3] [--server-cpu 1]
#                         [--load-cpu 0] [--markdown FILE] [--svg FILE]
#                         [--peers DIR]
set -euo pipefail
# shellcheck source=benches/lib.sh
source "$(dirname "$0")/lib.sh"

invocation="benches/$script${*:+ $*}"
rounds=7 seconds=3
markdown="$root/docs/performance.md" svg="$root/docs/latency.svg"
peers=$( (cd "$root/../shared/peers" 2>/dev/null && pwd) || true)
while [ $# -gt 0 ]; do
    case "$1" in
        --rounds) rounds=$2; shift 2 ;;
        --seconds) seconds=$2; shift 2 ;;
        --server-cpu) server_cpu=$2; shift 2 ;;
        --load-cpu) load_cpu=$2; shift 2 ;;
        --markdown) markdown=$2; shift 2 ;;
        --svg) svg=$2; shift 2 ;;
        --peers) peers=$2; shift 2 ;;
        -h|--help) usage_from_header; exit 0 ;;
        *) fail 2 "unknown option $1" ;;
    esac
done
need_numbers "$rounds" "$seconds" "$server_cpu" "$load_cpu"
need_tools taskset python3 jq dig

build_binaries
make_work
# The page is written here and copied to --markdown FILE at the end, so a
# run that fails leaves the last complete one in place.
page="$work/performance.md"

# A live HTTP endpoint for dnslb's health checks (all of 127/8 reaches it),
# on the load CPU: it stands for the backends, not for the server under test.
taskset -c "$load_cpu" python3 -m http.server 8099 --bind 0.0.0.0 --directory "$work" >/dev/null 2>&1 &
track $!

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
write_config_head "$work/dnslb.toml" 5390 "$server_cpu"
cat >>"$work/dnslb.toml" <<EOF

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
start_reflector "$server_cpu" 127.0.0.1:5399
start_dnslb "$server_cpu" "$work/dnslb.toml" "$work/dnslb.log"
sed -e 's/127.0.0.1:5390/127.0.0.1:5391/' "$work/dnslb.toml" >"$work/dnslb-rrl.toml"
printf '\n[rrl]\nresponses_per_second = 1000000\n' >>"$work/dnslb-rrl.toml"
start_dnslb "$server_cpu" "$work/dnslb-rrl.toml" "$work/dnslb-rrl.log"

targets=(reflect=127.0.0.1:5399 dnslb=127.0.0.1:5390 dnslb+rrl=127.0.0.1:5391)
left_out=()
start_peer() { # NAME BINARY PORT
    if [ -n "$peers" ] && command -v "$2" >/dev/null; then
        "$peers/run-peer.sh" "$1" "$server_cpu" >"$work/$1.log" 2>&1 &
        track $!
        targets+=("$1=127.0.0.1:$3")
    else
        echo "$script: $1 not installed, left out" >&2
        left_out+=("$1")
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

cat >"$page" <<EOF
# Performance beside the peers

<!-- Written by benches/peers.sh, all but the section "Measured by other commands": run it again rather than editing the rest. -->

Generated on $(date -u +%Y-%m-%d) by \`$invocation\`.
Machine: $(machine_description).
Anything under the heading *Measured by other commands* comes from other
commands, each named there with its date; peers.sh carries it over as it is.

Each server runs on CPU $server_cpu with one UDP worker or thread; the load
(\`dnslb-loadgen run\`) runs on CPU $load_cpu, and so does the HTTP listener
that dnslb's health checks probe (it stands for the backends). \`dnslb+rrl\`
is the same dnslb with \`[rrl]\` on, at a rate the load never reaches. The
README's headline table is taken from these tables.

Every comparison runs two ways. **At the same time** (\`compare.sh
--paired\`): each server is loaded together with the reflector, both
generators starting at one instant (\`dnslb-loadgen run --start-at\`), the two
servers sharing CPU $server_cpu; both see the same moment of the machine, so
the ratio is the ratio of their per-query costs. These are the figures to
read. **One after the other** (the plain method): each round's ratio follows
the machine's speed from one measurement to the next, which on a shared
machine swings widely (see the ranges); it is the cross-check.

## Throughput on one core
EOF

run() { # TITLE ARGS TARGET...
    local title=$1 args=$2
    shift 2
    echo "== $title"
    "$root/benches/compare.sh" --paired --rounds "$rounds" --seconds "$seconds" --load-cpu "$load_cpu" \
        --args "$args" --markdown "$page" --title "$title" "$@"
    "$root/benches/compare.sh" --rounds "$rounds" --seconds "$seconds" --load-cpu "$load_cpu" \
        --args "$args" --markdown "$page" --title "$title" "$@"
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
    printf '\n## Latency at half of gdnsd'"'"'s capacity\n' >>"$page"
    capacity=$(closed_loop_qps --server 127.0.0.1:5303 --qname www.example.com)
    rate=$(fraction_of "$capacity" 0.5)
    echo "== open loop at $rate qps (half of gdnsd's $capacity), $rounds pairs of $((seconds * 3))s"
    for round in $(seq "$rounds"); do
        for target in dnslb=5390 gdnsd=5303; do
            taskset -c "$load_cpu" "$loadgen" run --server "127.0.0.1:${target#*=}" \
                --qname www.example.com --rate "$rate" --duration "$((seconds * 3))s" --json \
                --hgrm "$work/${target%=*}-$round.hgrm" |
                jq -c --arg name "${target%=*}" --arg round "$round" \
                    '{name: $name, round: $round, qps, lost, l: .latency_us, w: .latency_with_lost_us}' >>"$work/latency.jsonl"
        done
    done
    python3 - "$work/latency.jsonl" "$rate" "$page" <<'PY'
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
    cat >>"$page" <<'EOF'

The last column counts each lost query as answered at the 1 s timeout: a
server that drops queries while the machine stalls keeps a shorter tail
among the queries it answers, and shows the timeout there.
EOF
    if [ -n "$svg" ]; then
        plot=() labels=()
        while IFS=$'\t' read -r name round lost; do
            plot+=("$work/$name-$round.hgrm")
            if [ "$lost" = 0 ]; then labels+=(--label "$name"); else labels+=(--label "$name, $lost lost (at 1 s)"); fi
        done <"$work/latency.jsonl.median"
        "$loadgen" plot "${plot[@]}" "${labels[@]}" -o "$svg" \
            --title "www.example.com A, open loop at $rate qps, one core each, median of $rounds runs ($(date +%F))"
        echo "latency plot: $svg"
        if [ -n "$markdown" ]; then
            picture=$(realpath -m --relative-to="$(dirname "$(realpath -m "$markdown")")" "$svg")
            cat >>"$page" <<EOF

![latency percentiles of dnslb and gdnsd at half of gdnsd's capacity]($picture)

The picture shows, for each server, the run whose p99 with lost queries
counted is the median of the $rounds, drawn by \`dnslb-loadgen plot\` from
the runs' \`--hgrm\` files (lost queries at the 1 s timeout).
EOF
        fi
    fi
fi

# Knot pins its UDP worker to CPU 0 whatever taskset says, so it is measured
# in its own run with the CPUs swapped: Knot and a second reflector on the
# load CPU, the load on the server CPU (the other servers sit idle there).
if [ -n "$peers" ] && command -v knotd >/dev/null; then
    cat >>"$page" <<EOF

## Knot

knotd pins its UDP worker to CPU 0 by itself, whatever \`taskset\` says, so
it is measured in a comparison of its own with the CPUs swapped: Knot and a
second reflector on CPU $load_cpu, the load on CPU $server_cpu.
EOF
    start_reflector "$load_cpu" 127.0.0.1:5398
    "$peers/run-peer.sh" knot "$load_cpu" >"$work/knot.log" 2>&1 &
    track $!
    sleep 3
    echo "== Knot (CPUs swapped)"
    for paired in --paired ""; do
        "$root/benches/compare.sh" $paired --rounds "$rounds" --seconds "$seconds" --load-cpu "$server_cpu" \
            --args "--qname www.example.com --qtype A" --markdown "$page" \
            --title "Knot, www.example.com A (static 4 A), CPUs swapped: knotd pins its worker to CPU 0 itself" \
            reflect=127.0.0.1:5398 knot=127.0.0.1:5301
    done
else
    echo "$script: knot not installed, left out" >&2
    left_out+=(knot)
fi

if [ ${#left_out[@]} -gt 0 ]; then
    joined=$(printf '%s, ' "${left_out[@]}")
    printf '\nNot installed on this machine, so left out: %s.\n' "${joined%, }" >>"$page"
fi
if [ -n "$markdown" ]; then
    # The measurements of other commands, kept as they are.
    if [ -f "$markdown" ]; then
        sed -n '/^## Measured by other commands$/,$p' "$markdown" >"$work/kept"
        if [ -s "$work/kept" ]; then
            { echo; cat "$work/kept"; } >>"$page"
        fi
    fi
    mkdir -p "$(dirname "$markdown")"
    cp "$page" "$markdown"
    echo "tables: $markdown"
fi
