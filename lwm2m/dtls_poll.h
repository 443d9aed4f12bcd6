/* DTLS sessions on descriptors of 1,024 and above.
 *
 * libcoap 4.3.1's GnuTLS glue answers GnuTLS's "is there data?" question (the
 * transport's pull-timeout function) with select() on the session's socket, and
 * select() cannot take a descriptor at or above FD_SETSIZE (glibc aborts the process).
 * One process would carry about 1,000 DTLS devices.  Each DTLS session gets our own
 * pull-timeout function instead, built on poll() (see dtls_poll.c). */
#ifndef LWM_DTLS_POLL_H
#define LWM_DTLS_POLL_H

#include <coap3/coap.h>

/* The descriptor the next socket will get (the lowest free one), or -1. */
int lwm_dtls_poll_probe(void);

/* Take over the pull-timeout of a DTLS session just made, whose socket was expected
 * at descriptor probe.  0, or -1 when its socket cannot be found (logged once). */
int lwm_dtls_poll_adopt(coap_session_t *s, int probe);

#endif
