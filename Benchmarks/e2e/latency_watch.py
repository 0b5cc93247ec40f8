#!/usr/bin/env python3
"""latency_watch.py - black-box publish-to-committed latency for the end-to-end benchmark.

usage: latency_watch.py --db DB --marks MARKS_FILE --n N [--every 1000] [--interval-ms 2]
                        [--idle-s 60] [--pid PID] [--marks-wait-s 60] [--out TSV]

Opens the daemon's SQLite database read-only (it is in WAL mode and the daemon keeps writing
it), retrying until ingest_counters exists, and polls
    SELECT value FROM ingest_counters WHERE name = 'readings_stored'
every --interval-ms. For each multiple k of --every it records the first CLOCK_REALTIME
microsecond (taken when the poll returned) at which readings_stored >= k. It stops when
readings_stored >= N, when the counter has not moved for --idle-s seconds, or when --pid
has exited. The database must be fresh (readings_stored starts at 0).

Then it waits (up to --marks-wait-s) for MARKS_FILE, written by flood_pub at its end
(lines "<index> <CLOCK_REALTIME us when mosquitto_publish returned>"), and joins:
    latency(k) = t_stored(k) - t_published(k)
Every message is one reading and the stream is delivered in order, so readings_stored >= k
means message k is committed. The figure is an upper bound by up to one poll interval (the
commit happened between the previous poll and the one that saw it). Writes "WATCHING" to
stderr after its first successful poll, so a script can start the publisher. Prints one line:
    LATENCY samples=<n> missing=<m> p50_ms=.. p90_ms=.. p99_ms=.. max_ms=.. min_ms=..
            polls=<n> poll_gap_mean_ms=.. poll_gap_max_ms=.. cpu_s=..
missing = marks whose k was never reached. Percentiles are nearest-rank. With --out, writes
one row per mark: index, t_published_us, t_stored_us, latency_us (empty when missing).
Standard library only.
"""
import argparse
import math
import os
import sqlite3
import sys
import time
import urllib.parse


def open_ro(path):
    uri = "file:" + urllib.parse.quote(os.path.abspath(path)) + "?mode=ro"
    conn = sqlite3.connect(uri, uri=True, isolation_level=None)
    try:
        conn.execute("PRAGMA busy_timeout = 100")
        conn.execute("SELECT value FROM ingest_counters LIMIT 0").fetchall()  # raises until the table exists
    except sqlite3.Error:
        conn.close()
        raise
    return conn


def alive(pid):
    if pid is None:
        return True
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def percentile(sorted_values, p):
    if not sorted_values:
        return float("nan")
    rank = max(1, math.ceil(p / 100.0 * len(sorted_values)))
    return sorted_values[rank - 1]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--db", required=True)
    ap.add_argument("--marks", required=True)
    ap.add_argument("--n", type=int, required=True)
    ap.add_argument("--every", type=int, default=1000)
    ap.add_argument("--interval-ms", type=float, default=2.0)
    ap.add_argument("--idle-s", type=float, default=60.0)
    ap.add_argument("--pid", type=int)
    ap.add_argument("--marks-wait-s", type=float, default=60.0)
    ap.add_argument("--out")
    a = ap.parse_args()
    if a.n <= 0 or a.every <= 0 or a.interval_ms <= 0:
        ap.error("--n, --every and --interval-ms must be positive")

    interval = a.interval_ms / 1000.0
    t_stored = {}  # k (multiple of every) -> CLOCK_REALTIME us
    next_k = a.every
    value = 0
    polls = 0
    gap_sum = gap_max = 0.0
    last_poll = None
    last_change = time.monotonic()
    conn = None
    reason = "n"

    while True:
        now = time.monotonic()
        if conn is None:
            try:
                conn = open_ro(a.db)
            except sqlite3.Error:
                conn = None
        if conn is not None:
            try:
                row = conn.execute(
                    "SELECT value FROM ingest_counters WHERE name = 'readings_stored'").fetchone()
                stamp = time.time_ns() // 1000
                polls += 1
                if last_poll is not None:
                    gap = now - last_poll
                    gap_sum += gap
                    gap_max = max(gap_max, gap)
                if last_poll is None:
                    print("WATCHING", file=sys.stderr, flush=True)  # the first poll is done
                last_poll = now
                v = row[0] if row else 0
                if v != value:
                    value = v
                    last_change = now
                while next_k <= value and next_k <= a.n:
                    t_stored[next_k] = stamp
                    next_k += a.every
            except sqlite3.OperationalError:
                pass  # locked or busy for a moment: try again at the next tick
        if value >= a.n:
            break
        if now - last_change >= a.idle_s:
            reason = "idle"
            break
        if not alive(a.pid):
            reason = "pid gone"
            break
        delay = (now + interval) - time.monotonic()
        if delay > 0:
            time.sleep(delay)
    if conn is not None:
        conn.close()
    if reason != "n":
        print(f"latency_watch: stopped ({reason}) at readings_stored={value} of {a.n}", file=sys.stderr)

    deadline = time.monotonic() + a.marks_wait_s
    while not os.path.exists(a.marks) and time.monotonic() < deadline:
        time.sleep(0.05)
    marks = []
    try:
        with open(a.marks) as f:
            for line in f:
                parts = line.split()
                if len(parts) == 2:
                    marks.append((int(parts[0]), int(parts[1])))
    except OSError as e:
        print(f"latency_watch: no marks file: {e}", file=sys.stderr)

    lat_us = []
    missing = 0
    rows = []
    for k, t_pub in marks:
        t = t_stored.get(k)
        if t is None:
            missing += 1
            rows.append((k, t_pub, "", ""))
        else:
            lat_us.append(t - t_pub)
            rows.append((k, t_pub, t, t - t_pub))
    if a.out:
        with open(a.out, "w") as f:
            f.write("index\tt_published_us\tt_stored_us\tlatency_us\n")
            for r in rows:
                f.write("\t".join(str(x) for x in r) + "\n")

    lat_us.sort()
    ms = lambda us: "-" if (isinstance(us, float) and math.isnan(us)) else f"{us / 1000.0:.2f}"
    cpu = time.process_time()
    print(f"LATENCY samples={len(lat_us)} missing={missing} "
          f"p50_ms={ms(percentile(lat_us, 50))} p90_ms={ms(percentile(lat_us, 90))} "
          f"p99_ms={ms(percentile(lat_us, 99))} max_ms={ms(lat_us[-1] if lat_us else float('nan'))} "
          f"min_ms={ms(lat_us[0] if lat_us else float('nan'))} polls={polls} "
          f"poll_gap_mean_ms={(gap_sum / (polls - 1) * 1000 if polls > 1 else 0):.2f} "
          f"poll_gap_max_ms={gap_max * 1000:.2f} cpu_s={cpu:.2f}", flush=True)
    return 0 if lat_us and missing == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
