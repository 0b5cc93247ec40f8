#!/usr/bin/env bash
# Storage footprint on a simulated month of the example plant: the plant-mix benchmark
# (Benchmarks/e2e/plant-mix.sh: private mosquitto, `zhizao run` on a fresh database,
# `zhizao simulate --speed max`) for DAYS days, then what `zhizao status` reports (file with WAL,
# bytes per table, bytes per reading) and how long `zhizao indicators --by line --every 1d` over
# the whole period takes as a whole process.
#
# Usage: Benchmarks/footprint/month.sh
# Environment knobs:
#   ZHIZAO_BIN   the daemon, simulator and CLI (default <repo>/.build/release/zhizao)
#   DEVICES      registry (default <repo>/Devices)
#   DAYS=30      simulated days, ending now
#   SEED=2026    simulator seed
#   KEEP=FILE    keep the database there (e.g. to test a migration on it)
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$SCRIPT_DIR/../.." && pwd)
export ZHIZAO_BIN=${ZHIZAO_BIN:-$REPO/.build/release/zhizao}
DEVICES=${DEVICES:-$REPO/Devices}
export DAYS=${DAYS:-30} SEED=${SEED:-2026} DEVICES

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
DB=${KEEP:-$TMP/z.sqlite}
KEEP_DB=$DB "$REPO/Benchmarks/e2e/plant-mix.sh"

"$ZHIZAO_BIN" status --db "$DB" --format json > "$TMP/status.json"
python3 - "$TMP/status.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))["storage"]
n = s["readings"]
print(f"readings {n}  file with WAL {s['file_bytes'] / 1e6:.1f} MB ({s['file_bytes'] / n:.1f} B/reading)  "
      f"status bytes_per_reading {s.get('bytes_per_reading') or 0:.1f}")
for name, t in sorted(s["tables"].items(), key=lambda kv: -(kv[1]["bytes"] + kv[1]["index_bytes"])):
    if t["bytes"] + t["index_bytes"] >= 100_000:
        print(f"  {name:16s} {t['bytes'] / 1e6:7.2f} MB  indexes {t['index_bytes'] / 1e6:6.2f} MB")
PY
# An indicator read over the whole period as a whole process (best of 5).
best=""
for _ in 1 2 3 4 5; do
    t0=$(date +%s%N)
    "$ZHIZAO_BIN" indicators --db "$DB" --devices "$DEVICES" --by line --every 1d --from="-$((DAYS + 1))d" --to now \
        --format csv > "$TMP/ind.csv" 2>/dev/null
    ms=$(( ($(date +%s%N) - t0) / 1000000 ))
    [[ -z $best || $ms -lt $best ]] && best=$ms
done
echo "indicators --by line --every 1d over the period: best of 5 ${best} ms ($(wc -l < "$TMP/ind.csv") CSV lines)"
