#!/usr/bin/env bash
# The indicator read over a month of scope totals at N plants, without simulating the month.
#
# `zhizao indicators --by line --every 1d` over whole local days reads only the stored day and
# hour totals of each line (`scope_rollup`), the value added and the closed periods: no raw
# readings and no minute rollups. This copies a database that `plant-x40.sh` filled with one
# simulated day (KEEP_TMP=1 keeps it), repeats that day's `scope_rollup` rows (hour and day)
# on the DAYS-1 days before it (in the site's zone, which must keep no daylight saving time: a day is 86,400 s),
# and times the command over the DAYS days as a whole process, best of 5. The other tables stay
# one day's: the read does not touch them.
#
# Usage: Benchmarks/scale/indicators-month.sh KEPT_TMP_DIR [DAYS]   (DAYS default 30)
#   KEPT_TMP_DIR  the directory plant-x40.sh kept (z.sqlite, devices/)
#   ZHIZAO_BIN    the CLI (default <repo>/.build/release/zhizao)
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$SCRIPT_DIR/../.." && pwd)
ZHIZAO_BIN=${ZHIZAO_BIN:-$REPO/.build/release/zhizao}
SRC=${1:?usage: indicators-month.sh KEPT_TMP_DIR [DAYS]}
DAYS=${2:-30}
die() { echo "indicators-month.sh: $*" >&2; exit 1; }
[[ -f $SRC/z.sqlite && -d $SRC/devices ]] || die "$SRC holds no z.sqlite and devices/ (run plant-x40.sh with KEEP_TMP=1)"
[[ $DAYS =~ ^[1-9][0-9]*$ ]] || die "DAYS must be a positive whole number (got '$DAYS')"
command -v sqlite3 >/dev/null || die "sqlite3 (the command-line shell) is not installed"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/zhizao-month.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
sqlite3 "$SRC/z.sqlite" ".backup '$TMP/z.sqlite'"
# The simulated day: the local day with the most stored totals.
DAY=$(sqlite3 "$TMP/z.sqlite" "SELECT start FROM scope_rollup WHERE period = 'day' GROUP BY start ORDER BY count(*) DESC LIMIT 1")
[[ -n $DAY ]] || die "no day totals in $SRC/z.sqlite"
sqlite3 "$TMP/z.sqlite" <<SQL
WITH RECURSIVE k(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM k WHERE n < $DAYS - 1)
INSERT INTO scope_rollup(scope, quantity, period, start, value)
SELECT scope, quantity, period, start - n * 86400000, value FROM scope_rollup, k
WHERE period IN ('hour', 'day') AND start >= $DAY AND start < $DAY + 86400000;
SQL
ROWS=$(sqlite3 "$TMP/z.sqlite" "SELECT period || ' ' || count(*) FROM scope_rollup GROUP BY period" | tr '\n' ' ')
ZONE=$(awk '/timezone:/ { print $2; exit }' "$SRC/devices/plant.yaml")
[[ -n $ZONE ]] || die "no timezone in $SRC/devices/plant.yaml"
FROM=$(TZ=$ZONE date -d "@$(( DAY / 1000 - (DAYS - 1) * 86400 ))" +%F)
TO=$(TZ=$ZONE date -d "@$(( DAY / 1000 + 86400 ))" +%F)
source "$SCRIPT_DIR/best-of.sh"
best_of 5 "$TMP/ind.csv" "$TMP/ind.err" "$ZHIZAO_BIN" indicators --db "$TMP/z.sqlite" --devices "$SRC/devices" \
    --by line --every 1d --from "$FROM" --to "$TO" --format csv
echo "scope_rollup rows: $ROWS; indicators --by line --every 1d from $FROM to $TO: $(( $(wc -l < "$TMP/ind.csv") - 1 )) rows, best of 5 $BEST_MS ms (whole process)"
