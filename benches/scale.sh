#!/usr/bin/env bash
# scale.sh: start-up time and memory at scale. Generates, in a temporary
# directory, a zone example.com of --records records (mostly A/AAAA hosts,
# some CNAME, MX, TXT and delegations with glue) in RFC 1035 master format
# and a dnslb config serving it with --services weighted services of four
# address backends each (no health checks, no [admin]). Then measures:
#   dnslb check   wall time and peak RSS (/usr/bin/time -v);
#   dnslb serve   time from exec to its first correct answer, CPU time spent
#                 by then, RSS once serving (VmRSS) and peak RSS;
#   knotd         the same, on the same zone file (Knot has no services),
#                 skipped with "knot: not installed" when knotd is missing
#                 and cannot be installed with apt-get;
# then, with a Knot primary serving that zone (pinned to CPU 0), the same
# figures for dnslb and for knotd as its secondaries: from exec to the first
# answer (SOA query, AXFR of the whole zone, checks, build), RSS and peak;
# and for each secondary an IXFR of 10 changes, three times: the primary
# reloads the changed zone file, a NOTIFY is sent to the secondary, and the
# median time from that NOTIFY to the new serial answered is reported.
# "AXFR peak" is the peak RSS by the first answer; "peak MiB" covers the
# IXFRs too.
# Checks a sample of answers from each server with dig, and prints tables.
# The servers run under `taskset -c 1`; the probe runs on CPU 0.
#
# usage: benches/scale.sh [--records N] [--services N] [--port P] [--keep]
#                         [--dnslb PATH]
#   --records N   records in the zone (default 1000000, at least 20)
#   --services N  [[service]] entries (default 10000)
#   --port P      dnslb listens on 127.0.0.1:P, knotd on P+1, the primary
#                 on P+2 (default 15390)
#   --keep        keep the temporary directory (zone, configs, logs)
#   --dnslb PATH  the binary (default target/release/dnslb; build it first
#                 with `cargo build --release`)
set -euo pipefail
# shellcheck source=benches/lib.sh
source "$(dirname "$0")/lib.sh"

records=1000000 services=10000 port=15390
while [ $# -gt 0 ]; do
    case "$1" in
        --records) records=$2; shift 2 ;;
        --services) services=$2; shift 2 ;;
        --port) port=$2; shift 2 ;;
        --keep) keep_work=1; shift ;;
        --dnslb) dnslb=$2; shift 2 ;;
        -h|--help) usage_from_header; exit 0 ;;
        *) fail 2 "unknown option $1" ;;
    esac
done
need_numbers "$records" "$services" "$port"
[ "$records" -ge 20 ] || fail 2 "--records must be at least 20"
if [ "$port" -lt 1 ] || [ "$port" -gt 65534 ]; then
    fail 2 "--port out of range"
fi
need_binary binary "$dnslb" "cargo build --release"
need_tools taskset python3 dig pgrep
[ -x /usr/bin/time ] || fail 2 "/usr/bin/time is missing (apt-get install time)"
knot_port=$((port + 1))
primary_port=$((port + 2))
ticks=$(getconf CLK_TCK)
# The interpreter itself, not a version manager's shim that adds 100+ ms to
# every start (the probe's start is inside the time measured).
python=$(python3 -c 'import sys; print(sys.executable)')

server_pid="" time_pid="" primary_pid=""
# The server runs under /usr/bin/time, which reports once it ends: stop the
# server itself, then wait for time.
on_cleanup() {
    if [ -n "$primary_pid" ]; then
        kill -TERM "$primary_pid" 2>/dev/null || true
        wait "$primary_pid" 2>/dev/null || true
    fi
    if [ -z "$server_pid" ] && [ -n "$time_pid" ]; then
        server_pid=$(pgrep -P "$time_pid" || true)
    fi
    if [ -n "$server_pid" ]; then
        kill -TERM "$server_pid" 2>/dev/null || true
    fi
    if [ -n "$time_pid" ]; then
        wait "$time_pid" 2>/dev/null || true
    fi
}
make_work "${TMPDIR:-/tmp}/dnslb-scale.XXXXXX"

# --- the zone ---------------------------------------------------------------
# Host hN gets an A record (10.x.y.z from N); every 3rd also an AAAA, every
# 20th a TXT, every 50th an MX; every 10th has an alias cN CNAME hN; every
# 10,000th N adds a delegation dN with two NS and their glue. Exactly
# --records records in all, the apex's eight included.
zone="$work/example.com.zone"
awk -v n="$records" '
    function emit(line) { print line; count++ }
    BEGIN {
        print "$ORIGIN example.com."
        print "$TTL 3600"
        emit("@ IN SOA ns1 hostmaster 2026010101 7200 900 1209600 300")
        emit("@ NS ns1")
        emit("@ NS ns2")
        emit("@ MX 10 mail")
        emit("@ TXT \"v=spf1 mx -all\"")
        emit("ns1 A 192.0.2.53")
        emit("ns2 A 198.51.100.53")
        emit("mail A 192.0.2.25")
        for (i = 1; count < n; i++) {
            emit(sprintf("h%d A 10.%d.%d.%d", i, int(i / 65536) % 256, int(i / 256) % 256, i % 256))
            if (i % 3 == 0 && count < n)
                emit(sprintf("h%d AAAA 2001:db8::%x:%x", i, int(i / 65536), i % 65536))
            if (i % 10 == 0 && count < n)
                emit(sprintf("c%d CNAME h%d", i, i))
            if (i % 20 == 0 && count < n)
                emit(sprintf("h%d TXT \"site-verification=%d\"", i, i))
            if (i % 50 == 0 && count < n)
                emit(sprintf("h%d MX 10 mail", i))
            if (i % 10000 == 0 && count + 4 <= n) {
                emit(sprintf("d%d NS ns1.d%d", i, i))
                emit(sprintf("d%d NS ns2.d%d", i, i))
                emit(sprintf("ns1.d%d A 192.0.2.%d", i, (i / 10000) % 256))
                emit(sprintf("ns2.d%d AAAA 2001:db8:d::%x", i, i / 10000))
            }
        }
    }' >"$zone"

# --- the dnslb config -------------------------------------------------------
# Services sN.example.com: no static record is named s*, so none collides.
config="$work/dnslb.toml"
{
    printf '[server]\nlisten = ["127.0.0.1:%d"]\nworkers = 1\n\n' "$port"
    printf '[[zone]]\nname = "example.com"\nfile = "%s"\n' "$zone"
    awk -v n="$services" 'BEGIN {
        for (j = 1; j <= n; j++) {
            printf "\n[[service]]\nname = \"s%d.example.com\"\npolicy = \"weighted\"\nanswers = 2\nbackends = [\n", j
            for (k = 1; k <= 4; k++)
                printf "  { address = \"100.%d.%d.%d\", weight = %d },\n", 64 + k, int(j / 256) % 256, j % 256, 10 * k
            print "]"
        }
    }'
} >"$config"

mix=$(awk 'NR > 2 { count[$2 == "IN" ? $3 : $2]++ }
    END { for (type in count) printf "%s %d, ", type, count[type] }' "$zone")
echo "zone: $records records (${mix%, }), $(wc -c <"$zone") bytes"
echo "config: $services services, $(wc -c <"$config") bytes"
echo "machine: $(machine_description); dnslb: $dnslb"

# --- helpers ----------------------------------------------------------------

# Fails unless nothing is bound to 127.0.0.1:$1 over UDP or TCP.
port_free() {
    "$python" - "$1" <<'EOF'
import socket, sys
port = int(sys.argv[1])
for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
    s = socket.socket(socket.AF_INET, kind)
    try:
        s.bind(("127.0.0.1", port))
    except OSError as error:
        sys.exit(f"scale.sh: 127.0.0.1:{port} is in use ({error})")
    finally:
        s.close()
EOF
}

# Queries 127.0.0.1:$1 for h1.example.com A every 10 ms (50 ms timeout per
# try) until an answer with NOERROR and an A record arrives, then prints the
# wall-clock time it arrived. Gives up if process $2 ends (or is a zombie) or
# after 20 minutes.
probe_first_answer() {
    taskset -c "$load_cpu" "$python" - "$1" "$2" <<'EOF'
import socket, struct, sys, time
port, pid = int(sys.argv[1]), int(sys.argv[2])
question = b"".join(bytes([len(label)]) + label for label in (b"h1", b"example", b"com")) + b"\0"
question += struct.pack("!HH", 1, 1)
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.settimeout(0.05)
deadline = time.time() + 1200
query_id = 0
while time.time() < deadline:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            state = stat.read().rsplit(") ", 1)[1][0]
    except OSError:
        state = "X"
    if state in "ZX":
        sys.exit(f"scale.sh: server process {pid} ended before answering")
    query_id = (query_id + 1) & 0xFFFF
    try:
        sock.sendto(struct.pack("!HHHHHH", query_id, 0, 1, 0, 0, 0) + question, ("127.0.0.1", port))
        while True:
            reply = sock.recv(4096)
            if len(reply) >= 12 and struct.unpack("!H", reply[:2])[0] == query_id:
                break
    except OSError:  # timeout, or ICMP port unreachable before the bind
        time.sleep(0.01)
        continue
    flags, _, answers = struct.unpack("!HHH", reply[2:8])
    if flags & 0x8000 and flags & 0xF == 0 and answers > 0:
        print(f"{time.time():.6f}")
        sys.exit(0)
    time.sleep(0.01)
sys.exit("scale.sh: no answer within 20 minutes")
EOF
}

# Field $2 (kB) of /proc/$1/status, in MiB.
status_mib() {
    awk -v key="$2:" '$1 == key { printf "%.0f", $2 / 1024 }' "/proc/$1/status"
}

# CPU seconds (user + system, all threads) process $1 has used.
cpu_seconds() {
    sed 's/.*) //' "/proc/$1/stat" | awk -v hz="$ticks" '{ printf "%.2f", ($12 + $13) / hz }'
}

# Wall seconds and peak RSS (MiB) from a `/usr/bin/time -v` report.
time_wall() {
    awk -F': ' '/Elapsed \(wall clock\)/ {
        n = split($2, part, ":"); s = 0
        for (i = 1; i <= n; i++) s = s * 60 + part[i]
        printf "%.2f", s }' "$1"
}
time_peak_mib() {
    awk -F': ' '/Maximum resident set size/ { printf "%.0f", $2 / 1024 }' "$1"
}

failures=0
# Asks 127.0.0.1:$1 for $2 $3 and compares the sorted `dig +short` lines with
# $4 (lines separated by "|"); with $4 = "one of:A|B|...", every line must be
# one of those. Skipped when the zone file lacks the line $5 (a prefix).
verify() {
    local server_port=$1 qname=$2 qtype=$3 expected=$4 needs=${5:-}
    if [ -n "$needs" ] && ! grep -q "^$needs" "$zone"; then
        return
    fi
    local got verdict=ok
    got=$(dig +short +time=2 +tries=1 -p "$server_port" @127.0.0.1 "$qname" "$qtype" 2>&1 | sort | paste -sd'|' -) || true
    if [[ "$expected" == "one of:"* ]]; then
        local allowed="|${expected#one of:}|" line lines
        [ -n "$got" ] || verdict=FAIL
        IFS='|' read -ra lines <<<"$got"
        for line in "${lines[@]}"; do
            [[ "$allowed" == *"|$line|"* ]] || verdict=FAIL
        done
    elif [ "$got" != "$expected" ]; then
        verdict=FAIL
    fi
    [ "$verdict" = ok ] || failures=$((failures + 1))
    printf '    %-24s %-5s %-4s %s\n' "$qname" "$qtype" "$verdict" "${got:-(nothing)}"
}

# Asks 127.0.0.1:$1 for www.$2 A and checks the reply is a referral to $2:
# its NS records, ns1.$2 and ns2.$2, in the authority section.
verify_referral() {
    local server_port=$1 cut=$2 got verdict=ok
    grep -q "^${cut%%.*} NS" "$zone" || return 0
    got=$(dig +norec +noall +authority +time=2 +tries=1 -p "$server_port" @127.0.0.1 "www.$cut" A 2>&1 |
        awk '$4 == "NS" { print $5 }' | sort | paste -sd'|' -) || true
    [ "$got" = "ns1.$cut.|ns2.$cut." ] || { verdict=FAIL; failures=$((failures + 1)); }
    printf '    %-24s %-5s %-4s %s\n' "www.$cut" "A" "$verdict" "referral: ${got:-(nothing)}"
}

# Checks the static sample every server must answer alike.
verify_static() {
    verify "$1" h1.example.com A "10.0.0.1"
    verify "$1" h3.example.com AAAA "2001:db8::3" "h3 AAAA"
    verify "$1" c10.example.com CNAME "h10.example.com." "c10 CNAME"
    verify "$1" c10.example.com A "10.0.0.10|h10.example.com." "c10 CNAME"
    verify "$1" h20.example.com TXT '"site-verification=20"' "h20 TXT"
    verify "$1" h50.example.com MX "10 mail.example.com." "h50 MX"
    verify "$1" example.com NS "ns1.example.com.|ns2.example.com."
    verify "$1" nonexistent.example.com A ""
    verify_referral "$1" d10000.example.com
}

# Runs "$@" pinned to the server CPU under /usr/bin/time -v, waits for its first
# answer on port $1 (shifted off), samples it, stops it with SIGTERM and sets
# first_answer, first_cpu, rss_mib, first_peak_mib (the peak RSS by the
# first answer), peak_mib (over the whole run).
measure_server() {
    local server_port=$1 label=$2
    shift 2
    port_free "$server_port"
    local started answered
    started=$(date +%s.%N)
    taskset -c "$server_cpu" /usr/bin/time -v -o "$work/$label.time" "$@" >"$work/$label.log" 2>&1 &
    time_pid=$!
    # /usr/bin/time lives as long as the server it started.
    if ! answered=$(probe_first_answer "$server_port" "$time_pid"); then
        echo "scale.sh: $label did not answer; its log:" >&2
        tail -20 "$work/$label.log" >&2
        exit 1
    fi
    server_pid=$(pgrep -P "$time_pid")
    first_cpu=$(cpu_seconds "$server_pid")
    first_answer=$(awk -v a="$answered" -v s="$started" 'BEGIN { printf "%.2f", a - s }')
    echo "  $label: first answer after ${first_answer}s (${first_cpu} CPU s); sample:"
    verify_static "$server_port"
    if [ "$label" = dnslb ] && [ "$services" -ge 1 ]; then
        verify "$server_port" s1.example.com A "one of:100.65.0.1|100.66.0.1|100.67.0.1|100.68.0.1"
    fi
    rss_mib=$(status_mib "$server_pid" VmRSS)
    first_peak_mib=$(status_mib "$server_pid" VmHWM)
    # A caller's step while the server runs (the IXFR rounds).
    if [ -n "${while_serving:-}" ]; then
        "$while_serving" "$server_port"
    fi
    kill -TERM "$server_pid"
    wait "$time_pid" || true
    server_pid="" time_pid=""
    peak_mib=$(time_peak_mib "$work/$label.time")
}

# --- dnslb ------------------------------------------------------------------
echo "dnslb check:"
if ! taskset -c "$server_cpu" /usr/bin/time -v -o "$work/check.time" "$dnslb" check "$config" >"$work/check.log" 2>&1; then
    echo "scale.sh: dnslb check failed:" >&2
    head -20 "$work/check.log" >&2
    exit 1
fi
sed 's/^/  /' "$work/check.log"
check_wall=$(time_wall "$work/check.time")
check_peak=$(time_peak_mib "$work/check.time")

echo "dnslb serve:"
measure_server "$port" dnslb "$dnslb" serve --config "$config"
rows=("$(printf '%-6s %9s %9s %8s %10s %15s %8s %8s %9s' dnslb "$records" "$services" \
    "$check_wall" "$check_peak" "$first_answer" "$first_cpu" "$rss_mib" "$peak_mib")")

# --- Knot DNS ---------------------------------------------------------------
knotd=$(command -v knotd || true)
[ -n "$knotd" ] || [ ! -x /usr/sbin/knotd ] || knotd=/usr/sbin/knotd
if [ -z "$knotd" ] && command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    echo "knotd missing: apt-get install -y knot"
    if DEBIAN_FRONTEND=noninteractive apt-get install -y knot >"$work/apt.log" 2>&1; then
        knotd=$(command -v knotd || true)
        [ -n "$knotd" ] || [ ! -x /usr/sbin/knotd ] || knotd=/usr/sbin/knotd
    fi
fi
if [ -z "$knotd" ]; then
    echo "knot: not installed"
else
    mkdir -p "$work/knot/run" "$work/knot/db"
    cat >"$work/knot.conf" <<EOF
server:
    rundir: "$work/knot/run"
    listen: 127.0.0.1@$knot_port
    udp-workers: 1
    tcp-workers: 1
    background-workers: 1

control:
    listen: "$work/knot/run/knot.sock"

database:
    storage: "$work/knot/db"

log:
  - target: stderr
    any: info

template:
  - id: default
    storage: "$work"
    zonefile-load: whole
    zonefile-sync: -1
    journal-content: none

zone:
  - domain: example.com
    file: "$zone"
EOF
    echo "knot ($("$knotd" --version | head -1)):"
    measure_server "$knot_port" knot "$knotd" -c "$work/knot.conf"
    rows+=("$(printf '%-6s %9s %9s %8s %10s %15s %8s %8s %9s' knot "$records" - - - \
        "$first_answer" "$first_cpu" "$rss_mib" "$peak_mib")")
fi

# --- as secondaries of a Knot primary ------------------------------------------
secondary_rows=()
# Sends a NOTIFY for example.com to 127.0.0.1:$1 and polls its SOA until it
# has serial $2; prints the seconds from the NOTIFY to that answer.
notify_until_serial() {
    taskset -c "$load_cpu" "$python" - "$1" "$2" <<'EOF'
import socket, struct, sys, time
port, wanted = int(sys.argv[1]), int(sys.argv[2])
name = b"".join(bytes([len(label)]) + label for label in (b"example", b"com")) + b"\0"
def message(query_id, opcode):
    flags = (opcode << 11) | (0x0400 if opcode == 4 else 0)
    return struct.pack("!HHHHHH", query_id, flags, 1, 0, 0, 0) + name + struct.pack("!HH", 6, 1)
def serial(reply):
    # Header and question, then the answer's SOA: owner, type, class, TTL,
    # length, mname and rname (labels ending in a zero or a pointer), serial.
    at = 12 + len(name) + 4
    if len(reply) < at + 12 or struct.unpack("!H", reply[6:8])[0] == 0:
        return None
    at += 2 if reply[at] & 0xC0 else len(name)
    at += 10
    for _ in range(2):
        while reply[at] != 0 and reply[at] & 0xC0 == 0:
            at += reply[at] + 1
        at += 2 if reply[at] & 0xC0 else 1
    return struct.unpack("!I", reply[at:at + 4])[0]
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.settimeout(0.05)
started = time.time()
sock.sendto(message(0x4E4F, 4), ("127.0.0.1", port))
query_id = 1
while time.time() - started < 600:
    query_id = (query_id + 1) & 0x7FFF
    try:
        sock.sendto(message(query_id, 0), ("127.0.0.1", port))
        while True:
            reply = sock.recv(4096)
            if struct.unpack("!H", reply[:2])[0] == query_id:
                break
    except OSError:
        continue
    if serial(reply) == wanted:
        print(f"{time.time() - started:.3f}")
        sys.exit(0)
    time.sleep(0.002)
sys.exit("scale.sh: the new serial was not answered within 10 minutes")
EOF
}

# The zone file with serial $1 and the addresses of h1..h10 changed: an IXFR
# of 10 changes (each a deletion and an addition) besides the SOA.
changed_zone() {
    awk -v serial="$1" '
        $2 == "IN" && $3 == "SOA" { sub(/2026010101/, serial) }
        $1 ~ /^h([1-9]|10)$/ && $2 == "A" { $3 = "10.200." serial % 256 "." substr($1, 2) }
        { print }' "$zone"
}

# Runs the 10-change IXFR three times against the secondary on port $1;
# sets ixfr_median (seconds from NOTIFY to the new serial answered).
ixfr_rounds() {
    local server_port=$1 round times=()
    for round in 1 2 3; do
        local serial=$((2026010101 + round))
        changed_zone "$serial" >"$work/primary/example.com.zone.new"
        mv "$work/primary/example.com.zone.new" "$work/primary/example.com.zone"
        "$knotc" -s "$work/primary/run/knot.sock" -b -t 600 zone-reload example.com >/dev/null
        # The primary serves the new serial: only then the NOTIFY.
        until [ "$(dig +short +time=1 +tries=1 -p "$primary_port" @127.0.0.1 example.com SOA | awk '{ print $3 }')" = "$serial" ]; do
            sleep 0.05
        done
        times+=("$(notify_until_serial "$server_port" "$serial")")
        echo "    IXFR round $round: NOTIFY to serial $serial answered in ${times[-1]}s"
    done
    ixfr_median=$(printf '%s\n' "${times[@]}" | sort -g | sed -n 2p)
}

# Starts the Knot primary on the zone as generated (serial 2026010101),
# with a fresh journal.
start_primary() {
    rm -rf "$work/primary"
    mkdir -p "$work/primary/run" "$work/primary/db"
    cp "$zone" "$work/primary/example.com.zone"
    port_free "$primary_port"
    taskset -c "$load_cpu" "$knotd" -c "$work/primary.conf" >"$work/primary.log" 2>&1 &
    primary_pid=$!
    until [ "$(dig +short +time=1 +tries=1 -p "$primary_port" @127.0.0.1 example.com SOA | awk '{ print $3 }')" = 2026010101 ]; do
        kill -0 "$primary_pid" 2>/dev/null || { tail -20 "$work/primary.log" >&2; fail 1 "the Knot primary did not start"; }
        sleep 0.2
    done
}

stop_primary() {
    kill -TERM "$primary_pid"
    wait "$primary_pid" 2>/dev/null || true
    primary_pid=""
}

if [ -n "$knotd" ]; then
    knotc=$(command -v knotc || echo /usr/sbin/knotc)
    cat >"$work/primary.conf" <<EOF
server:
    rundir: "$work/primary/run"
    listen: 127.0.0.1@$primary_port
    background-workers: 1
control:
    listen: "$work/primary/run/knot.sock"
database:
    storage: "$work/primary/db"
log:
  - target: stderr
    any: info
acl:
  - id: local
    address: 127.0.0.1
    action: transfer
template:
  - id: default
    storage: "$work/primary"
    zonefile-load: difference
    zonefile-sync: -1
    journal-content: changes
    acl: local
zone:
  - domain: example.com
    file: "$work/primary/example.com.zone"
EOF
    start_primary
    echo "primary: knotd on 127.0.0.1:$primary_port (CPU $load_cpu) serves the zone"

    secondary_config="$work/dnslb-secondary.toml"
    sed "s|^file = \"$zone\"|primaries = [\"127.0.0.1:$primary_port\"]\nretry_min = \"1s\"|" "$config" >"$secondary_config"
    echo "dnslb secondary:"
    while_serving=ixfr_rounds measure_server "$port" dnslb-secondary "$dnslb" serve --config "$secondary_config"
    secondary_rows+=("$(printf '%-9s %15s %8s %8s %10s %10s %17s' dnslb "$first_answer" "$first_cpu" "$rss_mib" "$first_peak_mib" "$peak_mib" "$ixfr_median")")
    stop_primary

    start_primary
    mkdir -p "$work/knot2/run" "$work/knot2/db"
    cat >"$work/knot2.conf" <<EOF
server:
    rundir: "$work/knot2/run"
    listen: 127.0.0.1@$knot_port
    udp-workers: 1
    tcp-workers: 1
    background-workers: 1
control:
    listen: "$work/knot2/run/knot.sock"
database:
    storage: "$work/knot2/db"
log:
  - target: stderr
    any: info
remote:
  - id: primary
    address: 127.0.0.1@$primary_port
acl:
  - id: notify
    address: 127.0.0.1
    action: notify
template:
  - id: default
    storage: "$work/knot2"
    zonefile-sync: -1
    journal-content: changes
zone:
  - domain: example.com
    master: primary
    acl: notify
EOF
    echo "knot secondary:"
    while_serving=ixfr_rounds measure_server "$knot_port" knot-secondary "$knotd" -c "$work/knot2.conf"
    secondary_rows+=("$(printf '%-9s %15s %8s %8s %10s %10s %17s' knot "$first_answer" "$first_cpu" "$rss_mib" "$first_peak_mib" "$peak_mib" "$ixfr_median")")
    stop_primary
fi

echo
printf '%-6s %9s %9s %8s %10s %15s %8s %8s %9s\n' server records services "check s" "check MiB" \
    "first answer s" "CPU s" "RSS MiB" "peak MiB"
printf '%s\n' "${rows[@]}"
if [ "${#secondary_rows[@]}" -gt 0 ]; then
    echo
    echo "as secondaries of a Knot primary ($records records by AXFR, then IXFRs of 10 changes):"
    printf '%-9s %15s %8s %8s %10s %10s %17s\n' secondary "first answer s" "CPU s" "RSS MiB" "AXFR peak" "peak MiB" "NOTIFY->serial s"
    printf '%s\n' "${secondary_rows[@]}"
fi
if [ "$failures" -gt 0 ]; then
    echo "scale.sh: $failures sample answers were wrong" >&2
    exit 1
fi
