#include "uri.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>

int lwm_uri_split(const char *uri, char *host, size_t host_size, char port[8], bool *secure)
{
	coap_uri_t u;

	if (coap_split_uri((const uint8_t *)uri, strlen(uri), &u) < 0)
		return -EINVAL;
	if (u.scheme != COAP_URI_SCHEME_COAP && u.scheme != COAP_URI_SCHEME_COAPS)
		return -EPROTONOSUPPORT;
	*secure = u.scheme == COAP_URI_SCHEME_COAPS;
	if (u.host.length == 0 || u.host.length >= host_size)
		return -EINVAL;
	memcpy(host, u.host.s, u.host.length);
	host[u.host.length] = '\0';
	/* coap_split_uri fills in the scheme's default port (5683 / 5684). */
	snprintf(port, 8, "%u", u.port ? u.port : *secure ? 5684u : 5683u);
	return 0;
}

static int lookup(const char *host, const char *port, int flags, coap_address_t *out)
{
	struct addrinfo hints = {.ai_socktype = SOCK_DGRAM, .ai_flags = AI_NUMERICSERV | flags};
	struct addrinfo *res;
	int r = getaddrinfo(host, port, &hints, &res);

	if (r == EAI_NONAME && (flags & AI_NUMERICHOST))
		return -EAGAIN;
	if (r != 0)
		return -EHOSTUNREACH;
	coap_address_init(out);
	out->size = res->ai_addrlen;
	memcpy(&out->addr.sa, res->ai_addr, res->ai_addrlen);
	freeaddrinfo(res);
	return 0;
}

int lwm_uri_numeric(const char *host, const char *port, coap_address_t *out)
{
	return lookup(host, port, AI_NUMERICHOST, out);
}

int lwm_uri_lookup(const char *host, const char *port, coap_address_t *out)
{
	return lookup(host, port, 0, out);
}

const char *lwm_uri_host(const char *uri, char *buf, size_t size)
{
	coap_uri_t u;

	if (coap_split_uri((const uint8_t *)uri, strlen(uri), &u) < 0 || u.host.length >= size)
		return NULL;
	memcpy(buf, u.host.s, u.host.length);
	buf[u.host.length] = '\0';
	return buf;
}

void lwm_add_query(coap_optlist_t **opts, const char *key, const char *value)
{
	char q[300];
	int len = snprintf(q, sizeof(q), "%s=%s", key, value);

	if (len > 0 && (size_t)len < sizeof(q))
		coap_insert_optlist(opts, coap_new_optlist(COAP_OPTION_URI_QUERY, (size_t)len,
							   (const uint8_t *)q));
}
