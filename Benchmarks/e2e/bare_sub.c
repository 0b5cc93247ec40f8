// bare_sub.c - the baseline for the end-to-end ingest benchmark: a libmosquitto subscriber
// that does nothing with a message but count it. Whatever the daemon costs beyond this is
// decoding, SQLite and its own bookkeeping.
//
// usage: bare_sub PORT TOPIC_FILTER QOS N IDLE_TIMEOUT_S [START_TIMEOUT_S]
//
// MQTT v5, clean start, receive maximum 65535 (as the daemon asks for), single-threaded:
// mosquitto_loop() on the main thread. Writes "SUBSCRIBED" to stderr once the SUBACK is in,
// so a script can start the publisher. Exits after N messages, or IDLE_TIMEOUT_S seconds
// without a message once the first one arrived, or START_TIMEOUT_S (default 300) seconds
// without any message. Prints one line:
//   BARE messages=<n> first_to_last_s=<s> msgs_per_s=<r> cpu_s=<s> cpu_us_per_msg=<x>
// msgs_per_s = messages / first_to_last_s (the daemon's readings_per_s is defined the same
// way); cpu_s is user+sys of this whole process (getrusage), connect and idle wait included.
// Build: gcc -O2 -o bare_sub bare_sub.c -lmosquitto
#define _GNU_SOURCE
#include <mosquitto.h>
#include <mqtt_protocol.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

static const char *filter;
static int qos;
static long expected, received;
static double first_at, last_at;
static int failed;

static double mono_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void on_connect(struct mosquitto *m, void *ud, int rc, int flags, const mosquitto_property *props) {
    (void)ud; (void)flags; (void)props;
    if (rc != 0) {
        fprintf(stderr, "bare_sub: connection refused: %s\n", mosquitto_reason_string(rc));
        failed = 1;
        return;
    }
    int sub_rc = mosquitto_subscribe_v5(m, NULL, filter, qos, 0, NULL);
    if (sub_rc != MOSQ_ERR_SUCCESS) {
        fprintf(stderr, "bare_sub: subscribe: %s\n", mosquitto_strerror(sub_rc));
        failed = 1;
    }
}

static void on_subscribe(struct mosquitto *m, void *ud, int mid, int n, const int *granted,
                         const mosquitto_property *props) {
    (void)m; (void)ud; (void)mid; (void)props;
    if (n < 1 || granted[0] > 2) {
        fprintf(stderr, "bare_sub: subscription refused\n");
        failed = 1;
        return;
    }
    fprintf(stderr, "SUBSCRIBED granted_qos=%d\n", granted[0]);
    fflush(stderr);
}

static void on_message(struct mosquitto *m, void *ud, const struct mosquitto_message *msg,
                       const mosquitto_property *props) {
    (void)m; (void)ud; (void)msg; (void)props;
    double t = mono_s();
    if (received == 0) first_at = t;
    last_at = t;
    received++;
}

int main(int argc, char **argv) {
    if (argc < 6) {
        fprintf(stderr, "usage: %s PORT TOPIC_FILTER QOS N IDLE_TIMEOUT_S [START_TIMEOUT_S]\n", argv[0]);
        return 2;
    }
    int port = atoi(argv[1]);
    filter = argv[2];
    qos = atoi(argv[3]);
    expected = atol(argv[4]);
    double idle_s = atof(argv[5]);
    double start_s = argc > 6 ? atof(argv[6]) : 300.0;
    if (port <= 0 || qos < 0 || qos > 2 || expected <= 0 || idle_s <= 0) {
        fprintf(stderr, "bare_sub: bad arguments\n");
        return 2;
    }

    mosquitto_lib_init();
    char cid[64];
    snprintf(cid, sizeof cid, "bare-sub-%d", (int)getpid());
    struct mosquitto *m = mosquitto_new(cid, true, NULL);
    if (!m) { perror("mosquitto_new"); return 1; }
    mosquitto_int_option(m, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V5);
    mosquitto_int_option(m, MOSQ_OPT_RECEIVE_MAXIMUM, 65535);
    mosquitto_connect_v5_callback_set(m, on_connect);
    mosquitto_subscribe_v5_callback_set(m, on_subscribe);
    mosquitto_message_v5_callback_set(m, on_message);

    int rc = mosquitto_connect_bind_v5(m, "127.0.0.1", port, 60, NULL, NULL);
    if (rc != MOSQ_ERR_SUCCESS) {
        fprintf(stderr, "bare_sub: connect: %s\n", mosquitto_strerror(rc));
        return 1;
    }

    double started = mono_s();
    while (!failed && received < expected) {
        rc = mosquitto_loop(m, 100, 1);
        if (rc != MOSQ_ERR_SUCCESS) {
            fprintf(stderr, "bare_sub: loop: %s\n", mosquitto_strerror(rc));
            failed = 1;
            break;
        }
        double now = mono_s();
        if (received == 0 && now - started > start_s) {
            fprintf(stderr, "bare_sub: no message within %.0f s\n", start_s);
            break;
        }
        if (received > 0 && now - last_at > idle_s) {
            fprintf(stderr, "bare_sub: idle for %.1f s after %ld of %ld messages\n", idle_s, received, expected);
            break;
        }
    }

    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double cpu = (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec)
               + (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
    double span = received > 1 ? last_at - first_at : 0.0;
    printf("BARE messages=%ld first_to_last_s=%.3f msgs_per_s=%.0f cpu_s=%.3f cpu_us_per_msg=%.2f\n",
           received, span, span > 0 ? (double)received / span : 0.0, cpu,
           received > 0 ? cpu * 1e6 / (double)received : 0.0);
    fflush(stdout);

    mosquitto_disconnect_v5(m, 0, NULL);
    mosquitto_loop(m, 100, 1);
    mosquitto_destroy(m);
    mosquitto_lib_cleanup();
    return failed ? 1 : 0;
}
