#!/usr/bin/env bash
# instructions.sh: user-space instructions per query on the answer path
# (parse, look up, select, write), counted by valgrind's callgrind on the
# `instructions` bench binary: each case is run with two query counts and the
# difference divided, so set-up cancels out. Independent of the machine's
# speed and noise, so it compares builds (and per-core cost) exactly; the
# kernel's share of a query (UDP receive and send) is not in it.
#
# usage: benches/instructions.sh [COUNT]     (default 100000)
set -euo pipefail
count=${1:-100000}
root=$(cd "$(dirname "$0")/.." && pwd)
command -v valgrind >/dev/null || { echo "instructions.sh: needs valgrind (apt-get install -y valgrind)" >&2; exit 2; }
binary=$(cargo bench --manifest-path "$root/Cargo.toml" --bench instructions --no-run 2>&1 |
    sed -n 's/.*Executable .*(\(.*instructions-[0-9a-f]*\)).*/\1/p' | tail -1)
[ -x "$binary" ] || { echo "instructions.sh: could not build the bench binary" >&2; exit 1; }
collected() {
    DNSLB_CASE=$1 DNSLB_COUNT=$2 valgrind --tool=callgrind --callgrind-out-file=/dev/null "$binary" 2>&1 |
        sed -n 's/.*Collected : *\([0-9]*\).*/\1/p'
}
printf '%-12s %s\n' case instructions/query
for case in static_a nxdomain weighted_4 weighted_64 cname_chain referral; do
    small=$(collected "$case" 1000)
    large=$(collected "$case" $((count + 1000)))
    printf '%-12s %s\n' "$case" "$(( (large - small) / count ))"
done
