/* POST /dp (Send): the records of a SenML payload with their times. */
#ifndef LWM_TEST_SERVER_SEND_H
#define LWM_TEST_SERVER_SEND_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* Adds key: [{path, value, time}] (names bn + n, times bt + t), or
 * "decode_error".  ct: 110 SenML JSON, 112 SenML CBOR. */
void send_add_records(json_t *ev, const char *key, int ct, const uint8_t *p, size_t len);

#endif
