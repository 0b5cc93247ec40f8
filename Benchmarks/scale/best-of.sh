# Sourced by the scale scripts. best_of N OUT ERR CMD...: runs CMD N times as a whole process
# (stdout to OUT, stderr to ERR), stops the script (the caller's `die`) if it fails, and sets
# BEST_MS to the fastest wall time in milliseconds.
best_of() {
    local n=$1 out=$2 err=$3 t0 ms
    shift 3
    BEST_MS=""
    for _ in $(seq "$n"); do
        t0=$(date +%s%N)
        "$@" > "$out" 2> "$err" || die "$(basename "$1") $2 failed: $(cat "$err")"
        ms=$(( ($(date +%s%N) - t0) / 1000000 ))
        if [[ -z $BEST_MS || $ms -lt $BEST_MS ]]; then BEST_MS=$ms; fi
    done
}
