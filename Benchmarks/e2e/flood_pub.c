// flood_pub.c - the load generator for the end-to-end ingest benchmark.
//
// usage: flood_pub PORT QOS N [RATE_MSG_PER_S (0 = as fast as possible)] [SEED]
//
// Publishes N Zhizao native JSON readings (~100 bytes with topic and header) to
// zhizao/v1/ws-assembly/<device>, the device cycling through the native devices of
// Devices/gateways/gw-assembly-native.yaml that have a gauge `power` (kW):
//   {"device":"prs-401","ts":<ms>,"seq":<i>,"metrics":{"power":<value>}}
// ts = start_wall_ms - N + i: every message is a distinct reading (unique ts per device, in
// fact globally), all in the past, so the daemon's future-skew check never fires. The power
// values come from a PRNG seeded with SEED, so the same N and SEED give the same stream
// (except for ts, which follows the wall clock).
//
// MQTT v5, clean start, single-threaded (mosquitto_loop on the main thread). At QoS 1 up to
// WINDOW (1000) messages are in flight (send maximum; the broker's receive maximum may lower
// it) and the program waits for every PUBACK before disconnecting; at QoS 0 it waits until
// every PUBLISH has been written to the socket. Prints one line:
//   PUB messages=<n> seconds=<s> msgs_per_s=<r>
// seconds runs from the first publish to the last PUBACK (QoS 1) or last write (QoS 0).
//
// Latency marks (optional): with MARKS_FILE=<path> in the environment, every MARK_EVERY-th
// message (default 1000) records "<index> <us>": index = messages published so far (1-based),
// us = CLOCK_REALTIME microseconds when mosquitto_publish_v5 returned for that message. The
// marks are kept in memory and written once at the end (to <path>.tmp, then renamed, so a
// reader never sees a partial file).
// Build: gcc -O2 -o flood_pub flood_pub.c -lmosquitto
#define _GNU_SOURCE
#include <mosquitto.h>
#include <mqtt_protocol.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define WINDOW 1000

static const char *const devices[] = {"em-asm-main", "em-motor", "prs-401", "rbt-411", "tst-421"};
#define NDEV (sizeof devices / sizeof devices[0])

static int connected, conn_failed;
static long done, refused;

static double mono_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int64_t wall_us(void) {
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (int64_t)t.tv_sec * 1000000 + t.tv_nsec / 1000;
}

static int64_t wall_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static uint64_t rng;
static double next_unit(void) {  // xorshift64*, uniform in [0, 1)
    rng ^= rng >> 12; rng ^= rng << 25; rng ^= rng >> 27;
    return (double)((rng * 2685821657736338717ULL) >> 11) / 9007199254740992.0;
}

static void on_connect(struct mosquitto *m, void *ud, int rc, int flags, const mosquitto_property *p) {
    (void)m; (void)ud; (void)flags; (void)p;
    if (rc == 0) connected = 1;
    else { fprintf(stderr, "flood_pub: connection refused: %s\n", mosquitto_reason_string(rc)); conn_failed = 1; }
}

static void on_disconnect(struct mosquitto *m, void *ud, int rc, const mosquitto_property *p) {
    (void)m; (void)ud; (void)rc; (void)p;
    connected = 0;
}

static void on_publish(struct mosquitto *m, void *ud, int mid, int reason, const mosquitto_property *p) {
    (void)m; (void)ud; (void)mid; (void)p;
    done++;  // QoS 0: written to the socket; QoS 1: PUBACK received
    if (reason >= 0x80) refused++;
}

static void fail(const char *what, int rc) {
    fprintf(stderr, "flood_pub: %s: %s\n", what, mosquitto_strerror(rc));
    exit(1);
}

// One pass of the network loop; only a broken connection is fatal.
static void pump(struct mosquitto *m, int timeout_ms) {
    int rc = mosquitto_loop(m, timeout_ms, 1);
    if (rc != MOSQ_ERR_SUCCESS) fail("loop", rc);
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: %s PORT QOS N [RATE_MSG_PER_S] [SEED]\n", argv[0]);
        return 2;
    }
    int port = atoi(argv[1]);
    int qos = atoi(argv[2]);
    long n = atol(argv[3]);
    double rate = argc > 4 ? atof(argv[4]) : 0.0;
    rng = argc > 5 ? strtoull(argv[5], NULL, 10) : 1;
    rng = rng * 0x9E3779B97F4A7C15ULL + 0x2545F4914F6CDD1DULL;
    if (!rng) rng = 1;
    if (port <= 0 || qos < 0 || qos > 1 || n <= 0 || rate < 0) {
        fprintf(stderr, "flood_pub: bad arguments (qos must be 0 or 1)\n");
        return 2;
    }

    mosquitto_lib_init();
    char cid[64];
    snprintf(cid, sizeof cid, "flood-pub-%d", (int)getpid());
    struct mosquitto *m = mosquitto_new(cid, true, NULL);
    if (!m) { perror("mosquitto_new"); return 1; }
    mosquitto_int_option(m, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V5);
    mosquitto_int_option(m, MOSQ_OPT_SEND_MAXIMUM, WINDOW);
    mosquitto_connect_v5_callback_set(m, on_connect);
    mosquitto_disconnect_v5_callback_set(m, on_disconnect);
    mosquitto_publish_v5_callback_set(m, on_publish);

    int rc = mosquitto_connect_bind_v5(m, "127.0.0.1", port, 60, NULL, NULL);
    if (rc != MOSQ_ERR_SUCCESS) fail("connect", rc);
    double deadline = mono_s() + 10;
    while (!connected && !conn_failed) {
        pump(m, 100);
        if (mono_s() > deadline) { fprintf(stderr, "flood_pub: no CONNACK within 10 s\n"); return 1; }
    }
    if (conn_failed) return 1;

    const char *marks_file = getenv("MARKS_FILE");
    if (marks_file && !*marks_file) marks_file = NULL;
    long mark_every = getenv("MARK_EVERY") ? atol(getenv("MARK_EVERY")) : 1000;
    if (marks_file && mark_every <= 0) { fprintf(stderr, "flood_pub: MARK_EVERY must be > 0\n"); return 2; }
    struct mark { long index; int64_t us; } *marks = NULL;
    long nmarks = 0, mark_countdown = mark_every;
    if (marks_file) {
        marks = malloc(sizeof *marks * (size_t)(n / mark_every + 1));
        if (!marks) { perror("malloc"); return 1; }
    }

    char topic[NDEV][64], payload[256];
    for (size_t d = 0; d < NDEV; d++) snprintf(topic[d], sizeof topic[d], "zhizao/v1/ws-assembly/%s", devices[d]);
    int64_t ts0 = wall_ms() - n;
    long payload_bytes = 0;

    double t0 = mono_s();
    for (long i = 0; i < n; i++) {
        if (rate > 0) {  // paced: message i is due at t0 + i / rate
            double due = t0 + (double)i / rate;
            for (double now = mono_s(); now < due; now = mono_s()) {
                double left = due - now;
                if (left >= 0.002) pump(m, (int)(left * 1000));
                else { struct timespec s = {0, (long)(left * 1e9)}; nanosleep(&s, NULL); }
            }
        }
        // Keep at most WINDOW unacknowledged (QoS 1) or unwritten (QoS 0) messages.
        while (i - done >= WINDOW) pump(m, 10);
        if ((i & 63) == 63) pump(m, 0);  // take in PUBACKs, flush queued writes

        size_t d = (size_t)i % NDEV;
        double power = 2.0 + 40.0 * next_unit();
        int len = snprintf(payload, sizeof payload,
                           "{\"device\":\"%s\",\"ts\":%lld,\"seq\":%ld,\"metrics\":{\"power\":%.4f}}",
                           devices[d], (long long)(ts0 + i), i, power);
        payload_bytes += len;
        rc = mosquitto_publish_v5(m, NULL, topic[d], len, payload, qos, false, NULL);
        if (rc != MOSQ_ERR_SUCCESS) fail("publish", rc);
        if (marks && --mark_countdown == 0) {
            marks[nmarks].index = i + 1;
            marks[nmarks++].us = wall_us();
            mark_countdown = mark_every;
        }
    }
    while (done < n) pump(m, 10);
    double secs = mono_s() - t0;

    mosquitto_disconnect_v5(m, 0, NULL);
    deadline = mono_s() + 2;
    while (connected && mono_s() < deadline) {
        if (mosquitto_loop(m, 50, 1) != MOSQ_ERR_SUCCESS) break;
    }
    mosquitto_destroy(m);
    mosquitto_lib_cleanup();

    if (marks) {
        char tmp[4096];
        snprintf(tmp, sizeof tmp, "%s.tmp", marks_file);
        FILE *f = fopen(tmp, "w");
        if (!f) { perror(tmp); return 1; }
        for (long k = 0; k < nmarks; k++) fprintf(f, "%ld %lld\n", marks[k].index, (long long)marks[k].us);
        if (fclose(f) != 0 || rename(tmp, marks_file) != 0) { perror(marks_file); return 1; }
        free(marks);
    }

    fprintf(stderr, "flood_pub: avg_payload_bytes=%.1f refused_pubacks=%ld\n", (double)payload_bytes / (double)n, refused);
    printf("PUB messages=%ld seconds=%.3f msgs_per_s=%.0f\n", n, secs, secs > 0 ? (double)n / secs : 0.0);
    return refused ? 1 : 0;
}
