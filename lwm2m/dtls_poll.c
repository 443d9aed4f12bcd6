/* DTLS sessions on any descriptor: our own GnuTLS pull-timeout function.
 *
 * GnuTLS asks the pull-timeout function whether a record is there to read, and decides
 * on it: "no" while a handshake flight waits for its answer makes it send the flight
 * again once the retransmission time has come.  libcoap 4.3.1 answers with select()
 * on the session's socket, which aborts the process for a descriptor at or above
 * FD_SETSIZE (1,024), and it must also say "yes" for a datagram it has already read off
 * the socket and holds for GnuTLS's pull function (coap_dgram_read).
 *
 * Ours answers the same question with poll(), which takes any descriptor:
 *  - a datagram libcoap holds: "yes".  libcoap does not say whether it holds one, so
 *    we ask its pull function for it, keep what it gives, and hand that to GnuTLS
 *    first when it reads (our pull function wraps libcoap's);
 *  - otherwise whether the socket has a datagram waiting.
 * libcoap's answer differs in one case: outside a retransmission timeout it also says
 * "yes" when the socket is merely writable (always, for UDP), so that GnuTLS tries a
 * read, gets EAGAIN and waits.  Ours says "no" there, which lets GnuTLS resend a flight
 * whose retransmission time has come at that moment rather than at libcoap's next
 * timer: the same flight, the same schedule (GnuTLS keeps its own timer).
 *
 * How it gets there.  libcoap installs its functions on a new GnuTLS session and runs
 * the first handshake step, which already asks, inside coap_new_client_session_*():
 * nothing of ours runs in between.  gatewayd's executable therefore defines the two
 * GnuTLS setters itself and exports them (-Wl,--export-dynamic-symbol in
 * gatewayd/local.mk): the dynamic linker binds libcoap's calls to them, and for
 * libcoap's own functions (recognised by the object they live in) they install ours.
 * Any other caller's functions pass through untouched.  Programs without the export
 * (the unit tests) keep libcoap's, and lwm_dtls_poll_adopt then refuses a session on a
 * descriptor select() cannot take, as before.
 *
 * GnuTLS calls both with the transport pointer, which libcoap sets to the
 * coap_session_t; the GnuTLS session's user pointer (which libcoap does not use)
 * carries the socket's descriptor + 1 once lwm_dtls_poll_adopt has found it.  Until
 * then (the first handshake step) there is no descriptor to poll and the answer is
 * libcoap's "yes". */
#include "dtls_poll.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gnutls/gnutls.h>

#include "gatewayd/log.h"

/* How far past the probe to look when another thread took that descriptor first. */
#define SCAN_MAX 64

/* libcoap's pull function, and the one datagram taken from it to answer "is there
 * data?" and not yet handed to GnuTLS.  Only the loop thread runs libcoap, and GnuTLS
 * reads it in the same call that asked. */
static gnutls_pull_func coap_pull;
static struct {
	gnutls_transport_ptr_t owner;
	size_t len;
	uint8_t data[65536];
} held;

/* The last GnuTLS session that got our pull-timeout function. */
static gnutls_session_t replaced;

int lwm_dtls_poll_probe(void)
{
	int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

	if (fd >= 0)
		close(fd);
	return fd;
}

/* What was held for another session is stale: GnuTLS reads a held datagram in the
 * call that asked, so a different session asking means it never will (and that
 * session's memory may since have been reused by this one). */
static void drop_stale(gnutls_transport_ptr_t ptr)
{
	if (held.owner && held.owner != ptr) {
		held.owner = NULL;
		held.len = 0;
	}
}

static ssize_t pull(gnutls_transport_ptr_t ptr, void *buf, size_t len)
{
	drop_stale(ptr);
	if (held.owner == ptr && held.len) {
		size_t n = held.len < len ? held.len : len; /* a datagram: the rest is cut */

		memcpy(buf, held.data, n);
		held.len = 0;
		held.owner = NULL;
		return (ssize_t)n;
	}
	return coap_pull(ptr, buf, len);
}

static int pull_timeout(gnutls_transport_ptr_t ptr, unsigned int ms)
{
	coap_tls_library_t lib;
	gnutls_session_t g;
	struct pollfd p = {.fd = -1, .events = POLLIN};
	int saved = errno, r;
	ssize_t n;

	/* libcoap's sessions are non-blocking: GnuTLS asks with ms 0, and libcoap's
	 * function ignores ms as well. */
	(void)ms;
	drop_stale(ptr);
	if (held.owner == ptr && held.len)
		return 1;
	n = coap_pull(ptr, held.data, sizeof(held.data));
	errno = saved;
	if (n > 0) {
		held.owner = ptr;
		held.len = (size_t)n;
		return 1;
	}
	g = coap_session_get_tls((coap_session_t *)ptr, &lib);
	if (g && lib == COAP_TLS_LIBRARY_GNUTLS)
		p.fd = (int)(intptr_t)gnutls_session_get_ptr(g) - 1;
	if (p.fd < 0)
		return 1;
	r = poll(&p, 1, 0);
	return r < 0 ? -1 : r > 0;
}

/* Is this function libcoap's (in the libcoap library's mapping)? */
static bool from_libcoap(const void *fn)
{
	Dl_info info;

	return fn && dladdr(fn, &info) && info.dli_fname && strstr(info.dli_fname, "libcoap");
}

/* The real GnuTLS function of this name, or NULL. */
static void *real_gnutls(const char *name)
{
	return dlsym(RTLD_NEXT, name);
}

/* Default visibility: the build hides everything else (-fvisibility=hidden). */
__attribute__((visibility("default"))) void
gnutls_transport_set_pull_function(gnutls_session_t session, gnutls_pull_func func);
__attribute__((visibility("default"))) void
gnutls_transport_set_pull_timeout_function(gnutls_session_t session,
					   gnutls_pull_timeout_func func);

void gnutls_transport_set_pull_function(gnutls_session_t session, gnutls_pull_func func)
{
	static void (*real)(gnutls_session_t, gnutls_pull_func);

	if (!real)
		*(void **)&real = real_gnutls("gnutls_transport_set_pull_function");
	if (!real)
		return; /* cannot happen with GnuTLS loaded; the session then fails */
	if (from_libcoap((const void *)func)) {
		coap_pull = func;
		func = pull;
	}
	real(session, func);
}

void gnutls_transport_set_pull_timeout_function(gnutls_session_t session,
						 gnutls_pull_timeout_func func)
{
	static void (*real)(gnutls_session_t, gnutls_pull_timeout_func);

	if (!real)
		*(void **)&real = real_gnutls("gnutls_transport_set_pull_timeout_function");
	if (!real)
		return;
	/* libcoap sets its pull function first; without it ours cannot answer. */
	if (coap_pull && from_libcoap((const void *)func)) {
		func = pull_timeout;
		replaced = session;
	}
	real(session, func);
}

static bool same_addr(const struct sockaddr_storage *a, const coap_address_t *b)
{
	if (!b || a->ss_family != b->addr.sa.sa_family)
		return false;
	if (a->ss_family == AF_INET) {
		const struct sockaddr_in *x = (const struct sockaddr_in *)a;
		return x->sin_port == b->addr.sin.sin_port &&
		       x->sin_addr.s_addr == b->addr.sin.sin_addr.s_addr;
	}
	if (a->ss_family == AF_INET6) {
		const struct sockaddr_in6 *x = (const struct sockaddr_in6 *)a;
		return x->sin6_port == b->addr.sin6.sin6_port &&
		       memcmp(&x->sin6_addr, &b->addr.sin6.sin6_addr, sizeof(x->sin6_addr)) == 0;
	}
	return false;
}

/* Is fd the socket of s: a datagram socket with s's local and remote addresses (the
 * local port alone tells it apart from every other socket)? */
static bool is_socket_of(int fd, const coap_session_t *s)
{
	struct sockaddr_storage local, peer;
	socklen_t ll = sizeof(local), pl = sizeof(peer);
	int type;
	socklen_t tl = sizeof(type);

	return fd >= 0 && getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl) == 0 &&
	       type == SOCK_DGRAM && getsockname(fd, (struct sockaddr *)&local, &ll) == 0 &&
	       getpeername(fd, (struct sockaddr *)&peer, &pl) == 0 &&
	       same_addr(&local, coap_session_get_addr_local(s)) &&
	       same_addr(&peer, coap_session_get_addr_remote(s));
}

int lwm_dtls_poll_adopt(coap_session_t *s, int probe)
{
	static bool told_missing, told_select;
	coap_tls_library_t lib;
	gnutls_session_t g = coap_session_get_tls(s, &lib);
	int fd = -1;

	if (g && lib == COAP_TLS_LIBRARY_GNUTLS && probe >= 0)
		for (int i = probe; i < probe + SCAN_MAX && fd < 0; i++)
			if (is_socket_of(i, s))
				fd = i;
	if (fd < 0) {
		if (!told_missing)
			log_err(NULL, "cannot find the socket of a new DTLS session (libcoap "
				"not built with GnuTLS?): refusing the session");
		told_missing = true;
		errno = EMFILE;
		return -1;
	}
	if (g != replaced) {
		/* libcoap's own select()-based function is in place. */
		if (fd < FD_SETSIZE)
			return 0;
		if (!told_select)
			log_err(NULL, "a DTLS session got descriptor %d, which libcoap's "
				"select() cannot take, and this program does not replace "
				"libcoap's function: refusing the session", fd);
		told_select = true;
		errno = EMFILE;
		return -1;
	}
	gnutls_session_set_ptr(g, (void *)(intptr_t)(fd + 1));
	return 0;
}
