#!/usr/bin/env bash
# One stream, three stores: the example plant's simulated gateways replayed at full speed into
# (1) one daemon on SQLite, (2) one daemon on PostgreSQL, (3) two daemons on PostgreSQL sharing
# one subscription ($share). Prints readings/s (first to last commit, per daemon) and CPU per
# stored reading of the daemons plus, for PostgreSQL, the server's processes.
#
# Usage: Benchmarks/postgres/pg-vs-sqlite.sh          (after `swift build -c release`)
# Environment: ZHIZAO_BIN (default <repo>/.build/release/zhizao), DEVICES (default <repo>/Devices),
# DAYS=2, SEED=7.
# Needs Debian's postgresql package (.ci/install-deps installs it); as root the server runs as
# the `postgres` user.
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$SCRIPT_DIR/../.." && pwd)
ZHIZAO_BIN=${ZHIZAO_BIN:-$REPO/.build/release/zhizao}
DAYS=${DAYS:-2}
SEED=${SEED:-7}
DEVICES=${DEVICES:-$REPO/Devices}
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)

die() { echo "pg-vs-sqlite.sh: $*" >&2; exit 1; }
[[ -x $ZHIZAO_BIN ]] || die "no zhizao binary at $ZHIZAO_BIN"
[[ -x $PGBIN/initdb ]] || die "no PostgreSQL server: apt-get install postgresql"

TMP=$(mktemp -d)
chmod 755 "$TMP"
BROKER_PID=""
PIDS=()
as_pg() { if [[ $(id -u) == 0 ]]; then setpriv --reuid=postgres --regid=postgres --init-groups "$@"; else "$@"; fi; }
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    [[ -n $BROKER_PID ]] && kill "$BROKER_PID" 2>/dev/null || true
    [[ -d $TMP/pg ]] && as_pg "$PGBIN/pg_ctl" -D "$TMP/pg" -m immediate stop >/dev/null 2>&1 || true
    wait 2>/dev/null || true
    rm -rf "$TMP"
}
trap cleanup EXIT

source "$REPO/Benchmarks/e2e/private-broker.sh"
private_broker "$TMP"

# A private PostgreSQL with the settings a packaged server has (fsync on).
PGPORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir "$TMP/pg" && [[ $(id -u) == 0 ]] && chown postgres: "$TMP/pg"
as_pg "$PGBIN/initdb" -D "$TMP/pg" -U zhizao --auth=trust >/dev/null
printf "listen_addresses = '127.0.0.1'\nport = %s\nunix_socket_directories = '%s'\n" "$PGPORT" "$TMP/pg" >> "$TMP/pg/postgresql.conf"
as_pg "$PGBIN/pg_ctl" -D "$TMP/pg" -l "$TMP/pg/server.log" -w start >/dev/null
PGURL="postgresql://zhizao@127.0.0.1:$PGPORT"
for db in one two; do psql -q "$PGURL/postgres" -c "CREATE DATABASE $db" >/dev/null; done
pg_cpu() {  # CPU seconds of the server: every postgres process's own, plus what the postmaster reaped from exited backends
    local t=0
    for p in $(pgrep -u postgres); do
        [[ -r /proc/$p/stat ]] && t=$((t + $(sed 's/.*) //' /proc/$p/stat | awk '{print $12 + $13 + $14 + $15}')))
    done
    python3 -c "print($t / $(getconf CLK_TCK))"
}

# run NAME DB [EXTRA...]: start the daemons for one store, play the stream, wait until every
# message was received, stop them, print their figures.
run() {
    local name=$1 db=$2 count=$3; shift 3
    PIDS=()
    local logs=()
    for i in $(seq "$count"); do
        "$ZHIZAO_BIN" run --broker "mqtt://127.0.0.1:$PORT" --db "$db" --devices "$DEVICES" \
            --client-id "bench-$name-$i" "$@" > "$TMP/$name-$i.log" 2>&1 &
        PIDS+=($!)
        logs+=("$TMP/$name-$i.log")
        for _ in $(seq 200); do grep -q "subscribed" "$TMP/$name-$i.log" && break; sleep 0.05; done
    done
    local pg0; pg0=$(pg_cpu)
    "$ZHIZAO_BIN" simulate --broker "mqtt://127.0.0.1:$PORT" --devices "$DEVICES" --duration "${DAYS}d" --speed max \
        --seed "$SEED" --format json --client-id "bench-sim-$name" > "$TMP/sim-$name.json"
    local expected; expected=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["readings_expected"])' "$TMP/sim-$name.json")
    # Settled: every reading the simulator sent is stored (the quarantined ones are not readings).
    for _ in $(seq 1200); do
        if [[ $db == postgresql* ]]; then
            n=$(psql -qtA "$db" -c "SELECT count(*) FROM readings")
        else
            n=$("$ZHIZAO_BIN" status --db "$db" --format json | python3 -c 'import json,sys; print(json.load(sys.stdin)["readings_stored"])')
        fi
        [[ $n -ge $expected ]] && break
        sleep 0.5
    done
    for p in "${PIDS[@]}"; do kill -TERM "$p"; done
    for p in "${PIDS[@]}"; do wait "$p" || true; done
    PIDS=()
    local pg1; pg1=$(pg_cpu)
    python3 - "$name" "$expected" "$pg0" "$pg1" "${logs[@]}" <<'PY'
import re, sys
name, expected, pg0, pg1, logs = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), sys.argv[5:]
readings = cpu = 0
rates = []
for log in logs:
    line = [l for l in open(log) if "ingest stopped" in l][-1]
    f = dict(re.findall(r'(\w+)=([0-9.]+)', line))
    readings += int(f["readings"]); cpu += float(f["cpu_s"]); rates.append(float(f["readings_per_s"]))
server = pg1 - pg0 if name.startswith("pg") else 0.0
print(f"{name:10} readings {readings} (expected {expected})  daemons cpu_s {cpu:.2f}  server cpu_s {server:.2f}  "
      f"cpu_us_per_reading {(cpu + server) / readings * 1e6:.1f}  readings_per_s {' + '.join(f'{r:.0f}' for r in rates)}")
PY
}

run sqlite "$TMP/z.sqlite" 1
run pg1 "$PGURL/one" 1
run pg2 "$PGURL/two" 2 --shared-group bench
exit 0
