#!/usr/bin/env bash
# instructions.sh: user-space instructions per query on the answer path
# (parse, look up, select, write), counted by valgrind's callgrind on the
# `instructions` bench binary: each case is run with two query counts and the
# difference divided, so set-up cancels out. Independent of the machine's
# speed and noise, so it compares builds (and per-core cost) exactly; the
# kernel's share of a query (UDP receive and send) is not in it.
#
# The name index's hash is seeded at random per process, so a run's figure
# moves by a probe or two (up to ~4% for a CNAME chain, which looks up
# several names): each case is measured ROUNDS times and the median printed,
# with the spread beside it.
#
# usage: benches/instructions.sh [COUNT [ROUNDS]]     (defaults 100000, 5)
set -euo pipefail
# shellcheck source=benches/lib.sh
source "$(dirname "$0")/lib.sh"

case "${1:-}" in -h|--help) usage_from_header; exit 0 ;; esac
count=${1:-100000}
rounds=${2:-5}
need_numbers "$count" "$rounds"
if [ "$count" -lt 1 ] || [ "$rounds" -lt 1 ]; then
    fail 2 "COUNT and ROUNDS must be at least 1"
fi
command -v valgrind >/dev/null || fail 2 "needs valgrind (apt-get install -y valgrind)"
binary=$(cargo bench --manifest-path "$root/Cargo.toml" --bench instructions --no-run 2>&1 |
    sed -n 's/.*Executable .*(\(.*instructions-[0-9a-f]*\)).*/\1/p' | tail -1)
[ -x "$binary" ] || fail 1 "could not build the bench binary"
collected() {
    DNSLB_CASE=$1 DNSLB_COUNT=$2 valgrind --tool=callgrind --callgrind-out-file=/dev/null "$binary" 2>&1 |
        sed -n 's/.*Collected : *\([0-9]*\).*/\1/p'
}
printf '%-12s %-18s %s\n' case instructions/query "min-max of $rounds"
for case in static_a nxdomain weighted_4 weighted_64 cname_chain referral static_a_rrl; do
    runs=()
    for _ in $(seq "$rounds"); do
        small=$(collected "$case" 1000)
        large=$(collected "$case" $((count + 1000)))
        runs+=($(( (large - small) / count )))
    done
    read -r middle lowest highest < <(printf '%s\n' "${runs[@]}" | summary %.0f)
    printf '%-12s %-18s %s\n' "$case" "$middle" "$lowest-$highest"
done
