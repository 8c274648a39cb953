#!/usr/bin/env bash
# xdp.sh: the AF_XDP benchmark behind docs/xdp.md and the README's "XDP fast
# path" table. Makes a veth pair between two network namespaces of its own
# (dnslb-xsrvN / dnslb-xcliN, 198.18.N.1 and .2, removed on exit; nothing
# leaves them), then in interleaved rounds starts each server in the server
# namespace, pinned to the server CPU, and loads it from the client
# namespace with each generator pinned to the load CPU:
#   servers     reflect         dnslb-loadgen reflect: the kernel's UDP socket
#                               path, no DNS (the denominator)
#               dnslb           dnslb, one socket worker, no [xdp]
#               dnslb-xdp       dnslb with [xdp] on the veth (one queue)
#               reflect-xdp     dnslb-loadgen reflect --xdp: AF_XDP, no DNS
#               knot-xdp        Knot's XDP mode, when knotd is installed (its
#                               XDP worker pins itself to CPU 0, so its load
#                               runs from CPU 1)
#   generators  kxdpgun         Knot's AF_XDP generator, when installed
#               loadgen-xdp     dnslb-loadgen run --xdp, closed loop (a
#                               window of 2048 queries)
#               loadgen-flood   dnslb-loadgen run --xdp, open loop at 1M
#                               queries/s over 64 source ports: sends as
#                               fast as it can, as kxdpgun does
# Each cell is the median answered qps of the rounds (lowest-highest), with
# its ratio to the socket reflector's median under the same generator; a
# second table gives what each generator sent and got answered against the
# same responders. The tables go to --markdown FILE (default docs/xdp.md)
# under a header naming this command, the date and the machine.
# veth gives copy-mode AF_XDP only (zero-copy is refused).
#
# usage: benches/xdp.sh [--rounds 5] [--seconds 4] [--server-cpu 1]
#                       [--load-cpu 0] [--bed 5] [--markdown FILE]
# Needs root, ip, taskset, jq; kxdpgun and knotd are used when installed.
set -euo pipefail
# shellcheck source=benches/lib.sh
source "$(dirname "$0")/lib.sh"

invocation="benches/$script${*:+ $*}"
rounds=5 seconds=4 bed=5
markdown="$root/docs/xdp.md"
while [ $# -gt 0 ]; do
    case "$1" in
        --rounds) rounds=$2; shift 2 ;;
        --seconds) seconds=$2; shift 2 ;;
        --server-cpu) server_cpu=$2; shift 2 ;;
        --load-cpu) load_cpu=$2; shift 2 ;;
        --bed) bed=$2; shift 2 ;;
        --markdown) markdown=$2; shift 2 ;;
        -h|--help) usage_from_header; exit 0 ;;
        *) fail 2 "unknown option $1" ;;
    esac
done
need_numbers "$rounds" "$seconds" "$server_cpu" "$load_cpu" "$bed"
need_tools ip taskset jq python3
[ "$(id -u)" = 0 ] || fail 2 "needs root (namespaces, BPF, AF_XDP)"

srv_ns="dnslb-xsrv$bed" cli_ns="dnslb-xcli$bed"
srv_if="xsrv$bed" cli_if="xcli$bed"
srv_ip="198.18.$bed.1" cli_ip="198.18.$bed.2"
port=53

build_binaries
make_work

# Removes the namespaces (and with them the veth pair and anything attached).
on_cleanup() {
    ip netns del "$srv_ns" 2>/dev/null || true
    ip netns del "$cli_ns" 2>/dev/null || true
}

# The veth pair, as ../shared/xdp/netns.sh makes it: static neighbours, MTU
# 1500, checksum offload off where ethtool is installed.
bed_up() {
    on_cleanup
    ip netns add "$srv_ns"
    ip netns add "$cli_ns"
    ip link add "$srv_if" netns "$srv_ns" type veth peer name "$cli_if" netns "$cli_ns"
    local side ns interface address
    for side in "$srv_ns $srv_if $srv_ip" "$cli_ns $cli_if $cli_ip"; do
        read -r ns interface address <<<"$side"
        ip -n "$ns" link set lo up
        ip -n "$ns" addr add "$address/24" dev "$interface"
        ip -n "$ns" link set "$interface" mtu 1500 up
        if command -v ethtool >/dev/null; then
            ip netns exec "$ns" ethtool -K "$interface" tx off rx off >/dev/null 2>&1 || true
        fi
    done
    local smac cmac
    smac=$(ip -n "$srv_ns" -br link show "$srv_if" | awk '{ print $3 }')
    cmac=$(ip -n "$cli_ns" -br link show "$cli_if" | awk '{ print $3 }')
    ip -n "$srv_ns" neigh replace "$cli_ip" lladdr "$cmac" dev "$srv_if" nud permanent
    ip -n "$cli_ns" neigh replace "$srv_ip" lladdr "$smac" dev "$cli_if" nud permanent
}
bed_up

# Configs: dnslb with and without [xdp]; Knot's XDP mode.
copy_example_zone "$work"
printf '[server]\nlisten = ["%s:%s"]\nworkers = 1\ncpus = [%s]\n\n[[zone]]\nname = "example.com"\nfile = "example.com.zone"\n' \
    "$srv_ip" "$port" "$server_cpu" >"$work/sockets.toml"
{ cat "$work/sockets.toml"; printf '\n[xdp]\ninterface = "%s"\n' "$srv_if"; } >"$work/xdp.toml"
echo "www.example.com A" >"$work/queries.txt"
knot=0
if command -v knotd >/dev/null; then
    knot=1
    mkdir -p "$work/knot"
    cp "$root/zones/example.com.zone" "$work/knot/"
    cat >"$work/knot/knot.conf" <<EOF
server:
    listen: $srv_ip@$port
    udp-workers: 1
    tcp-workers: 1
    background-workers: 1
    rundir: $work/knot
xdp:
    listen: $srv_if@$port
log:
  - target: $work/knot/knot.log
    any: warning
database:
    storage: $work/knot
zone:
  - domain: example.com
    file: $work/knot/example.com.zone
EOF
fi
servers=(reflect dnslb dnslb-xdp reflect-xdp)
[ "$knot" = 1 ] && servers+=(knot-xdp)
generators=()
command -v kxdpgun >/dev/null && generators+=(kxdpgun)
generators+=(loadgen-xdp loadgen-flood)

# The CPUs a server and its load run on: Knot's XDP worker takes CPU 0.
cpus_for() { # SERVER -> "SERVER_CPU LOAD_CPU"
    if [ "$1" = knot-xdp ]; then echo "$load_cpu $server_cpu"; else echo "$server_cpu $load_cpu"; fi
}

# Starts SERVER on CPU in the server namespace; sets server_pid.
start_server() { # SERVER CPU
    local in=(ip netns exec "$srv_ns")
    case "$1" in
        reflect) "${in[@]}" taskset -c "$2" "$loadgen" reflect --listen "$srv_ip:$port" --cpu "$2" >/dev/null 2>&1 & ;;
        reflect-xdp) "${in[@]}" taskset -c "$2" "$loadgen" reflect --xdp "$srv_if" --listen "$srv_ip:$port" --cpu "$2" >/dev/null 2>&1 & ;;
        dnslb) "${in[@]}" taskset -c "$2" "$dnslb" serve --config "$work/sockets.toml" 2>"$work/dnslb.log" & ;;
        dnslb-xdp) "${in[@]}" taskset -c "$2" "$dnslb" serve --config "$work/xdp.toml" 2>"$work/dnslb-xdp.log" & ;;
        knot-xdp) "${in[@]}" knotd -c "$work/knot/knot.conf" >/dev/null 2>&1 & ;;
    esac
    server_pid=$!
    # Answering yet? (dig from the client side, over the XDP path too).
    for _ in $(seq 50); do
        ip netns exec "$cli_ns" dig +tries=1 +time=1 +short "@$srv_ip" -p "$port" www.example.com A >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    fail 1 "$1 did not answer"
}

stop_server() {
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    # Knot leaves its program attached.
    ip -n "$srv_ns" link set dev "$srv_if" xdp off 2>/dev/null || true
}

# Runs GENERATOR on CPU for the configured seconds; prints "SENT ANSWERED"
# in queries per second.
measure() { # GENERATOR CPU
    local in=(ip netns exec "$cli_ns")
    case "$1" in
        kxdpgun)
            "${in[@]}" taskset -c "$2" kxdpgun -t "$seconds" -Q 3000000 -p "$port" \
                -i "$work/queries.txt" -I "$cli_if" "$srv_ip" 2>&1 |
                awk '/^total queries/ { gsub(/[()]/, "", $4); sent = $4 }
                     /^total replies/ { gsub(/[()]/, "", $4); answered = $4 }
                     END { print sent + 0, answered + 0 }'
            ip -n "$cli_ns" link set dev "$cli_if" xdp off 2>/dev/null || true
            ;;
        loadgen-xdp)
            "${in[@]}" taskset -c "$2" "$loadgen" run --xdp "$cli_if" --server "$srv_ip:$port" \
                --cpu "$2" --window 2048 --duration "${seconds}s" --json |
                jq -r '"\(.send_qps) \(.qps)"'
            ;;
        loadgen-flood)
            "${in[@]}" taskset -c "$2" "$loadgen" run --xdp "$cli_if" --server "$srv_ip:$port" \
                --cpu "$2" --rate 1000000 --sockets 64 --timeout 200ms --duration "${seconds}s" \
                --json | jq -r '"\(.send_qps) \(.qps)"'
            ;;
    esac
}

echo "$(machine_description)"
echo "servers: ${servers[*]}; generators: ${generators[*]}; $rounds rounds of ${seconds}s"
for round in $(seq "$rounds"); do
    for server in "${servers[@]}"; do
        read -r scpu lcpu <<<"$(cpus_for "$server")"
        start_server "$server" "$scpu"
        for generator in "${generators[@]}"; do
            read -r sent answered <<<"$(measure "$generator" "$lcpu")"
            echo "$sent" >>"$work/sent.$server.$generator"
            echo "$answered" >>"$work/answered.$server.$generator"
            printf 'round %s  %-12s %-12s sent %9.0f  answered %9.0f\n' \
                "$round" "$server" "$generator" "$sent" "$answered"
        done
        stop_server
    done
done

# The tables.
page="$work/xdp.md"
{
    echo "# AF_XDP benchmark"
    echo
    echo "Measured $(date -u +%Y-%m-%d) on $(machine_description) by \`$invocation\`:"
    echo "$rounds interleaved rounds of ${seconds} s, a veth pair between two namespaces (copy-mode"
    echo "AF_XDP), the server on CPU $server_cpu and the generator on CPU $load_cpu (Knot's XDP worker"
    echo "pins itself to CPU 0, so its load ran from CPU 1), \`www.example.com A\`."
    echo
    echo "## Answered queries per second: median (lowest-highest), and the median's ratio to the socket reflector's"
    echo
    printf '| server |'; for g in "${generators[@]}"; do printf ' %s |' "$g"; done; echo
    printf '|---|'; for _ in "${generators[@]}"; do printf -- '---|'; done; echo
    for server in "${servers[@]}"; do
        printf '| %s |' "$server"
        for g in "${generators[@]}"; do
            read -r med low high <<<"$(summary '%.0f' <"$work/answered.$server.$g")"
            base=$(median '%.0f' <"$work/answered.reflect.$g")
            ratio=$(python3 -c "print(f'{$med / max($base, 1):.2f}')")
            printf ' %sk (%sk-%sk) %sx |' "$((med / 1000))" "$((low / 1000))" "$((high / 1000))" "$ratio"
        done
        echo
    done
    echo
    echo "## The generators against the same responders: sent and answered per second, medians"
    echo
    printf '| server |'; for g in "${generators[@]}"; do printf ' %s sent | %s answered |' "$g" "$g"; done; echo
    printf '|---|'; for _ in "${generators[@]}"; do printf -- '---|---|'; done; echo
    for server in "${servers[@]}"; do
        printf '| %s |' "$server"
        for g in "${generators[@]}"; do
            printf ' %sk | %sk |' "$(($(median '%.0f' <"$work/sent.$server.$g") / 1000))" \
                "$(($(median '%.0f' <"$work/answered.$server.$g") / 1000))"
        done
        echo
    done
} >"$page"
cat "$page"
if [ -n "$markdown" ]; then
    mkdir -p "$(dirname "$markdown")"
    cp "$page" "$markdown"
    echo "wrote $markdown"
fi
