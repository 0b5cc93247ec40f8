#ifndef ZHIZAO_CMOSQUITTO_SHIM_H
#define ZHIZAO_CMOSQUITTO_SHIM_H
#include <mosquitto.h>
#include <mqtt_protocol.h>
#include <errno.h>

/* errno as libmosquitto leaves it after mosquitto_loop_read: Swift cannot read the errno macro. */
static inline int zhizao_errno(void) { return errno; }
static inline void zhizao_clear_errno(void) { errno = 0; }
#endif
