#!/usr/bin/env bash
# End-to-end ingest benchmark: the same MQTT stream into a bare C subscriber (phase A, the
# ceiling of broker + libmosquitto on this machine) and into `zhizao run` (phase B), per QoS,
# on a private mosquitto bound to 127.0.0.1.
#
# Usage: Benchmarks/e2e/run.sh
# Environment knobs:
#   N=500000           messages per phase (each one reading)
#   QOS_LIST="0 1"     publish QoS values to run (the daemon always subscribes at QoS 1, so
#                      delivery is at the publish QoS)
#   SEED=42            flood_pub value seed (same stream in both phases)
#   RATE=0             publish rate in msg/s, 0 = as fast as possible
#   DURATION_S=        soak: publish at RATE for this many seconds (N = RATE * DURATION_S)
#   ZHIZAO_BIN         default ../../.build/release/zhizao relative to this script
#   DEVICES            device registry, default <repo>/Devices
#   BARE_IDLE_S=5      bare subscriber gives up this long after its last message
#   DAEMON_IDLE_S=60   stop waiting when readings_stored has not moved for this long
#   SKIP_BARE=1        daemon phase only (memory soaks; no ratio is reported)
#   LATENCY=1          phase B: publish-to-committed latency via latency_watch.py (needs python3;
#                      LATENCY=0 turns it off)
#   MARK_EVERY=1000    latency sample every this many messages
#   LAT_POLL_MS=2      latency_watch.py poll interval of readings_stored
#   KEEP_TMP=1         keep the temp dir (broker config, logs, databases)
# Writes Benchmarks/out/e2e-<date>.md (the table), plus the RSS CSVs, daemon logs and latency
# samples (TSV) next to it.
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$SCRIPT_DIR/../.." && pwd)
ZHIZAO_BIN=${ZHIZAO_BIN:-$SCRIPT_DIR/../../.build/release/zhizao}
DEVICES=${DEVICES:-$REPO/Devices}
N=${N:-500000}
QOS_LIST=${QOS_LIST:-"0 1"}
SEED=${SEED:-42}
RATE=${RATE:-0}
DURATION_S=${DURATION_S:-}
BARE_IDLE_S=${BARE_IDLE_S:-5}
DAEMON_IDLE_S=${DAEMON_IDLE_S:-60}
LATENCY=${LATENCY:-1}
MARK_EVERY=${MARK_EVERY:-1000}
LAT_POLL_MS=${LAT_POLL_MS:-2}
TOPIC_FILTER='zhizao/v1/ws-assembly/#'

die() { echo "run.sh: $*" >&2; exit 1; }
log() { echo "[$(date +%H:%M:%S)] $*" >&2; }

[[ -x $ZHIZAO_BIN ]] || die "no zhizao binary at $ZHIZAO_BIN (build it, or set ZHIZAO_BIN)"
[[ -d $DEVICES ]] || die "no device registry at $DEVICES"
command -v mosquitto >/dev/null || die "mosquitto (the broker) is not installed"
command -v gcc >/dev/null || die "gcc is not installed"
if [[ -n $DURATION_S ]]; then
    awk -v r="$RATE" 'BEGIN { exit !(r > 0) }' || die "DURATION_S needs RATE > 0 (msg/s)"
    N=$(awk -v r="$RATE" -v d="$DURATION_S" 'BEGIN { printf "%d", r * d }')
fi
[[ $N =~ ^[1-9][0-9]*$ ]] || die "N must be a positive integer (got '$N')"
for q in $QOS_LIST; do [[ $q == 0 || $q == 1 ]] || die "QOS_LIST may hold 0 and 1 only"; done
[[ $MARK_EVERY =~ ^[1-9][0-9]*$ ]] || die "MARK_EVERY must be a positive integer (got '$MARK_EVERY')"
if [[ $LATENCY == 1 ]] && ! command -v python3 >/dev/null; then
    echo "run.sh: python3 not found; no latency figures (LATENCY=0)" >&2
    LATENCY=0
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/zhizao-e2e.XXXXXX")
OUT_DIR=$REPO/Benchmarks/out
mkdir -p "$OUT_DIR"
STAMP=$(date +%Y-%m-%dT%H%M%S)
REPORT=$OUT_DIR/e2e-$STAMP.md

# --- process bookkeeping: everything started is stopped by PID in the trap ---------------
PIDS=()
stop_pid() {  # stop_pid PID [grace_s]: SIGTERM, then SIGKILL after the grace period
    local pid=$1 grace=${2:-3} i
    kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < grace * 10; i++)); do
        kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}
forget() {  # forget PID: drop a reaped process from PIDS (its number may be reused)
    local p keep=()
    for p in "${PIDS[@]}"; do [[ $p == "$1" ]] || keep+=("$p"); done
    PIDS=("${keep[@]}")
}
cleanup() {
    local rc=$? i
    trap - EXIT INT TERM
    for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do stop_pid "${PIDS[i]}" 2; done
    if [[ ${KEEP_TMP:-0} == 1 ]]; then echo "run.sh: kept $WORK" >&2; else rm -rf "$WORK"; fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

wait_for_line() {  # wait_for_line FILE ERE TIMEOUT_S PID: 0 once FILE has a line matching ERE
    local file=$1 re=$2 timeout=$3 pid=$4 i
    for ((i = 0; i < timeout * 10; i++)); do
        grep -Eq "$re" "$file" 2>/dev/null && return 0
        kill -0 "$pid" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}
kv() {  # kv KEY LINE: the value of KEY=value in a log line, or empty
    grep -oE "(^| )$1=[^ ]+" <<<"$2" | head -n1 | sed -E "s/^ ?$1=//" || true
}

# --- build the C tools -----------------------------------------------------------------
BIN=$WORK/bin
mkdir -p "$BIN"
gcc -O2 -Wall -o "$BIN/bare_sub" "$SCRIPT_DIR/bare_sub.c" -lmosquitto
gcc -O2 -Wall -o "$BIN/flood_pub" "$SCRIPT_DIR/flood_pub.c" -lmosquitto

# --- private broker ----------------------------------------------------------------------
free_port() {
    if command -v python3 >/dev/null; then
        python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
        return
    fi
    local p
    while :; do
        p=$((20000 + RANDOM % 40000))
        ss -ltnH "sport = :$p" 2>/dev/null | grep -q . || { echo "$p"; return; }
    done
}
PORT=$(free_port)
{
    echo "listener $PORT 127.0.0.1"
    echo "allow_anonymous true"
    echo "max_queued_messages 0"
    echo "max_queued_bytes 1073741824"
    echo "max_inflight_messages 1000"
    echo "persistence false"
    echo "log_dest stderr"
    echo "log_type error"
    echo "log_type warning"
    echo "log_type notice"
    if [[ $(id -u) == 0 ]]; then echo "user root"; fi
} >"$WORK/mosquitto.conf"
mosquitto -c "$WORK/mosquitto.conf" >"$WORK/mosquitto.log" 2>&1 &
BROKER_PID=$!
PIDS+=("$BROKER_PID")
for ((i = 0; ; i++)); do
    (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break
    kill -0 "$BROKER_PID" 2>/dev/null || { cat "$WORK/mosquitto.log" >&2; die "mosquitto did not start"; }
    ((i < 100)) || die "mosquitto is not listening on 127.0.0.1:$PORT after 10 s"
    sleep 0.1
done
BROKER_VERSION=$(mosquitto -h 2>/dev/null | head -n1 || true)
log "broker: $BROKER_VERSION on 127.0.0.1:$PORT (pid $BROKER_PID)"
log "stream: N=$N seed=$SEED rate=${RATE} msg/s${DURATION_S:+ (soak ${DURATION_S} s)}"

readings_stored() {  # readings_stored DB: readings_stored from `zhizao status`, or 0
    local json
    json=$("$ZHIZAO_BIN" status --db "$1" --format json 2>/dev/null) || { echo 0; return; }
    grep -oE '"readings_stored" *: *[0-9]+' <<<"$json" | grep -oE '[0-9]+$' || echo 0
}

declare -A R  # results: R[<qos>,<key>]
CLK_TCK=$(getconf CLK_TCK)
broker_ticks() { awk '{ print $14 + $15 }' "/proc/$BROKER_PID/stat"; }  # utime + stime
per_msg_us() {  # per_msg_us TICKS_BEFORE TICKS_AFTER: broker CPU µs per message of the stream
    awk -v a="$1" -v b="$2" -v hz="$CLK_TCK" -v n="$N" 'BEGIN { printf "%.2f", (b - a) / hz * 1e6 / n }'
}

for QOS in $QOS_LIST; do
    # --- phase A: bare subscriber ---------------------------------------------------------
    if [[ -z ${SKIP_BARE:-} ]]; then
    log "QoS $QOS phase A: bare_sub + flood_pub"
    "$BIN/bare_sub" "$PORT" "$TOPIC_FILTER" "$QOS" "$N" "$BARE_IDLE_S" \
        >"$WORK/bare-q$QOS.out" 2>"$WORK/bare-q$QOS.err" &
    BARE_PID=$!
    PIDS+=("$BARE_PID")
    wait_for_line "$WORK/bare-q$QOS.err" '^SUBSCRIBED' 10 "$BARE_PID" \
        || { cat "$WORK/bare-q$QOS.err" >&2; die "bare_sub did not subscribe"; }
    ticks0=$(broker_ticks)
    MARKS_FILE= "$BIN/flood_pub" "$PORT" "$QOS" "$N" "$RATE" "$SEED" >"$WORK/pubA-q$QOS.out" 2>"$WORK/pubA-q$QOS.err" \
        || { cat "$WORK/pubA-q$QOS.err" >&2; die "flood_pub failed (phase A, QoS $QOS)"; }
    wait "$BARE_PID" || log "bare_sub exited with status $? (see below)"
    R[$QOS,brokerA]=$(per_msg_us "$ticks0" "$(broker_ticks)")
    forget "$BARE_PID"
    grep -v '^SUBSCRIBED' "$WORK/bare-q$QOS.err" >&2 || true
    BARE_LINE=$(grep '^BARE ' "$WORK/bare-q$QOS.out" || true)
    PUB_A=$(grep '^PUB ' "$WORK/pubA-q$QOS.out" || true)
    log "  $PUB_A"
    log "  $BARE_LINE"
    R[$QOS,pubA]=$(kv msgs_per_s "$PUB_A")
    R[$QOS,bare_n]=$(kv messages "$BARE_LINE")
    R[$QOS,bare_rate]=$(kv msgs_per_s "$BARE_LINE")
    R[$QOS,bare_cpu_us]=$(kv cpu_us_per_msg "$BARE_LINE")
    else
        for k in pubA bare_n bare_rate bare_cpu_us brokerA; do R[$QOS,$k]=""; done
        R[$QOS,bare_n]=$N
    fi

    # --- phase B: the daemon --------------------------------------------------------------
    log "QoS $QOS phase B: zhizao run + flood_pub"
    DB=$WORK/zhizao-q$QOS.sqlite
    DLOG=$WORK/daemon-q$QOS.log
    RSS_CSV=$OUT_DIR/e2e-$STAMP-rss-q$QOS.csv
    "$ZHIZAO_BIN" run --broker "mqtt://127.0.0.1:$PORT" --db "$DB" --devices "$DEVICES" \
        --client-id "bench-$QOS" >"$WORK/daemon-q$QOS.out" 2>"$DLOG" &
    DAEMON_PID=$!
    PIDS+=("$DAEMON_PID")
    wait_for_line "$DLOG" '(^|[] ])subscribed( |$)' 30 "$DAEMON_PID" \
        || { cat "$DLOG" >&2; die "the daemon did not log 'subscribed' within 30 s"; }

    (   # RSS sampler: one row per second until the daemon is gone or this subshell is stopped
        t0=$(date +%s.%N)
        echo "elapsed_s,vmrss_kb"
        while rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$DAEMON_PID/status" 2>/dev/null) && [[ -n $rss ]]; do
            printf '%.1f,%s\n' "$(awk -v a="$(date +%s.%N)" -v b="$t0" 'BEGIN { print a - b }')" "$rss"
            sleep 1
        done
    ) >"$RSS_CSV" &
    SAMPLER_PID=$!
    PIDS+=("$SAMPLER_PID")

    # Latency watcher: polls readings_stored read-only and joins with flood_pub's marks.
    MARKS=$WORK/marks-q$QOS.txt
    WATCH_PID=
    if [[ $LATENCY == 1 ]]; then
        python3 "$SCRIPT_DIR/latency_watch.py" --db "$DB" --marks "$MARKS" --n "$N" --every "$MARK_EVERY" \
            --interval-ms "$LAT_POLL_MS" --idle-s "$DAEMON_IDLE_S" --pid "$DAEMON_PID" \
            --out "$OUT_DIR/e2e-$STAMP-latency-q$QOS.tsv" >"$WORK/latency-q$QOS.out" 2>"$WORK/latency-q$QOS.err" &
        WATCH_PID=$!
        PIDS+=("$WATCH_PID")
        wait_for_line "$WORK/latency-q$QOS.err" '^WATCHING' 30 "$WATCH_PID" \
            || { cat "$WORK/latency-q$QOS.err" >&2; die "latency_watch.py did not start polling within 30 s"; }
    fi

    ticks0=$(broker_ticks)
    MARKS_FILE=$([[ $LATENCY == 1 ]] && echo "$MARKS" || true) MARK_EVERY=$MARK_EVERY \
        "$BIN/flood_pub" "$PORT" "$QOS" "$N" "$RATE" "$SEED" >"$WORK/pubB-q$QOS.out" 2>"$WORK/pubB-q$QOS.err" \
        || { cat "$WORK/pubB-q$QOS.err" >&2; die "flood_pub failed (phase B, QoS $QOS)"; }
    PUB_B=$(grep '^PUB ' "$WORK/pubB-q$QOS.out" || true)
    log "  $PUB_B"
    R[$QOS,pubB]=$(kv msgs_per_s "$PUB_B")

    stored=0 last_change=$SECONDS
    while :; do
        now_stored=$(readings_stored "$DB")
        if ((now_stored != stored)); then stored=$now_stored last_change=$SECONDS; fi
        ((stored >= N)) && break
        if ((SECONDS - last_change >= DAEMON_IDLE_S)); then
            log "  readings_stored stuck at $stored of $N for ${DAEMON_IDLE_S} s; stopping the daemon"
            break
        fi
        kill -0 "$DAEMON_PID" 2>/dev/null || { log "  the daemon exited early"; break; }
        sleep 1
    done
    R[$QOS,stored]=$stored
    R[$QOS,brokerB]=$(per_msg_us "$ticks0" "$(broker_ticks)")
    R[$QOS,lat]=""
    if [[ -n $WATCH_PID ]]; then  # it stops by itself at N (or idle); give it time to join
        for ((i = 0; i < 150; i++)); do kill -0 "$WATCH_PID" 2>/dev/null || break; sleep 0.1; done
        kill -0 "$WATCH_PID" 2>/dev/null && log "  latency_watch.py still running after 15 s; stopping it"
        stop_pid "$WATCH_PID" 1
        forget "$WATCH_PID"
        grep -v '^WATCHING' "$WORK/latency-q$QOS.err" >&2 || true
        R[$QOS,lat]=$(grep '^LATENCY ' "$WORK/latency-q$QOS.out" || true)
        log "  ${R[$QOS,lat]:-no LATENCY line}"
    fi
    sleep 1.2   # one more RSS sample at the end state
    stop_pid "$SAMPLER_PID" 1
    forget "$SAMPLER_PID"

    kill -TERM "$DAEMON_PID" 2>/dev/null || true
    for ((i = 0; i < 300; i++)); do kill -0 "$DAEMON_PID" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$DAEMON_PID" 2>/dev/null; then
        log "  the daemon ignored SIGTERM for 30 s; SIGKILL"
        kill -KILL "$DAEMON_PID" 2>/dev/null || true
    fi
    drc=0
    wait "$DAEMON_PID" || drc=$?
    forget "$DAEMON_PID"
    ((drc == 0)) || log "  the daemon exited with status $drc"
    cp "$DLOG" "$OUT_DIR/e2e-$STAMP-daemon-q$QOS.log"

    STOP_LINE=$(grep 'ingest stopped' "$DLOG" | tail -n1 || true)
    [[ -n $STOP_LINE ]] || { log "  no 'ingest stopped' line; daemon stderr:"; cat "$DLOG" >&2; }
    log "  $STOP_LINE"
    R[$QOS,d_readings]=$(kv readings "$STOP_LINE")
    R[$QOS,d_rate]=$(kv readings_per_s "$STOP_LINE")
    R[$QOS,d_cpu]=$(kv cpu_s "$STOP_LINE")
    R[$QOS,d_maxrss]=$(kv max_rss_kb "$STOP_LINE")
    R[$QOS,d_commits]=$(kv commits "$STOP_LINE")
    R[$QOS,d_quar]=$(kv quarantined "$STOP_LINE")
    R[$QOS,d_dup]=$(kv duplicates "$STOP_LINE")
    read -r "R[$QOS,rss0]" "R[$QOS,rss1]" "R[$QOS,rssmax]" < <(awk -F, 'NR > 1 {
            if (first == "") first = $2; last = $2; if ($2 > max) max = $2 }
        END { print (first == "" ? "-" : first), (last == "" ? "-" : last), (max == "" ? "-" : max) }' "$RSS_CSV")
done

# --- report --------------------------------------------------------------------------------
ratio() { awk -v a="$1" -v b="$2" -v f="$3" 'BEGIN { if (a == "" || b == "" || b + 0 == 0) print "-"; else printf f, a / b }'; }
mb() { awk -v k="$1" 'BEGIN { if (k == "" || k == "-") print "-"; else printf "%.1f", k / 1024 }'; }
num() { [[ -n $1 ]] && printf '%s' "$1" || printf -- '-'; }
lat_cell() { [[ -n $1 ]] && printf '%s / %s / %s' "$(kv p50_ms "$1")" "$(kv p99_ms "$1")" "$(kv max_ms "$1")" || printf -- '-'; }
{
    echo "# Zhizao end-to-end ingest benchmark, $STAMP"
    echo
    echo "- host: $(uname -n), $(nproc) cores, $(uname -sr); $BROKER_VERSION on 127.0.0.1 (persistence off, max_queued_messages 0)"
    echo "- zhizao: $ZHIZAO_BIN (built $(date -r "$ZHIZAO_BIN" +%Y-%m-%dT%H:%M:%S)); repo $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$REPO" diff --quiet 2>/dev/null || echo ' +local changes')"
    echo "- stream: N=$N native JSON messages (1 reading each), seed $SEED, rate $(awk -v r="$RATE" 'BEGIN { if (r > 0) print r " msg/s"; else print "as fast as possible" }')${DURATION_S:+, soak $DURATION_S s}; bare and daemon see the same stream"
    echo "- bare = C libmosquitto subscriber that only counts (MQTT v5, receive max 65535); daemon = \`zhizao run\` (v5, persistent session, ack after commit)"
    echo "- phase A = bare subscriber, phase B = daemon; pub msg/s equal to the consumer's rate means the run was publisher/broker-bound, not consumer-bound"
    if [[ $LATENCY == 1 ]]; then
        echo "- latency (phase B) = black-box publish-to-committed time: for every ${MARK_EVERY}th message, from mosquitto_publish returning in flood_pub to the first poll of the daemon's SQLite (read-only, \`readings_stored\` in \`ingest_counters\`, polled every ~${LAT_POLL_MS} ms by latency_watch.py) that shows it committed; CLOCK_REALTIME on both sides. It includes up to one poll interval (~${LAT_POLL_MS} ms) of polling granularity, and the broker's queue: at full speed the publisher outruns the consumer and the figure is mostly backlog; it is a per-message latency only when paced (RATE). At QoS 1 the publisher may be throttled by in-flight limits (its window of 1000 unacknowledged publishes). Percentiles nearest-rank over N/${MARK_EVERY} samples; the watcher's own CPU is in the notes"
    fi
    echo "- rates are messages (readings) / first-to-last seconds; CPU is user+sys of the whole process (daemon includes start-up and registry load); RSS sampled from /proc every 1 s after 'subscribed'"
    echo
    echo "| QoS | pub msg/s (A / B) | bare msg/s | daemon readings/s | daemon/bare | bare µs CPU/msg | daemon µs CPU/reading | CPU ratio | daemon RSS start / end / max MB | max_rss (getrusage) MB | broker µs CPU/msg (A / B) | stored / N | commits | latency p50 / p99 / max ms |"
    echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
    for QOS in $QOS_LIST; do
        d_us=$(awk -v c="${R[$QOS,d_cpu]}" -v n="${R[$QOS,d_readings]}" 'BEGIN { if (c == "" || n + 0 == 0) print ""; else printf "%.2f", c * 1e6 / n }')
        echo "| $QOS | $(num "${R[$QOS,pubA]}") / $(num "${R[$QOS,pubB]}") | $(num "${R[$QOS,bare_rate]}") | $(num "${R[$QOS,d_rate]}") | $(ratio "${R[$QOS,d_rate]}" "${R[$QOS,bare_rate]}" %.2f) | $(num "${R[$QOS,bare_cpu_us]}") | $(num "$d_us") | $(ratio "$d_us" "${R[$QOS,bare_cpu_us]}" %.1fx) | $(mb "${R[$QOS,rss0]}") / $(mb "${R[$QOS,rss1]}") / $(mb "${R[$QOS,rssmax]}") | $(mb "${R[$QOS,d_maxrss]}") | ${R[$QOS,brokerA]} / ${R[$QOS,brokerB]} | ${R[$QOS,stored]} / $N | $(num "${R[$QOS,d_commits]}") | $(lat_cell "${R[$QOS,lat]}") |"
    done
    echo
    for QOS in $QOS_LIST; do
        notes=()
        [[ ${R[$QOS,bare_n]:-0} == "$N" ]] || notes+=("bare_sub received ${R[$QOS,bare_n]:-0} of $N")
        [[ ${R[$QOS,stored]} == "$N" ]] || notes+=("daemon stored ${R[$QOS,stored]} of $N")
        [[ ${R[$QOS,d_quar]:-0} == 0 ]] || notes+=("${R[$QOS,d_quar]} quarantined")
        [[ ${R[$QOS,d_dup]:-0} == 0 ]] || notes+=("${R[$QOS,d_dup]} duplicates")
        ((${#notes[@]} == 0)) || echo "- QoS $QOS: $(IFS=';'; echo "${notes[*]}")"
    done
    if [[ $LATENCY == 1 ]]; then
        for QOS in $QOS_LIST; do
            L=${R[$QOS,lat]}
            if [[ -z $L ]]; then echo "- QoS $QOS latency: no figures (see the run's stderr)"; continue; fi
            echo "- QoS $QOS latency: $(kv samples "$L") samples ($(kv missing "$L") missing), min $(kv min_ms "$L") / p50 $(kv p50_ms "$L") / p90 $(kv p90_ms "$L") / p99 $(kv p99_ms "$L") / max $(kv max_ms "$L") ms; poll gap mean $(kv poll_gap_mean_ms "$L") ms, max $(kv poll_gap_max_ms "$L") ms; watcher CPU $(kv cpu_s "$L") s"
        done
    fi
    echo "- files: e2e-$STAMP-rss-q<qos>.csv (RSS samples), e2e-$STAMP-daemon-q<qos>.log (daemon stderr)$([[ $LATENCY == 1 ]] && echo ", e2e-$STAMP-latency-q<qos>.tsv (per-mark publish/stored times)")"
} >"$REPORT"
echo
cat "$REPORT"
echo
echo "report: $REPORT"
