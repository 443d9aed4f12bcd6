/* Event output: one compact JSON object per line, or human-readable lines
 * in demo mode (rendered from the same JSON event). */
#ifndef TS_OUTPUT_H
#define TS_OUTPUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

void out_init(bool human);

/* Print and flush one event; takes the reference to ev. */
void out_emit(json_t *ev);

/* New event object {"event": name}. */
json_t *out_event(const char *name);

/* Shorthand for {"event":"error","id":id,"ep":ep,"msg":...}; id, ep may be NULL. */
void out_error(const char *id, const char *ep, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Add payload fields to a response/notify event: "ct" (ct < 0: absent),
 * "payload_hex", "payload_text" for text formats, and "records" decoded
 * against base_path (or "decode_error"). */
void out_add_payload(json_t *ev, const char *base_path, int ct, const uint8_t *p, size_t len);

/* json_string that never fails on bad UTF-8 (invalid bytes become '?'). */
json_t *out_string(const char *s, size_t len);

#endif
