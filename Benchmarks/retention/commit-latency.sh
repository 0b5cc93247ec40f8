#!/usr/bin/env bash
# Commit latency while the daemon prunes: fills a database with a simulated week of the example
# plant, then plays the same paced stream into two copies of it, once without retention and once
# with `retention.raw_days: 1`, and compares the commits' quantiles (from the daemon's trace
# lines `committed commit_us=…`) and the prune steps' durations. Ratios in one run are what count.
#
# Usage: Benchmarks/retention/commit-latency.sh
# Environment knobs:
#   ZHIZAO_BIN   the daemon and simulator (default <repo>/.build/release/zhizao)
#   DEVICES      registry (default <repo>/Devices)
#   DAYS=7       simulated days in the database, ending GAP_H hours ago
#   GAP_H=8      plant hours left free for the paced stream (its readings are new, not duplicates)
#   RATE=200     paced stream, messages per second (200 msg/s for 90 s is ~5 plant hours)
#   SECONDS_ON=90  how long each paced run lasts
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$SCRIPT_DIR/../.." && pwd)
ZHIZAO_BIN=${ZHIZAO_BIN:-$REPO/.build/release/zhizao}
DEVICES=${DEVICES:-$REPO/Devices}
DAYS=${DAYS:-7}
GAP_H=${GAP_H:-8}
RATE=${RATE:-200}
SECONDS_ON=${SECONDS_ON:-90}

die() { echo "commit-latency.sh: $*" >&2; exit 1; }
[[ -x $ZHIZAO_BIN ]] || die "no zhizao binary at $ZHIZAO_BIN"

TMP=$(mktemp -d)
BROKER_PID=""
DAEMON_PID=""
trap 'for p in $DAEMON_PID $BROKER_PID; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$TMP"' EXIT
source "$REPO/Benchmarks/e2e/private-broker.sh"
private_broker "$TMP"

# Starts the daemon on database $1 with config file $2, logging to $3; waits until it subscribed.
start_daemon() {
    "$ZHIZAO_BIN" run --broker "mqtt://127.0.0.1:$PORT" --db "$1" --devices "$DEVICES" --config "$2" \
        --client-id retention-bench > "$3" 2>&1 &
    DAEMON_PID=$!
    # The background job may not have created the log yet at the first look.
    for _ in $(seq 400); do grep -qs "subscribed" "$3" && return; sleep 0.05; done
    die "the daemon did not subscribe: $(tail -5 "$3")"
}
stop_daemon() {
    kill -TERM "$DAEMON_PID"
    wait "$DAEMON_PID" || true
    DAEMON_PID=""
}

# 1. A simulated week, ending GAP_H hours ago, into a fresh database (no retention).
FROM=$(python3 -c "import datetime as d; z=d.timezone(d.timedelta(hours=8)); \
print((d.datetime.now(z) - d.timedelta(days=$DAYS, hours=$GAP_H)).replace(microsecond=0).isoformat())")
printf 'log_level: info\n' > "$TMP/keep.yaml"
start_daemon "$TMP/week.sqlite" "$TMP/keep.yaml" "$TMP/fill.log"
"$ZHIZAO_BIN" simulate --broker "mqtt://127.0.0.1:$PORT" --devices "$DEVICES" --duration "${DAYS}d" --speed max \
    --from "$FROM" --qos 1 > "$TMP/fill-sim.txt"
# The simulator returns once the broker has every message; wait until the count stops moving.
last=-1
while :; do
    n=$(sqlite3 -readonly "$TMP/week.sqlite" "SELECT count(*) FROM readings" 2>/dev/null || echo -2)
    [[ $n == "$last" ]] && break
    last=$n
    sleep 2
done
stop_daemon
echo "filled: $last readings over ${DAYS} simulated days, $(stat -c %s "$TMP/week.sqlite") bytes"

# 2. The same paced stream into two copies: without retention, then with raw_days 1.
printf 'log_level: trace\n' > "$TMP/base.yaml"
printf 'log_level: trace\nretention:\n  raw_days: 1\n' > "$TMP/prune.yaml"
for run in base prune; do
    cp "$TMP/week.sqlite" "$TMP/$run.sqlite"
    start_daemon "$TMP/$run.sqlite" "$TMP/$run.yaml" "$TMP/$run.log"
    "$ZHIZAO_BIN" simulate --broker "mqtt://127.0.0.1:$PORT" --devices "$DEVICES" --rate "$RATE" \
        --duration "${SECONDS_ON}s" --seed 3 --qos 1 --client-id "retention-bench-sim" > /dev/null
    sleep 1
    stop_daemon
    echo "$run: $(sqlite3 -readonly "$TMP/$run.sqlite" "SELECT count(*) FROM readings") readings left;" \
        "$(grep -o 'commits=.*readings=[0-9]*' "$TMP/$run.log" | tail -1)"
done

python3 - "$TMP/base.log" "$TMP/prune.log" <<'PY'
import re, sys
def q(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p * len(xs)))] if xs else float("nan")
def read(path, key, line):
    return [int(m.group(1)) for l in open(path) if line in l for m in re.finditer(r"\b" + key + r"=(\d+)", l)]
base, prune = (read(p, "commit_us", "committed") for p in sys.argv[1:3])
steps = read(sys.argv[2], "step_us", "prune step")
rows = sum(read(sys.argv[2], "readings", "prune step")) + sum(read(sys.argv[2], "minutes", "prune step"))
print(f"commits: base {len(base)}, pruning {len(prune)}")
for name, p in (("p50", .5), ("p90", .9), ("p99", .99), ("max", 1.0)):
    b, r = q(base, p), q(prune, p)
    print(f"commit {name}: base {b} us, pruning {r} us, ratio {r / b:.2f}")
print(f"prune steps: {len(steps)} removing {rows} rows, p50 {q(steps, .5)} us, p99 {q(steps, .99)} us, max {q(steps, 1.0)} us")
PY
grep -h "retention pass done" "$TMP/prune.log" || echo "(no pass finished within the run)"
