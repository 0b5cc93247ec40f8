#!/usr/bin/env bash
# The realistic plant mix: the example plant's simulated gateways (every format, counters,
# states, machines, the odd late and malformed message) replayed at full speed into
# `zhizao run` on a private mosquitto; prints the daemon's CPU per stored reading.
#
# Usage: Benchmarks/e2e/plant-mix.sh
# Environment knobs:
#   ZHIZAO_BIN     the daemon under test (default <repo>/.build/release/zhizao)
#   SIM_BIN        the simulator (default ZHIZAO_BIN): keep one simulator to compare two daemons
#                  on the same stream
#   DEVICES        registry (default <repo>/Devices)
#   DAYS=3         simulated days
#   SEED=7         simulator seed
#   KEEP_DB=FILE   copy the daemon's database there at the end (Benchmarks/footprint/month.sh)
# Prints one line: readings, daemon CPU seconds, µs CPU per reading, readings/s (first to last commit).
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$SCRIPT_DIR/../.." && pwd)
ZHIZAO_BIN=${ZHIZAO_BIN:-$REPO/.build/release/zhizao}
SIM_BIN=${SIM_BIN:-$ZHIZAO_BIN}
DEVICES=${DEVICES:-$REPO/Devices}
DAYS=${DAYS:-3}
SEED=${SEED:-7}

die() { echo "plant-mix.sh: $*" >&2; exit 1; }
[[ -x $ZHIZAO_BIN ]] || die "no zhizao binary at $ZHIZAO_BIN"
[[ -x $SIM_BIN ]] || die "no simulator binary at $SIM_BIN"

TMP=$(mktemp -d)
BROKER_PID=""
DAEMON_PID=""
cleanup() {
    [[ -n $DAEMON_PID ]] && kill "$DAEMON_PID" 2>/dev/null || true
    [[ -n $BROKER_PID ]] && kill "$BROKER_PID" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$TMP"
}
trap cleanup EXIT

source "$SCRIPT_DIR/private-broker.sh"
private_broker "$TMP"

"$ZHIZAO_BIN" run --broker "mqtt://127.0.0.1:$PORT" --db "$TMP/z.sqlite" --devices "$DEVICES" \
    --client-id plant-mix > "$TMP/daemon.log" 2>&1 &
DAEMON_PID=$!
for _ in $(seq 200); do grep -q "subscribed" "$TMP/daemon.log" && break; sleep 0.05; done
grep -q "subscribed" "$TMP/daemon.log" || die "the daemon did not subscribe: $(tail -5 "$TMP/daemon.log")"

"$SIM_BIN" simulate --broker "mqtt://127.0.0.1:$PORT" --devices "$DEVICES" --duration "${DAYS}d" --speed max \
    --seed "$SEED" --format json > "$TMP/sim.json"
# Settled: the stored count stops moving for 3 s.
last=-1
while :; do
    now=$("$ZHIZAO_BIN" status --db "$TMP/z.sqlite" --format json | python3 -c 'import json,sys; print(json.load(sys.stdin)["readings_stored"])')
    [[ $now == "$last" ]] && break
    last=$now
    sleep 3
done
kill -TERM "$DAEMON_PID"
wait "$DAEMON_PID" || true
DAEMON_PID=""
if [[ -n ${KEEP_DB:-} ]]; then
    cp "$TMP/z.sqlite" "$KEEP_DB"
    if [[ -f $TMP/z.sqlite-wal ]]; then cp "$TMP/z.sqlite-wal" "$KEEP_DB-wal"; fi
fi
line=$(grep "ingest stopped" "$TMP/daemon.log" | tail -1)
python3 - "$line" <<'EOF'
import re, sys
f = dict(re.findall(r'(\w+)=([0-9.]+)', sys.argv[1]))
readings, cpu = int(f["readings"]), float(f["cpu_s"])
print(f"readings {readings}  cpu_s {cpu:.3f}  cpu_us_per_reading {cpu / readings * 1e6:.2f}  readings_per_s {f['readings_per_s']}")
EOF
