#!/usr/bin/env bash
# soak.sh: days of production squeezed into --minutes (default 30). Starts
# dnslb (one worker pinned to --server-cpu) with a weighted service whose
# four backends are real TCP listeners probed every 200 ms, measures its
# closed-loop capacity, then runs dnslb-loadgen open loop at --load (0.8) of
# it for the whole soak while:
#   - every --reload-s (10) seconds the config is rewritten (the TTL
#     alternates) and reloaded, by SIGHUP and POST /reload in turn;
#   - every --flap-ms (700) one backend listener is closed or opened again,
#     so health checks take it out and bring it back;
#   - every 10 s the server's RSS is sampled from /proc.
# Prints sent, answered, lost (with the generator's socket errors and the
# kernel's UDP receive-buffer drops over the run, which explain loss the
# server never saw), RSS at start, end and max, reloads acknowledged, health
# changes logged, and every WARN/ERROR line of the server's log.
#
# usage: benches/soak.sh [--minutes 30] [--load 0.8] [--reload-s 10]
#                        [--flap-ms 700] [--server-cpu 1] [--load-cpu 0]
set -euo pipefail
# shellcheck source=benches/lib.sh
source "$(dirname "$0")/lib.sh"

minutes=30 load=0.8 reload_s=10 flap_ms=700
while [ $# -gt 0 ]; do
    case "$1" in
        --minutes) minutes=$2; shift 2 ;;
        --load) load=$2; shift 2 ;;
        --reload-s) reload_s=$2; shift 2 ;;
        --flap-ms) flap_ms=$2; shift 2 ;;
        --server-cpu) server_cpu=$2; shift 2 ;;
        --load-cpu) load_cpu=$2; shift 2 ;;
        -h|--help) usage_from_header; exit 0 ;;
        *) fail 2 "unknown option $1" ;;
    esac
done
need_tools taskset curl jq python3

build_binaries
make_work

port=5397 admin=8097 seconds=$((minutes * 60))
copy_example_zone "$work"

# Four backends on 127.0.9.1-4, each a listener a flapper closes and opens.
backend_ports=(19001 19002 19003 19004)
write_config() {
    write_config_head "$work/dnslb.toml" "$port" "$server_cpu" "$admin"
    cat >>"$work/dnslb.toml" <<EOF

[[service]]
name = "soak.example.com"
policy = "weighted"
answers = 2
ttl = $1
when_all_down = "all"
health = { kind = "tcp", interval = "200ms", timeout = "100ms", rise = 1, fall = 1 }
backends = [
  { address = "127.0.9.1", weight = 10, health = { port = ${backend_ports[0]} } },
  { address = "127.0.9.2", weight = 20, health = { port = ${backend_ports[1]} } },
  { address = "127.0.9.3", weight = 30, health = { port = ${backend_ports[2]} } },
  { address = "127.0.9.4", weight = 40, health = { port = ${backend_ports[3]} } },
]
EOF
}
write_config 5

# The backends and the flapper: one Python process on the load CPU.
taskset -c "$load_cpu" python3 - "$seconds" "$flap_ms" "${backend_ports[@]}" >"$work/flaps" <<'PY' &
import socket, sys, time, random
seconds, period = float(sys.argv[1]), float(sys.argv[2]) / 1000
ports = [int(p) for p in sys.argv[3:]]
def listen(index):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((f"127.0.9.{index + 1}", ports[index]))
    s.listen(64)
    s.setblocking(False)
    return s
listeners = [listen(i) for i in range(len(ports))]
deadline = time.monotonic() + seconds + 30
next_flap, flaps = time.monotonic() + 5, 0
random.seed(7)
while time.monotonic() < deadline:
    for s in listeners:
        if s is None:
            continue
        try:
            while True:
                connection, _ = s.accept()
                connection.close()
        except BlockingIOError:
            pass
    if time.monotonic() >= next_flap:
        index = random.randrange(len(ports))
        if listeners[index] is None:
            listeners[index] = listen(index)
        elif sum(s is not None for s in listeners) > 1:
            listeners[index].close()
            listeners[index] = None
        flaps += 1
        next_flap += period
    time.sleep(0.002)
print(flaps)
PY
track $!

start_dnslb "$server_cpu" "$work/dnslb.toml" "$work/dnslb.log"
server_pid=$started_pid
wait_for_admin "$admin" 100 || { cat "$work/dnslb.log" >&2; fail 1 "dnslb did not start"; }

query=(--server "127.0.0.1:$port" --qname soak.example.com --qtype A)
# The VM's speed changes from second to second: take the median of three
# closed-loop samples, so that the soak's load is a fraction of what the
# server usually manages, not of its best moment.
capacity=$(for _ in 1 2 3; do closed_loop_qps "${query[@]}"; done | median %.3f)
rate=$(fraction_of "$capacity" "$load")
echo "capacity (closed loop, median of 3 x 5 s): ${capacity%.*} qps; soak at $load of it: $rate qps for $minutes min"

rss() { awk '/^VmRSS/ { print $2 }' "/proc/$server_pid/status"; }
udp_rcvbuf_errors() { awk '/^Udp:/ { if (++n == 2) print $6 }' /proc/net/snmp; }

rcvbuf_before=$(udp_rcvbuf_errors)
taskset -c "$load_cpu" "$loadgen" run "${query[@]}" --rate "$rate" --duration "${seconds}s" \
    --json >"$work/load.json" &
load_pid=$!
track "$load_pid"

# Reloads every reload_s seconds, alternating SIGHUP and POST /reload, the
# TTL alternating between 5 and 6; RSS every 10 s.
reloads=0 reload_failures=0 rss_samples=()
started=$(date +%s)
next_reload=$((started + reload_s)) next_rss=$started
while kill -0 "$load_pid" 2>/dev/null; do
    now=$(date +%s)
    if [ "$now" -ge "$next_rss" ]; then
        rss_samples+=("$(rss)")
        next_rss=$((next_rss + 10))
    fi
    if [ "$now" -ge "$next_reload" ]; then
        write_config $((5 + reloads % 2))
        if [ $((reloads % 2)) -eq 0 ]; then
            kill -HUP "$server_pid"
        else
            curl -sf -X POST "127.0.0.1:$admin/reload" >/dev/null || reload_failures=$((reload_failures + 1))
        fi
        reloads=$((reloads + 1))
        next_reload=$((next_reload + reload_s))
    fi
    sleep 0.5
done
wait "$load_pid"
rss_samples+=("$(rss)")
rcvbuf_after=$(udp_rcvbuf_errors)
sleep 1
ok_reloads=$(metric "$admin" 'dnslb_reloads_total{result="ok"}')
swaps=$(metric "$admin" dnslb_snapshot_swaps_total)
echo
jq -r '"sent \(.sent)  answered \(.answered)  lost \(.lost)  achieved \(.send_qps|floor) qps  generator socket errors \(.socket_errors)  malformed \(.malformed)",
       "latency us: p50 \(.latency_us.p50)  p99 \(.latency_us.p99)  p99.9 \(.latency_us.p999)  max \(.latency_us.max)"' "$work/load.json"
echo "kernel UDP receive-buffer drops during the run (both ends): $((rcvbuf_after - rcvbuf_before))"
echo "RSS KiB: start ${rss_samples[1]:-${rss_samples[0]}}  end ${rss_samples[-1]}  max $(printf '%s\n' "${rss_samples[@]}" | sort -n | tail -1)  (samples every 10 s: ${#rss_samples[@]})"
echo "reloads: $reloads sent, $ok_reloads ok by /metrics, $reload_failures POSTs failed; snapshot swaps $swaps"
echo "health changes logged: $(grep -c 'health changed' "$work/dnslb.log" || true)"
echo "WARN/ERROR lines in the server log: $(grep -cE 'WARN|ERROR' "$work/dnslb.log" || true)"
grep -E 'WARN|ERROR' "$work/dnslb.log" | head -20 || true
