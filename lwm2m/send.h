/* Send (POST /dp, LwM2M 1.1+) and notification storing (/1/x/6) for one
 * client.  Shared by client.c, engine.c and observe.c (hooks only); the
 * device layer configures what is sent with lwm_client_send_config
 * (client.h). */
#ifndef LWM_SEND_H
#define LWM_SEND_H

#include <coap3/coap.h>

#include "client.h"
#include "store.h"

struct lwm_report;

/* Set up at lwm_client_new (after the core objects); freed with the client. */
int lwm_report_new(struct lwm_client *c, const struct lwm_client_config *cfg);
void lwm_report_free(struct lwm_client *c);

/* Is Notification Storing (/1/x/6) on? */
bool lwm_report_storing(struct lwm_client *c);
/* The server is unreachable although the registration may live (a CON
 * notification went unacknowledged): hold notifications back, store them,
 * and probe with an Update. */
void lwm_report_offline(struct lwm_client *c, const char *why);
/* True while notifications must be held back (offline). */
bool lwm_report_holding(const struct lwm_client *c);
/* Keep a notification that cannot go out now; key names its observation
 * (lwm_report_obs_key), hqmax its 1.2 bound (0: none).  False when
 * storing is off (the caller counts it lost). */
bool lwm_report_store(struct lwm_client *c, uint64_t key, uint32_t hqmax, int64_t time_s,
		      const struct lwm_record *recs, size_t n);
uint64_t lwm_report_obs_key(const uint8_t *token, size_t len);

/* An Update succeeded: the registration and its observations survived. */
void lwm_report_online(struct lwm_client *c);
/* A new registration succeeded (observations already dropped). */
void lwm_report_registered(struct lwm_client *c);

/* engine.c: a response to / failure of one of our Sends; true when it
 * was one. */
bool lwm_send_response(struct lwm_client *c, const coap_pdu_t *rcvd);
bool lwm_send_nack(struct lwm_client *c, const coap_pdu_t *sent, coap_nack_reason_t reason);
/* observe.c: the value at p changed (Send on change). */
void lwm_send_changed(struct lwm_client *c, const struct lwm_path *p);

#endif
