/* Server URIs and request options shared by the registration (client.c)
 * and bootstrap (bootstrap.c) clients. */
#ifndef LWM_URI_H
#define LWM_URI_H

#include <stdbool.h>
#include <stddef.h>

#include <coap3/coap.h>

/* coap://host[:port] or coaps://... to a socket address; *secure tells
 * which.  -EINVAL (not a URI), -EPROTONOSUPPORT (another scheme) or
 * -EHOSTUNREACH (the name does not resolve).  A numeric address never
 * blocks; a host name blocks once, at start-up. */
int lwm_uri_resolve(const char *uri, coap_address_t *out, bool *secure);
/* The URI's host into buf (the name a server certificate must carry by
 * default); NULL when it is not a URI or does not fit. */
const char *lwm_uri_host(const char *uri, char *buf, size_t size);
/* Append one Uri-Query option "key=value" (left out when over 300 bytes). */
void lwm_add_query(coap_optlist_t **opts, const char *key, const char *value);

#endif
