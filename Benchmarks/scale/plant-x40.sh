#!/usr/bin/env bash
# A plant N times the example (issue 15, part 5): `zhizao simulate --scale N` writes the
# registry of N copies of Devices/, then the same simulated stream (same seed, same plant
# time) is played at full speed twice on a private mosquitto:
#   phase A  into the bare C subscriber (Benchmarks/e2e/bare_sub.c, filter #): what broker +
#            libmosquitto cost on this machine;
#   phase B  into `zhizao run` on a fresh database, its RSS sampled every few seconds.
# Then what `zhizao status` says of the database (file, bytes per reading, tables) and the
# wall time of `zhizao indicators --by line --every 1d` over the period as a whole process.
#
# Usage: Benchmarks/scale/plant-x40.sh            (after `swift build -c release`)
# Environment knobs:
#   ZHIZAO_BIN   daemon, simulator and CLI (default <repo>/.build/release/zhizao)
#   SCALE=40     copies of the example plant (40: about 1,200 devices, 2,600 series)
#   DAYS=1       simulated days (a month is DAYS=30)
#   SEED=2026    simulator seed
#   RSS_EVERY=3  seconds between RSS samples
#   KEEP_TMP=1   keep the temp dir (registry, database, logs, RSS CSV)
#   SKIP_BARE=1  skip phase A (for a long run whose ratio a shorter run already measured)
#   MAX_QUEUED_BYTES  what the broker may hold for the daemon while it lags (default 1 GB;
#                the month at x40: SKIP_BARE=1 MAX_QUEUED_BYTES=8000000000 DAYS=30 KEEP_TMP=1)
#   PROGRESS_EVERY=60  seconds between progress lines (readings stored, RSS, file size) on stderr
# Prints one block of figures (stdout); progress goes to stderr.
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$SCRIPT_DIR/../.." && pwd)
ZHIZAO_BIN=${ZHIZAO_BIN:-$REPO/.build/release/zhizao}
SCALE=${SCALE:-40}
DAYS=${DAYS:-1}
SEED=${SEED:-2026}
RSS_EVERY=${RSS_EVERY:-3}

die() { echo "plant-x40.sh: $*" >&2; exit 1; }
log() { echo "[$(date +%H:%M:%S)] $*" >&2; }
[[ -x $ZHIZAO_BIN ]] || die "no zhizao binary at $ZHIZAO_BIN (swift build -c release, or set ZHIZAO_BIN)"
[[ $SCALE =~ ^[1-9][0-9]*$ ]] || die "SCALE must be a positive integer (got '$SCALE')"
[[ $DAYS =~ ^[1-9][0-9]*$ ]] || die "DAYS must be a positive whole number of days (got '$DAYS')"
command -v mosquitto >/dev/null || die "mosquitto (the broker) is not installed"
command -v gcc >/dev/null || die "gcc is not installed"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/zhizao-x$SCALE.XXXXXX")
BROKER_PID=""
DAEMON_PID=""
SAMPLER_PID=""
BARE_PID=""
cleanup() {
    local rc=$? pid
    trap - EXIT
    for pid in "$SAMPLER_PID" "$BARE_PID" "$DAEMON_PID" "$BROKER_PID"; do
        [[ -n $pid ]] && kill "$pid" 2>/dev/null || true
    done
    wait 2>/dev/null || true
    if [[ ${KEEP_TMP:-0} == 1 ]]; then echo "plant-x40.sh: kept $TMP" >&2; else rm -rf "$TMP"; fi
    exit "$rc"
}
trap cleanup EXIT

gcc -O2 -Wall -o "$TMP/bare_sub" "$REPO/Benchmarks/e2e/bare_sub.c" -lmosquitto
source "$REPO/Benchmarks/e2e/private-broker.sh"
private_broker "$TMP"

DEVICES=$TMP/devices
"$ZHIZAO_BIN" simulate --scale "$SCALE" --write-devices "$DEVICES" --devices "$REPO/Devices" >&2
"$ZHIZAO_BIN" devices validate --devices "$DEVICES" > /dev/null || die "the written registry does not validate"

# The same plant time in both phases: DAYS whole local days ending at yesterday's midnight.
FROM=$(date -d "-$((DAYS + 1)) days" +%F)
TO=$(date -d "-1 days" +%F)
simulate() {  # simulate OUTPUT_JSON
    "$ZHIZAO_BIN" simulate --broker "mqtt://127.0.0.1:$PORT" --devices "$REPO/Devices" --scale "$SCALE" \
        --from "$FROM" --duration "${DAYS}d" --speed max --seed "$SEED" --format json > "$1"
}
field() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"; }

# --- phase A: the bare subscriber --------------------------------------------------------
BARE="BARE skipped"
if [[ ${SKIP_BARE:-0} != 1 ]]; then
log "phase A: bare subscriber, $SCALE copies, $DAYS day(s) from $FROM"
"$TMP/bare_sub" "$PORT" '#' 1 999999999 5 > "$TMP/bare.out" 2> "$TMP/bare.err" &
BARE_PID=$!
for _ in $(seq 200); do grep -q SUBSCRIBED "$TMP/bare.err" && break; sleep 0.05; done
grep -q SUBSCRIBED "$TMP/bare.err" || die "bare_sub did not subscribe: $(cat "$TMP/bare.err")"
simulate "$TMP/sim-a.json"
wait "$BARE_PID" || true
BARE_PID=""
BARE=$(grep '^BARE' "$TMP/bare.out") || die "bare_sub printed nothing: $(cat "$TMP/bare.err")"
fi

# --- phase B: the daemon -----------------------------------------------------------------
log "phase B: zhizao run"
"$ZHIZAO_BIN" run --broker "mqtt://127.0.0.1:$PORT" --db "$TMP/z.sqlite" --devices "$DEVICES" \
    --client-id plant-x40 > "$TMP/daemon.log" 2>&1 &
DAEMON_PID=$!
for _ in $(seq 600); do grep -q "Sparkplug primary host online" "$TMP/daemon.log" && break; sleep 0.05; done
grep -q "subscribed" "$TMP/daemon.log" || die "the daemon did not subscribe: $(tail -5 "$TMP/daemon.log")"
(
    t0=$(date +%s.%N)
    echo "elapsed_s,vmrss_kb,file_bytes"
    next=0
    while rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$DAEMON_PID/status" 2>/dev/null) && [[ -n $rss ]]; do
        el=$(awk -v a="$(date +%s.%N)" -v b="$t0" 'BEGIN { printf "%.1f", a - b }')
        bytes=$(stat -c %s "$TMP"/z.sqlite "$TMP"/z.sqlite-wal 2>/dev/null | awk '{ n += $1 } END { printf "%.0f", n }')
        printf '%s,%s,%s\n' "$el" "$rss" "$bytes"
        if (( ${el%.*} >= next )); then
            log "progress: ${el%.*} s, daemon RSS $((rss / 1024)) MB, database $((bytes / 1000000)) MB"
            next=$(( ${el%.*} + ${PROGRESS_EVERY:-60} ))
        fi
        sleep "$RSS_EVERY"
    done
) > "$TMP/rss.csv" &
SAMPLER_PID=$!
simulate "$TMP/sim-b.json"
if [[ -f $TMP/sim-a.json ]]; then
    cmp -s <(python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(r["messages_published"], r["readings_expected"])' "$TMP/sim-a.json") \
        <(python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(r["messages_published"], r["readings_expected"])' "$TMP/sim-b.json") ||
        die "the two phases' streams differ (seed or plant time)"
fi
EXPECTED=$(field "$TMP/sim-b.json" readings_expected)
# Settled: every reading the simulator sent is stored (or the count stopped moving for 10 s).
last=-1
still=0
while :; do
    now=$("$ZHIZAO_BIN" status --db "$TMP/z.sqlite" --format json | python3 -c 'import json,sys; print(json.load(sys.stdin)["readings_stored"])')
    [[ $now -ge $EXPECTED ]] && break
    if [[ $now == "$last" ]]; then still=$((still + 1)); [[ $still -ge 5 ]] && break; else still=0; fi
    last=$now
    sleep 2
done
kill -TERM "$DAEMON_PID"
wait "$DAEMON_PID" || true
DAEMON_PID=""
kill "$SAMPLER_PID" 2>/dev/null || true
wait "$SAMPLER_PID" 2>/dev/null || true
SAMPLER_PID=""
DAEMON=$(grep "ingest stopped" "$TMP/daemon.log" | tail -1)

"$ZHIZAO_BIN" status --db "$TMP/z.sqlite" --format json > "$TMP/status.json"
# indicators over the period as a whole process, best of 5.
source "$SCRIPT_DIR/best-of.sh"
best_of 5 "$TMP/ind.csv" "$TMP/ind.err" "$ZHIZAO_BIN" indicators --db "$TMP/z.sqlite" --devices "$DEVICES" \
    --by line --every 1d --from "$FROM" --to "$TO" --format csv
best=$BEST_MS

python3 - "$TMP" "$BARE" "$DAEMON" "$best" "$SCALE" "$DAYS" <<'PY'
import csv, json, re, sys
tmp, bare_line, daemon_line, ind_ms, scale, days = sys.argv[1:]
kv = lambda line: dict(re.findall(r'(\w+)=([0-9.]+)', line))
bare, d = kv(bare_line), kv(daemon_line)
sim = json.load(open(f"{tmp}/sim-b.json"))
status = json.load(open(f"{tmp}/status.json"))
s = status["storage"]
devices = len(sim["devices"])
print(f"plant x{scale}: {devices} devices, {days} simulated day(s), {sim['messages_published']} messages, "
      f"{sim['readings_expected']} readings sent, simulator wall {sim['wall_seconds']:.0f} s")
msgs, readings, cpu = int(d["messages"]), int(d["readings"]), float(d["cpu_s"])
span = float(d["first_to_last_commit_s"])
if bare:
    print(f"bare_sub : {bare['messages']} msgs  {float(bare['msgs_per_s']):.0f} msg/s  cpu {float(bare['cpu_s']):.2f} s  "
          f"{float(bare['cpu_us_per_msg']):.2f} us/msg")
else:
    print("bare_sub : skipped (SKIP_BARE=1)")
print(f"daemon   : {msgs} msgs  {readings} readings stored  {msgs / span:.0f} msg/s  {readings / span:.0f} readings/s  "
      f"cpu {cpu:.2f} s  {cpu / msgs * 1e6:.2f} us/msg  {cpu / readings * 1e6:.2f} us/reading  "
      f"quarantined {d['quarantined']} (simulator: {sim['malformed']} malformed + {sim['foreign']} foreign)")
if bare:
    print(f"ratio    : daemon/bare msg/s {msgs / span / float(bare['msgs_per_s']):.2f}  "
          f"CPU per msg {cpu / msgs * 1e6 / float(bare['cpu_us_per_msg']):.1f}x the bare subscriber's")
rows = [(float(r["elapsed_s"]), int(r["vmrss_kb"])) for r in csv.DictReader(open(f"{tmp}/rss.csv"))]
first = [kb for t, kb in rows if t <= 60]
rest = [kb for t, kb in rows if t > 60]
mb = lambda kb: f"{kb / 1024:.1f}"
line = f"RSS MB   : first minute max {mb(max(first))}" if first else "RSS MB   : no sample in the first minute"
if rest:
    line += f"; after it min {mb(min(rest))} max {mb(max(rest))} last {mb(rest[-1])} ({len(rest)} samples)"
print(line + f"; ru_maxrss {mb(int(d['max_rss_kb']))}")
n = s["readings"]
print(f"database : {s['file_bytes'] / 1e6:.1f} MB with WAL for {n} readings = {s['file_bytes'] / n:.1f} B/reading")
for name, t in sorted(s["tables"].items(), key=lambda kv: -(kv[1]["bytes"] + kv[1]["index_bytes"])):
    if t["bytes"] + t["index_bytes"] >= 1_000_000:
        print(f"  {name:16s} {t['bytes'] / 1e6:8.1f} MB  indexes {t['index_bytes'] / 1e6:7.1f} MB")
print(f"indicators --by line --every 1d over the period: best of 5 {ind_ms} ms (whole process)")
PY
