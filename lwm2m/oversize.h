/* Requests too large for one datagram's worth of libcoap.
 *
 * libcoap 4.3.1 parses a datagram into a PDU no larger than the session's
 * MTU (1,152 bytes, RFC 7252's safe size) and answers anything longer with
 * a Reset of message ID 0, which a server cannot match to its request; a
 * datagram longer than its receive buffer (1,472 bytes) it would even read
 * cut short.  So, before libcoap reads a device's plain-CoAP socket, the
 * engine looks at the size of the datagram waiting there (MSG_PEEK |
 * MSG_TRUNC): a confirmable request longer than the MTU is taken off the socket here
 * and answered 4.13 Request Entity Too Large with a Block1 option of 1,024
 * bytes (RFC 7959 2.9.3: "send it block-wise, blocks of this size").
 * Anything else, and every DTLS record (encrypted: its CoAP size is not
 * known here), is left for libcoap. */
#ifndef LWM_OVERSIZE_H
#define LWM_OVERSIZE_H

#include <stdbool.h>
#include <stddef.h>

/* The largest datagram libcoap 4.3.1 takes from a session of default MTU. */
#define LWM_OVERSIZE_MTU 1152u

/* Look at the datagram waiting on fd (a connected UDP socket); when it is a
 * confirmable CoAP request longer than mtu bytes, consume it, answer 4.13 on fd and
 * return true.  Never blocks. */
bool lwm_oversize_take(int fd, size_t mtu);

#endif
