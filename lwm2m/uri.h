/* Server URIs and request options shared by the registration (client.c)
 * and bootstrap (bootstrap.c) clients. */
#ifndef LWM_URI_H
#define LWM_URI_H

#include <stdbool.h>
#include <stddef.h>

#include <coap3/coap.h>

/* coap://host[:port] or coaps://... split into host and port (the
 * scheme's default when absent); *secure tells which scheme.  No I/O.
 * -EINVAL (not a URI, or the host does not fit) or -EPROTONOSUPPORT
 * (another scheme). */
int lwm_uri_split(const char *uri, char *host, size_t host_size, char port[8], bool *secure);
/* host:port as a socket address when host is a numeric address (never
 * blocks); -EAGAIN when it is a name, which needs lwm_uri_lookup. */
int lwm_uri_numeric(const char *host, const char *port, coap_address_t *out);
/* Resolve a name: blocks for as long as the system resolver takes, so it
 * runs on a resolver thread (gatewayd/resolver.c), or on the loop thread
 * only where there is no resolver (tools and tests, lwm_engine_set_resolver).
 * -EHOSTUNREACH when the name does not resolve. */
int lwm_uri_lookup(const char *host, const char *port, coap_address_t *out);
/* The URI's host into buf (the name a server certificate must carry by
 * default); NULL when it is not a URI or does not fit. */
const char *lwm_uri_host(const char *uri, char *buf, size_t size);
/* Append one Uri-Query option "key=value" (left out when over 300 bytes). */
void lwm_add_query(coap_optlist_t **opts, const char *key, const char *value);

#endif
