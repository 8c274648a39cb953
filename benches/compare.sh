#!/usr/bin/env bash
# compare.sh: closed-loop UDP load from dnslb-loadgen against several servers
# already listening, in interleaved rounds (A B C A B C ...), each target's
# answered qps as a ratio to the reflector's qps of the same round, then each
# target's median ratio and median qps. See ../../shared/BENCHMARKING.md for the
# method: only ratios measured in one run, medians over rounds, mean anything on
# a shared machine.
set -euo pipefail
# shellcheck source=benches/lib.sh
source "$(dirname "$0")/lib.sh"

usage() {
    cat <<'EOF'
usage: benches/compare.sh [options] NAME=ADDR:PORT ...

Measures each target with `dnslb-loadgen run --json` (closed loop), round
after round (with --paired: each at the same time as the reflector), and prints its answered qps and its ratio to the target named
`reflect` (the denominator: start one with `dnslb-loadgen reflect`; without a
target of that name, the first target is the denominator).

The load runs pinned to one CPU (--load-cpu, default 0). Start the servers
pinned to another, normally CPU 1, before running this script, e.g.:

  taskset -c 1 target/release/dnslb-loadgen reflect --listen 127.0.0.1:5399 &
  taskset -c 1 target/release/dnslb serve --config dnslb-bench.toml &   # workers = 1, cpus = [1]
  benches/compare.sh reflect=127.0.0.1:5399 dnslb=127.0.0.1:5390

options:
  --rounds N        rounds (default 5)
  --seconds S       seconds per measurement (default 3)
  --load-cpu CPU    CPU the generator is pinned to (default 0)
  --window W        queries outstanding (default 128)
  --sockets K       source sockets (default 4)
  --batch B         queries per sendmmsg (default 32)
  --loadgen PATH    the generator (default: target/release/dnslb-loadgen)
  --args "ARGS"     more arguments for `dnslb-loadgen run`, e.g. "--qname www.example.com --edns 1232"
  --markdown FILE   also append the medians to FILE as a Markdown table (as
                    benches/peers.sh does for docs/performance.md)
  --title TEXT      the table's caption (default: the query and the date)
  --paired          load each target at the same time as the reflector (two
                    generators on the load CPU, the two servers sharing the
                    server CPU) instead of one after the other: both see the
                    same moment of this VM, whose speed drifts by 20% within
                    seconds, so the ratio is the ratio of per-query costs
                    and its spread is about 1% instead of 10-20%
  -h, --help        this text
EOF
}

rounds=5 seconds=3 window=128 sockets=4 batch=32
extra=""
markdown="" title="" paired=0
targets=()
while [ $# -gt 0 ]; do
    case "$1" in
        --rounds) rounds=$2; shift 2 ;;
        --seconds) seconds=$2; shift 2 ;;
        --load-cpu) load_cpu=$2; shift 2 ;;
        --window) window=$2; shift 2 ;;
        --sockets) sockets=$2; shift 2 ;;
        --batch) batch=$2; shift 2 ;;
        --loadgen) loadgen=$2; shift 2 ;;
        --args) extra=$2; shift 2 ;;
        --markdown) markdown=$2; shift 2 ;;
        --title) title=$2; shift 2 ;;
        --paired) paired=1; shift ;;
        -h|--help) usage; exit 0 ;;
        -*) echo "$script: unknown option $1" >&2; usage >&2; exit 2 ;;
        *=*) targets+=("$1"); shift ;;
        *) fail 2 "expected NAME=ADDR:PORT, got $1" ;;
    esac
done
[ ${#targets[@]} -gt 0 ] || { usage >&2; exit 2; }
need_numbers "$rounds" "$seconds" "$load_cpu" "$window" "$sockets" "$batch"
need_binary generator "$loadgen" "cargo build --release -p dnslb-loadgen"
need_tools taskset

# qps of a JSON report on stdin.
if command -v jq >/dev/null; then
    qps_of() { jq -r '.qps'; }
else
    qps_of() { python3 -c 'import json,sys; print(json.load(sys.stdin)["qps"])'; }
fi

names=()
denominator=0
for index in "${!targets[@]}"; do
    names+=("${targets[$index]%%=*}")
done
for index in "${!names[@]}"; do
    if [ "${names[$index]}" = reflect ]; then denominator=$index; break; fi
done
[ "${names[$denominator]}" = reflect ] ||
    echo "$script: no target named reflect; ratios are to ${names[0]}" >&2

make_work
results="$work/results"

# One closed-loop measurement of ADDRESS; prints its qps (0 on failure).
measure() { # NAME ADDRESS [MORE ARGS]
    local report name=$1 address=$2
    shift 2
    # shellcheck disable=SC2086 # $extra is a list of arguments
    if report=$(taskset -c "$load_cpu" "$loadgen" run --server "$address" \
        --duration "${seconds}s" --window "$window" --sockets "$sockets" \
        --batch "$batch" --cpu "$load_cpu" --json $extra "$@"); then
        printf '%s' "$report" | qps_of | cut -d. -f1
    else
        echo "$script: $name ($address) failed" >&2
        echo 0
    fi
}

mode="one after the other"
[ "$paired" = 1 ] && mode="each at the same time as ${names[$denominator]}"
echo "load on CPU $load_cpu: window $window, $sockets sockets, batch $batch, $rounds rounds of ${seconds}s, $mode"
count=${#targets[@]}
for round in $(seq "$rounds"); do
    line="round $round:"
    if [ "$paired" = 1 ]; then
        # The order rotates every round, so no target is always first.
        for step in $(seq 0 $((count - 1))); do
            index=$(( (round + step) % count ))
            [ "$index" = "$denominator" ] && continue
            name=${names[$index]}
            # Both generators start sending at the same moment (set-up
            # done), so neither has the server CPU to itself at either end.
            start=$(( $(date +%s%3N) + 300 ))
            measure "${names[$denominator]}" "${targets[$denominator]#*=}" --start-at "$start" >"$results.pair" &
            qps=$(measure "$name" "${targets[$index]#*=}" --start-at "$start")
            wait
            reference=$(cat "$results.pair")
            ratio=$(awk -v q="$qps" -v r="$reference" 'BEGIN { printf "%.3f", (r > 0 ? q / r : 0) }')
            line+=$(printf '  %s %s/%s qps (%s)' "$name" "$qps" "$reference" "$ratio")
            echo "$name $qps $ratio" >>"$results"
            echo "${names[$denominator]} $reference 1.000" >>"$results"
        done
    else
        declare -A round_qps=()
        for index in "${!targets[@]}"; do
            round_qps[${names[$index]}]=$(measure "${names[$index]}" "${targets[$index]#*=}")
        done
        reference=${round_qps[${names[$denominator]}]}
        for name in "${names[@]}"; do
            qps=${round_qps[$name]}
            ratio=$(awk -v q="$qps" -v r="$reference" 'BEGIN { printf "%.3f", (r > 0 ? q / r : 0) }')
            line+=$(printf '  %s %s qps (%s)' "$name" "$qps" "$ratio")
            echo "$name $qps $ratio" >>"$results"
        done
        unset round_qps
    fi
    echo "$line"
done

echo "median over $rounds rounds (ratio to ${names[$denominator]}):"
if [ -n "$markdown" ]; then
    {
        echo
        echo "${title:-${extra:-default query}}, $(date -u +%Y-%m-%d): $rounds rounds of ${seconds}s, $mode, load on CPU $load_cpu (window $window, $sockets sockets, batch $batch)"
        echo
        if [ "$paired" = 1 ]; then
            echo "| target | qps / ${names[$denominator]} at the same time, median (range) | qps while sharing the core, median (range) |"
        else
            echo "| target | qps / ${names[$denominator]}, median (range) | qps, median (range) |"
        fi
        echo "|---|---|---|"
    } >>"$markdown"
fi
for name in "${names[@]}"; do
    read -r ratio ratio_low ratio_high < <(awk -v name="$name" '$1 == name { print $3 }' "$results" | summary %.3f)
    read -r qps qps_low qps_high < <(awk -v name="$name" '$1 == name { print $2 }' "$results" | summary %.0f)
    printf '  %-12s ratio %s (%s-%s)  qps %s (%s-%s)\n' "$name" \
        "$ratio" "$ratio_low" "$ratio_high" "$qps" "$qps_low" "$qps_high"
    if [ -n "$markdown" ]; then
        printf '| %s | %s (%s-%s) | %s (%s-%s) |\n' "$name" \
            "$ratio" "$ratio_low" "$ratio_high" "$qps" "$qps_low" "$qps_high" >>"$markdown"
    fi
done
