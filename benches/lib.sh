# shellcheck shell=bash
# lib.sh: what the benchmark scripts of benches/ share. Each of them sources
# it (`source "$(dirname "$0")/lib.sh"`) right after `set -euo pipefail`; it
# is not a script of its own.
#
# Sourcing it sets:
#   script       the sourcing script's name, for messages ("flip.sh: ...")
#   root         the repository root
#   dnslb        target/release/dnslb
#   loadgen      target/release/dnslb-loadgen
#   server_cpu   1, the CPU the server under test is pinned to
#   load_cpu     0, the CPU the generator is pinned to
# (the scripts' options override them), and offers, in order below: messages
# and checks, building, the work directory and the processes stopped on exit,
# starting dnslb and the reflector, waiting for the admin port, the standard
# config, reading /metrics and dnslb-loadgen reports, medians, and the
# machine's description.

script=$(basename "$0")
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dnslb="$root/target/release/dnslb"
loadgen="$root/target/release/dnslb-loadgen"
# The method of ../shared/BENCHMARKING.md: on a 2-core machine the server
# under test gets CPU 1 and the load CPU 0, so neither takes the other's time.
# shellcheck disable=SC2034 # read by the scripts that source this file
server_cpu=1
load_cpu=0

# --- messages and checks ----------------------------------------------------

# Prints "SCRIPT: MESSAGE" on stderr and exits with STATUS.
fail() { # STATUS MESSAGE
    echo "$script: $2" >&2
    exit "$1"
}

# Prints the script's opening comment block (its usage text) without the
# comment marks.
usage_from_header() {
    awk 'NR == 1 { next } /^#/ { sub(/^# ?/, ""); print; next } { exit }' "$0"
}

# Exits (status 2) unless every argument is a decimal number.
need_numbers() { # VALUE...
    local number
    for number in "$@"; do
        [[ "$number" =~ ^[0-9]+$ ]] || fail 2 "$number is not a number"
    done
}

# Exits (status 2) unless every named command is installed.
need_tools() { # TOOL...
    local tool
    for tool in "$@"; do
        command -v "$tool" >/dev/null || fail 2 "$tool is missing"
    done
}

# Exits (status 2) unless PATH is an executable; HINT says how to build it.
need_binary() { # WHAT PATH HINT
    [ -x "$2" ] || fail 2 "no $1 at $2 ($3)"
}

# --- building -----------------------------------------------------------------

# Builds dnslb and dnslb-loadgen, optimized.
build_binaries() {
    cargo build --release --quiet --manifest-path "$root/Cargo.toml" --bins
}

# --- the work directory and what is stopped on exit ---------------------------

# Processes this script started, stopped (SIGTERM, then waited for) on exit,
# in the order they were started.
bench_pids=()
# With 1, the work directory is kept on exit (and its path printed).
keep_work=0
work=""

# Adds PID to the processes stopped on exit.
track() { # PID
    bench_pids+=("$1")
}

# Stops what the script started and removes the work directory. A script
# that must stop something in its own way first defines `on_cleanup`.
bench_cleanup() {
    local pid
    if declare -F on_cleanup >/dev/null; then
        on_cleanup || true
    fi
    for pid in ${bench_pids[@]+"${bench_pids[@]}"}; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in ${bench_pids[@]+"${bench_pids[@]}"}; do
        wait "$pid" 2>/dev/null || true
    done
    if [ -n "$work" ]; then
        if [ "$keep_work" = 1 ]; then
            echo "kept $work"
        else
            rm -rf "$work"
        fi
    fi
}

# Creates the temporary work directory `work` (from mktemp's TEMPLATE when
# given) and sets the exit trap that cleans up.
# shellcheck disable=SC2120 # TEMPLATE is optional
make_work() { # [TEMPLATE]
    work=$(mktemp -d ${1:+"$1"})
    trap bench_cleanup EXIT
}

# --- starting the servers -----------------------------------------------------

# Starts `dnslb serve --config CONFIG` pinned to CPU, its stderr in LOG;
# sets started_pid and stops it on exit.
start_dnslb() { # CPU CONFIG LOG
    taskset -c "$1" "$dnslb" serve --config "$2" 2>"$3" &
    started_pid=$!
    track "$started_pid"
}

# Starts `dnslb-loadgen reflect` (the UDP ceiling) on ADDRESS pinned to CPU;
# sets started_pid and stops it on exit.
start_reflector() { # CPU ADDRESS
    taskset -c "$1" "$loadgen" reflect --listen "$2" >/dev/null &
    started_pid=$!
    track "$started_pid"
}

# Waits until the admin API on 127.0.0.1:PORT answers /status, trying TRIES
# times 0.1 s apart; fails (status 1) if it never does.
wait_for_admin() { # PORT TRIES
    for _ in $(seq "$2"); do
        curl -sf "127.0.0.1:$1/status" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    return 1
}

# --- the standard config --------------------------------------------------------

# Copies the repository's example zone into DIRECTORY.
copy_example_zone() { # DIRECTORY
    cp "$root/zones/example.com.zone" "$1/"
}

# Writes the start of a benchmark config to FILE: one worker pinned to CPU
# listening on 127.0.0.1:PORT, the admin API on 127.0.0.1:ADMIN_PORT when
# given, and the zone example.com from example.com.zone beside FILE. The
# script appends its services.
write_config_head() { # FILE PORT CPU [ADMIN_PORT]
    {
        printf '[server]\nlisten = ["127.0.0.1:%s"]\nworkers = 1\ncpus = [%s]\n\n' "$2" "$3"
        if [ -n "${4:-}" ]; then
            printf '[admin]\nlisten = "127.0.0.1:%s"\n\n' "$4"
        fi
        printf '[[zone]]\nname = "example.com"\nfile = "example.com.zone"\n'
    } >"$1"
}

# --- reading results ------------------------------------------------------------

# Prints the value of the metric NAME (labels included, as /metrics spells
# them) from the admin API on 127.0.0.1:PORT.
metric() { # PORT NAME
    curl -sf "127.0.0.1:$1/metrics" | awk -v name="$2" '$1 == name { print $2 }'
}

# Prints the qps of a closed-loop run of 5 s from the load CPU with ARGS
# (`dnslb-loadgen run ARGS`).
closed_loop_qps() { # ARGS...
    taskset -c "$load_cpu" "$loadgen" run "$@" --duration 5s --json | jq '.qps'
}

# Prints FRACTION of QPS, rounded down to a whole rate.
fraction_of() { # QPS FRACTION
    python3 -c "print(int($1 * $2))"
}

# Reads numbers, one a line, and prints their median, lowest and highest,
# each in the printf FORMAT (the median of an even count is the mean of the
# middle two).
summary() { # FORMAT
    awk -v format="$1" '
        { value[n++] = $1 + 0 }
        END {
            if (n == 0) exit 1
            for (i = 1; i < n; i++)
                for (j = i; j > 0 && value[j - 1] > value[j]; j--) {
                    t = value[j]; value[j] = value[j - 1]; value[j - 1] = t
                }
            median = n % 2 ? value[(n - 1) / 2] : (value[n / 2 - 1] + value[n / 2]) / 2
            printf format " " format " " format "\n", median, value[0], value[n - 1]
        }'
}

# Prints the median of numbers read one a line, in the printf FORMAT.
median() { # FORMAT
    summary "$1" | cut -d' ' -f1
}

# --- the machine ------------------------------------------------------------------

# Describes this machine in one line: CPUs, their model, the hypervisor, the
# kernel.
machine_description() {
    local model hypervisor kind
    model=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null)
    hypervisor=$(lscpu 2>/dev/null | awk -F': *' '/^Hypervisor vendor/ { print $2 }')
    if [ -n "$hypervisor" ]; then
        kind="a $hypervisor virtual machine"
    else
        kind="no hypervisor detected"
    fi
    printf '%s CPUs (%s), %s, Linux %s\n' "$(nproc)" "${model:-model unknown}" "$kind" "$(uname -r)"
}
