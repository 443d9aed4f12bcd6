/* Requests too large for libcoap's datagram: see oversize.h. */
#include "oversize.h"

#include <stdint.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "gatewayd/log.h"

/* CoAP (RFC 7252 3): version 1 in the top two bits of the first byte.  A
 * DTLS record starts with its content type (20..25): version bits 0. */
#define COAP_VERSION_BITS 0x40u
#define COAP_CON 0u
#define CODE_413 ((4u << 5) | 13u)
#define OPT_BLOCK1 27u

bool lwm_oversize_take(int fd, size_t mtu)
{
	uint8_t head[12], out[4 + 8 + 3];
	struct iovec iov = {.iov_base = head, .iov_len = sizeof(head)};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
	unsigned type, tkl, code;
	size_t len;
	/* recvmsg, not recv: with MSG_TRUNC both return the datagram's whole
	 * length, and ASan's recv interceptor takes that for the bytes written
	 * into head (its recvmsg one goes by the iovec). */
	ssize_t n = recvmsg(fd, &mh, MSG_PEEK | MSG_TRUNC | MSG_DONTWAIT);

	if (n < 4 || (size_t)n <= mtu)
		return false;
	if ((head[0] & 0xc0u) != COAP_VERSION_BITS)
		return false; /* DTLS, or not CoAP: libcoap's to judge */
	type = (head[0] >> 4) & 3u;
	tkl = head[0] & 0x0fu;
	code = head[1];
	/* Only confirmable requests (class 0, code 1..31) are answered; an
	 * oversized response, empty or non-confirmable message stays libcoap's
	 * (LwM2M servers send their requests confirmable). */
	if (tkl > 8 || code == 0 || (code >> 5) != 0 || type != COAP_CON)
		return false;
	/* Take it off the socket (only the head is kept). */
	if (recv(fd, head, sizeof(head), MSG_DONTWAIT) < 4)
		return false;
	/* The answer, piggybacked on the ACK: the request's message ID and
	 * token; Block1 NUM 0, M 0, SZX 6 (1,024 bytes) as its one option. */
	out[0] = (uint8_t)(COAP_VERSION_BITS | (2u << 4) | tkl);
	out[1] = CODE_413;
	out[2] = head[2];
	out[3] = head[3];
	for (unsigned i = 0; i < tkl; i++)
		out[4 + i] = head[4 + i];
	len = 4u + tkl;
	/* Option delta 27 takes the one-byte extension (nibble 13, then
	 * 27 - 13); length 1. */
	out[len++] = (uint8_t)(13u << 4 | 1u);
	out[len++] = (uint8_t)(OPT_BLOCK1 - 13u);
	out[len++] = 6u; /* SZX 6 */
	if (send(fd, out, len, MSG_DONTWAIT) < 0)
		log_debug(NULL, "4.13 to an oversized request (%zd bytes): %m", n);
	else
		log_info(NULL, "a request of %zd bytes (more than %zu) answered 4.13: use Block1",
			 n, mtu);
	return true;
}
