/* Malformed CoAP reaching a device's client session.  A device's socket is
 * connected to its server, so only the server's address can reach it: here
 * the test itself is that server, on a raw UDP socket, because no real CoAP
 * stack will put broken bytes on the wire.  It accepts gatewayd's
 * registration, then sends garbage and bad requests and checks that each
 * gets the right error (or is dropped) and that the device keeps serving. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "harness.h"

static const char config_tmpl[] =
	"gateway = { name = \"mf\"; max_observations = 2; };\n"
	"servers = ( { name = \"raw\"; uri = \"coap://127.0.0.1:@PORT@\"; lifetime = 60; } );\n"
	"devices = ( { name = \"th\"; adapter = \"sim\";\n"
	"  points = ( { channel = \"h\"; path = \"/3304/0/5700\"; poll = 1.0;\n"
	"               waveform = \"constant\"; base = 45.5; } ); },\n"
	/* A device-routed writable text point (Addressable Text Display). */
	"  { name = \"disp\"; adapter = \"sim\";\n"
	"  points = ( { channel = \"t\"; path = \"/3341/0/5527\"; waveform = \"output\";\n"
	"               type = \"string\"; } ); } );\n";

/* Room for two 128 KiB strings in one instance: more than one read gives. */
static const char big_tmpl[] =
	"gateway = { name = \"mf\"; max_write_body = 131072; };\n"
	"servers = ( { name = \"raw\"; uri = \"coap://127.0.0.1:@PORT@\"; lifetime = 60; } );\n"
	"devices = ( { name = \"th\"; adapter = \"sim\";\n"
	"  points = ( { channel = \"h\"; path = \"/3304/0/5700\"; poll = 1.0;\n"
	"               waveform = \"constant\"; base = 45.5; } ); },\n"
	"  { name = \"disp\"; adapter = \"sim\";\n"
	"  points = ( { channel = \"t\"; path = \"/3341/0/5527\"; waveform = \"output\";\n"
	"               type = \"string\"; },\n"
	"             { channel = \"a\"; path = \"/3341/0/5750\"; waveform = \"output\";\n"
	"               type = \"string\"; } ); } );\n";

struct env {
	char *dir;
	int fd;
	struct sockaddr_in device; /* "th" */
	struct sockaddr_in disp;   /* "disp" */
	struct proc gw;
	uint16_t mid;
};

/* Receive one datagram within the deadline; -1 on timeout. */
static int recv_dgram(struct env *e, uint8_t *buf, size_t cap, int timeout_ms,
		      struct sockaddr_in *from)
{
	struct pollfd pfd = {.fd = e->fd, .events = POLLIN};
	socklen_t flen = sizeof(*from);

	if (poll(&pfd, 1, timeout_ms) != 1)
		return -1;
	return (int)recvfrom(e->fd, buf, cap, 0, (struct sockaddr *)from, &flen);
}

static int setup(void **state)
{
	const char *tmpl = *state ? *state : config_tmpl;
	struct env *e = calloc(1, sizeof(*e));
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t alen = sizeof(a);
	uint8_t buf[2048], ack[64];
	char *config;
	int n, tkl;

	*state = e;
	e->mid = 0x7000;
	e->dir = h_tmpdir();
	e->fd = socket(AF_INET, SOCK_DGRAM, 0);
	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	if (!e->dir || bind(e->fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    getsockname(e->fd, (struct sockaddr *)&a, &alen) < 0)
		return -1;
	config = h_write_config(e->dir, "gatewayd.conf", tmpl, ntohs(a.sin_port));
	if (h_start_gatewayd(&e->gw, e->dir, config) < 0)
		return -1;
	free(config);
	/* The Register requests, one per device: CON POST /rd?ep=... */
	for (bool th = false, disp = false; !th || !disp;) {
		struct sockaddr_in from;
		n = recv_dgram(e, buf, sizeof(buf), H_TIMEOUT_MS, &from);
		if (n < 4 || (buf[0] >> 4) != 0x4 || buf[1] != 0x02)
			return -1;
		tkl = buf[0] & 0x0f;
		if (memmem(buf, (size_t)n, "ep=mf-disp", 10)) {
			e->disp = from;
			disp = true;
		} else {
			e->device = from;
			th = true;
		}
		/* ACK 2.01 Created, same MID and token, Location-Path "rd" "1". */
		ack[0] = (uint8_t)(0x60 | tkl);
		ack[1] = 0x41;
		ack[2] = buf[2];
		ack[3] = buf[3];
		memcpy(ack + 4, buf + 4, (size_t)tkl);
		memcpy(ack + 4 + tkl, "\x82rd\x01" "1", 5);
		sendto(e->fd, ack, (size_t)(4 + tkl + 5), 0, (struct sockaddr *)&from,
		       sizeof(from));
	}
	return 0;
}

static int teardown(void **state)
{
	struct env *e = *state;

	h_stop(&e->gw, SIGKILL, 5000);
	close(e->fd);
	h_tmpdir_remove(e->dir);
	free(e);
	return 0;
}

/* Send a request to dst; return the reply's length (or -1 when none came). */
static int exchange_to(struct env *e, const struct sockaddr_in *dst, const uint8_t *req,
		       size_t len, uint8_t *reply, size_t cap, int timeout_ms)
{
	struct sockaddr_in from;
	int n;

	sendto(e->fd, req, len, 0, (const struct sockaddr *)dst, sizeof(*dst));
	for (;;) {
		n = recv_dgram(e, reply, cap, timeout_ms, &from);
		if (n < 0)
			return -1;
		/* Skip anything that is not an answer to this message (e.g. an
		 * Update from the client). */
		if (n >= 4 && (reply[0] >> 4 & 3) >= 2 && reply[2] == req[2] && reply[3] == req[3])
			return n;
	}
}

static int exchange(struct env *e, const uint8_t *req, size_t len, uint8_t *reply, size_t cap,
		    int timeout_ms)
{
	return exchange_to(e, &e->device, req, len, reply, cap, timeout_ms);
}

static void build_get(struct env *e, uint8_t *msg, size_t *len, const char *const *segs,
		      size_t nsegs, int accept)
{
	size_t n = 0;
	unsigned last = 0;

	e->mid++;
	msg[n++] = 0x41; /* CON, token length 1 */
	msg[n++] = 0x01; /* GET */
	msg[n++] = (uint8_t)(e->mid >> 8);
	msg[n++] = (uint8_t)e->mid;
	msg[n++] = 0x5a;
	for (size_t i = 0; i < nsegs; i++) {
		size_t sl = strlen(segs[i]);
		msg[n++] = (uint8_t)(((11 - last) << 4) | sl);
		memcpy(msg + n, segs[i], sl);
		n += sl;
		last = 11;
	}
	if (accept >= 0) {
		msg[n++] = (uint8_t)(((17 - last) << 4) | 1);
		msg[n++] = (uint8_t)accept;
	}
	*len = n;
}

static uint8_t code_of(const uint8_t *reply)
{
	return reply[1];
}

#define CODE(c, d) ((uint8_t)(((c) << 5) | (d)))

static void valid_read_still_answers(struct env *e)
{
	static const char *const segs[] = {"3304", "0", "5700"};
	uint8_t msg[64], reply[512];
	size_t len;
	int n;

	build_get(e, msg, &len, segs, 3, 0);
	n = exchange(e, msg, len, reply, sizeof(reply), H_TIMEOUT_MS);
	assert_true(n > 5);
	assert_int_equal(code_of(reply), CODE(2, 5));
	/* Payload after the 0xFF marker is the text value. */
	{
		const uint8_t *pm = memchr(reply + 5, 0xff, (size_t)n - 5);
		assert_non_null(pm);
		assert_int_equal(reply + n - pm - 1, 4);
		assert_memory_equal(pm + 1, "45.5", 4);
	}
}

static void reads_work_over_the_raw_server(void **state)
{
	valid_read_still_answers(*state);
}

static void unknown_critical_option_is_4_02(void **state)
{
	struct env *e = *state;
	uint8_t reply[256];
	/* CON GET /3304 with option 2049 (odd, so critical, and unassigned). */
	uint8_t msg[] = {0x41, 0x01, 0x12, 0x34, 0xAB, 0xB4, '3', '3', '0', '4',
			 0xE0, 0x06, 0xE9};
	int n = exchange(e, msg, sizeof(msg), reply, sizeof(reply), H_TIMEOUT_MS);

	assert_true(n >= 4);
	assert_int_equal(code_of(reply), CODE(4, 2));
	valid_read_still_answers(e);
}

static void non_lwm2m_paths_are_4_04(void **state)
{
	struct env *e = *state;
	static const char *const bad[][3] = {
		{"abc", NULL, NULL},      /* not a number */
		{"3304", "x", NULL},
		{"65535", NULL, NULL},    /* reserved id */
		{"3304", "0", "99999"},   /* out of range */
		{"03304", NULL, NULL},    /* leading zero */
	};
	uint8_t msg[64], reply[256];
	size_t len;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		size_t nsegs = bad[i][1] ? (bad[i][2] ? 3 : 2) : 1;
		build_get(e, msg, &len, bad[i], nsegs, -1);
		assert_true(exchange(e, msg, len, reply, sizeof(reply), H_TIMEOUT_MS) >= 4);
		assert_int_equal(code_of(reply), CODE(4, 4));
	}
}

static void garbage_is_dropped_and_harmless(void **state)
{
	struct env *e = *state;
	static const uint8_t junk[][8] = {
		{0x40},                                 /* truncated header */
		{0xff, 0xff, 0xff, 0xff, 0x00, 0x01},   /* version 3 */
		{0x4f, 0x01, 0x00, 0x01, 1, 2, 3},      /* token length 15 */
		{0x41, 0x01, 0x00, 0x02, 0x01, 0xF0},   /* option delta 15 (reserved) */
		{0x41, 0x01, 0x00, 0x03, 0x01, 0xBD},   /* extended length missing */
	};
	static const size_t lens[] = {1, 6, 7, 6, 6};

	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++)
		sendto(e->fd, junk[i], lens[i], 0, (struct sockaddr *)&e->device, sizeof(e->device));
	valid_read_still_answers(e);
}

static void unsupported_accept_is_4_06(void **state)
{
	struct env *e = *state;
	static const char *const segs[] = {"3304", "0"};
	uint8_t msg[64], reply[256];
	size_t len;

	build_get(e, msg, &len, segs, 2, 0); /* text/plain for an instance */
	assert_true(exchange(e, msg, len, reply, sizeof(reply), H_TIMEOUT_MS) >= 4);
	assert_int_equal(code_of(reply), CODE(4, 6));
}


/* ---- block-wise writes (issue 16 item 5) ------------------------------------ */

static size_t unhex(const char *hex, uint8_t *out)
{
	size_t n = 0;

	for (; hex[0] && hex[1]; hex += 2) {
		unsigned v;
		sscanf(hex, "%2x", &v);
		out[n++] = (uint8_t)v;
	}
	return n;
}

/* A crafted packet: the header and options as hex, then fill bytes of c. */
static size_t packet(uint8_t *out, const char *hex, int c, size_t fill)
{
	size_t n = unhex(hex, out);

	memset(out + n, c, fill);
	return n + fill;
}

/* The value of option num in a reply (-1: absent). */
static long reply_option(const uint8_t *m, int n, unsigned num)
{
	int i = 4 + (m[0] & 0x0f);
	unsigned opt = 0;

	while (i < n && m[i] != 0xff) {
		unsigned d = m[i] >> 4, l = m[i] & 0x0f;
		long v = 0;
		i++;
		if (d == 13)
			d = 13 + m[i++];
		else if (d == 14)
			d = 269 + (m[i] << 8 | m[i + 1]), i += 2;
		if (l == 13)
			l = 13 + m[i++];
		else if (l == 14)
			l = 269 + (m[i] << 8 | m[i + 1]), i += 2;
		opt += d;
		for (unsigned k = 0; k < l && k < 4; k++)
			v = v << 8 | m[i + k];
		i += (int)l;
		if (opt == num)
			return v;
	}
	return -1;
}

/* The final answer to request req whose reply was r (n bytes): r itself
 * when piggybacked, else the separate response with req's token (ACKed). */
static int final_answer(struct env *e, const struct sockaddr_in *dst, const uint8_t *req,
			uint8_t *r, int n, size_t cap)
{
	uint8_t tok[8];
	size_t tkl = req[0] & 0x0f;

	if (n < 4 || r[1] != 0)
		return n;
	memcpy(tok, req + 4, tkl);
	for (;;) {
		struct sockaddr_in from;
		n = recv_dgram(e, r, cap, H_TIMEOUT_MS, &from);
		if (n < 0)
			return -1;
		if (n >= 4 && r[1] >= 0x40 && (size_t)(r[0] & 0x0f) == tkl &&
		    memcmp(r + 4, tok, tkl) == 0) {
			if ((r[0] >> 4 & 3) == 0) {
				uint8_t ack[4] = {0x60, 0x00, r[2], r[3]};
				sendto(e->fd, ack, 4, 0, (const struct sockaddr *)dst, sizeof(*dst));
			}
			return n;
		}
	}
}

/* Read a path of dst block-wise (Block2, 1024-byte blocks) into out. */
static size_t read_blockwise(struct env *e, const struct sockaddr_in *dst,
			     const char *const *segs, size_t nsegs, uint8_t *out, size_t cap)
{
	uint8_t msg[64], reply[1400];
	size_t len = 0;

	for (unsigned num = 0;; num++) {
		size_t n;
		int rn;
		const uint8_t *pm;
		build_get(e, msg, &n, segs, nsegs, -1);
		msg[n++] = (uint8_t)(((23 - 11) << 4) | 1); /* Block2 */
		msg[n++] = (uint8_t)(num << 4 | 6);
		rn = exchange_to(e, dst, msg, n, reply, sizeof(reply), H_TIMEOUT_MS);
		assert_true(rn > 4);
		assert_int_equal(code_of(reply), CODE(2, 5));
		pm = memchr(reply + 4, 0xff, (size_t)rn - 4);
		assert_non_null(pm);
		assert_true(len + (size_t)(reply + rn - pm - 1) <= cap);
		memcpy(out + len, pm + 1, (size_t)(reply + rn - pm - 1));
		len += (size_t)(reply + rn - pm - 1);
		if (reply_option(reply, rn, 23) < 0 || !(reply_option(reply, rn, 23) & 8))
			return len;
	}
}

/* SIGTERM: the daemon de-registers (answered here) and exits 0. */
static void stops_cleanly(struct env *e)
{
	struct pollfd pfd[2] = {{.fd = e->fd, .events = POLLIN},
				{.fd = e->gw.pidfd, .events = POLLIN}};
	int status;

	assert_int_equal(kill(e->gw.pid, SIGTERM), 0);
	for (;;) {
		assert_true(poll(pfd, 2, H_TIMEOUT_MS) > 0);
		if (pfd[1].revents)
			break;
		if (pfd[0].revents) {
			uint8_t m[1400];
			struct sockaddr_in from;
			int n = recv_dgram(e, m, sizeof(m), 0, &from);
			/* CON DELETE /rd/1: ACK 2.02 Deleted. */
			if (n >= 4 && (m[0] >> 4) == 4 && m[1] == 0x04) {
				m[0] = (uint8_t)(0x60 | (m[0] & 0x0f));
				m[1] = 0x42;
				sendto(e->fd, m, (size_t)(4 + (m[0] & 0x0f)), 0,
				       (struct sockaddr *)&from, sizeof(from));
			}
		}
	}
	status = h_wait_exit(&e->gw, H_TIMEOUT_MS);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		h_dump_file(h_strf("%s/gatewayd.log", e->dir));
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

static const char *const disp_text[] = {"3341", "0", "5527"};

/* The packets: PUT /3341/0/5527 text in three blocks, no Size1. */
static void block1_without_size1_is_written_whole(void **state)
{
	struct env *e = *state;
	static uint8_t pkt[1200], reply[1400], back[4096];
	size_t len;
	int n;

	len = packet(pkt, "43030064544b33b4333334310130043535323710d1020eff", 'A', 1024);
	n = exchange_to(e, &e->disp, pkt, len, reply, sizeof(reply), H_TIMEOUT_MS);
	assert_true(n >= 4);
	assert_int_equal(code_of(reply), CODE(2, 31));
	assert_int_equal(reply_option(reply, n, 27), 0x0e);
	len = packet(pkt, "43030065544b33b4333334310130043535323710d1021eff", 'A', 1024);
	n = exchange_to(e, &e->disp, pkt, len, reply, sizeof(reply), H_TIMEOUT_MS);
	assert_true(n >= 4);
	assert_int_equal(code_of(reply), CODE(2, 31));
	assert_int_equal(reply_option(reply, n, 27), 0x1e);
	len = packet(pkt, "43030066544b33b4333334310130043535323710d10226ff", 'A', 952);
	n = exchange_to(e, &e->disp, pkt, len, reply, sizeof(reply), H_TIMEOUT_MS);
	n = final_answer(e, &e->disp, pkt, reply, n, sizeof(reply));
	assert_true(n >= 4);
	assert_int_equal(code_of(reply), CODE(2, 4));
	/* The last block is acknowledged as such. */
	assert_int_equal(reply_option(reply, n, 27), 0x26);
	/* The whole body was written: 3000 bytes back. */
	len = read_blockwise(e, &e->disp, disp_text, 3, back, sizeof(back));
	assert_int_equal(len, 3000);
	for (size_t i = 0; i < len; i++)
		assert_int_equal(back[i], 'A');
	valid_read_still_answers(e);
	stops_cleanly(e);
}

/* The same body with a truthful Size1 (as libcoap's client sends it). */
static void block1_with_size1_is_written_whole(void **state)
{
	struct env *e = *state;
	static uint8_t pkt[1200], reply[1400], back[4096];
	static const char *const hdr[] = {
		"43030164544b34b4333334310130043535323710d1020ed2140bb8ff",
		"43030165544b34b4333334310130043535323710d1021ed2140bb8ff",
		"43030166544b34b4333334310130043535323710d10226d2140bb8ff",
	};
	size_t len;
	int n;

	for (int i = 0; i < 3; i++) {
		len = packet(pkt, hdr[i], 'a' + i, i < 2 ? 1024 : 952);
		n = exchange_to(e, &e->disp, pkt, len, reply, sizeof(reply), H_TIMEOUT_MS);
		if (i == 2)
			n = final_answer(e, &e->disp, pkt, reply, n, sizeof(reply));
		assert_true(n >= 4);
		assert_int_equal(code_of(reply), i < 2 ? CODE(2, 31) : CODE(2, 4));
	}
	len = read_blockwise(e, &e->disp, disp_text, 3, back, sizeof(back));
	assert_int_equal(len, 3000);
	assert_int_equal(back[0], 'a');
	assert_int_equal(back[1024], 'b');
	assert_int_equal(back[2999], 'c');
	stops_cleanly(e);
}

/* Block 0 alone, then SIGTERM: a clean exit (it crashed in lwm_ops_abandon_all). */
static void block0_alone_then_sigterm(void **state)
{
	struct env *e = *state;
	static uint8_t pkt[1200], reply[1400];
	size_t len = packet(pkt, "43030064544b33b4333334310130043535323710d1020eff", 'A', 1024);
	int n = exchange_to(e, &e->disp, pkt, len, reply, sizeof(reply), H_TIMEOUT_MS);

	assert_true(n >= 4);
	assert_int_equal(code_of(reply), CODE(2, 31));
	valid_read_still_answers(e);
	stops_cleanly(e);
}

/* Size1 near 2^32 to /3/0/15: 4.13 at once, Size1 saying what fits, and
 * the stray last block 4.08; nothing is allocated, every device answers. */
static void huge_size1_is_4_13(void **state)
{
	struct env *e = *state;
	static uint8_t pkt[1200], reply[1400];
	size_t len = packet(pkt, "420300015331b133013002313510d1020ed414ffffffffff", 'x', 1024);
	int n = exchange(e, pkt, len, reply, sizeof(reply), H_TIMEOUT_MS);

	assert_true(n >= 4);
	assert_int_equal(code_of(reply), CODE(4, 13));
	assert_int_equal(reply_option(reply, n, 60), 64 * 1024);
	len = packet(pkt, "420300025331b133013002313510d10216ff", 'x', 10);
	n = exchange(e, pkt, len, reply, sizeof(reply), H_TIMEOUT_MS);
	assert_true(n >= 4);
	assert_int_equal(code_of(reply), CODE(4, 8));
	valid_read_still_answers(e);
	stops_cleanly(e);
}

/* A string body past the limit without Size1: 4.13 at the block that
 * crosses it, and the transfer is gone (its next block 4.08). */
static void oversized_text_is_4_13(void **state)
{
	struct env *e = *state;
	static uint8_t pkt[1200], reply[1400];
	unsigned num;
	int n = -1;

	for (num = 0; num <= 64; num++) {
		char hex[128];
		/* CON PUT /3341/0/5527 text, Block1 num/M=1/1024 (2 bytes). */
		snprintf(hex, sizeof(hex), "4303%04x544b35b4333334310130043535323710d202%04xff",
			 0x200 + num, num << 4 | 0x0e);
		n = exchange_to(e, &e->disp, pkt, packet(pkt, hex, 'z', 1024), reply,
				sizeof(reply), H_TIMEOUT_MS);
		assert_true(n >= 4);
		if (code_of(reply) != CODE(2, 31))
			break;
	}
	assert_int_equal(num, 64); /* 64 blocks of 1024 fill 64 KiB */
	assert_int_equal(code_of(reply), CODE(4, 13));
	assert_int_equal(reply_option(reply, n, 60), 64 * 1024);
	n = exchange_to(e, &e->disp, pkt,
			packet(pkt, "43030300544b35b4333334310130043535323710d2020416ff", 'z', 10),
			reply, sizeof(reply), H_TIMEOUT_MS);
	assert_true(n >= 4);
	assert_int_equal(code_of(reply), CODE(4, 8));
	valid_read_still_answers(e);
	stops_cleanly(e);
}

/* A request longer than one datagram libcoap takes (1,152 bytes): 4.13 with
 * the request's message ID and a Block1 option asking for 1,024-byte
 * blocks, not a Reset of message ID 0; one longer than libcoap's receive
 * buffer (1,472) too, rather than read cut short. */
static void oversized_datagram_is_4_13(void **state)
{
	struct env *e = *state;
	static uint8_t pkt[2048], reply[256];
	static const size_t fills[] = {1300, 1800};

	for (size_t i = 0; i < sizeof(fills) / sizeof(fills[0]); i++) {
		char hex[64];
		int n;

		/* CON PUT /3341/0/5527 text/plain, no Block1. */
		snprintf(hex, sizeof(hex), "4303%04x544b37b4333334310130043535323710ff",
			 (unsigned)(0x700 + i));
		n = exchange_to(e, &e->disp, pkt, packet(pkt, hex, 'w', fills[i]), reply,
				sizeof(reply), H_TIMEOUT_MS);
		assert_true(n >= 4);
		assert_int_equal(reply[0] >> 4 & 3, 2); /* ACK, same message ID */
		assert_int_equal(code_of(reply), CODE(4, 13));
		assert_int_equal(reply_option(reply, n, 27), 6); /* Block1 0/0/1024 */
	}
	valid_read_still_answers(e);
	stops_cleanly(e);
}

/* A block after a gap ends the transfer with 4.08. */
static void block_out_of_order_is_4_08(void **state)
{
	struct env *e = *state;
	static uint8_t pkt[1200], reply[1400];
	int n = exchange_to(e, &e->disp, pkt,
			    packet(pkt, "43030401544b36b4333334310130043535323710d1020eff", 'q', 1024),
			    reply, sizeof(reply), H_TIMEOUT_MS);

	assert_true(n >= 4);
	assert_int_equal(code_of(reply), CODE(2, 31));
	/* Block 2 before block 1. */
	n = exchange_to(e, &e->disp, pkt,
			packet(pkt, "43030402544b36b4333334310130043535323710d1022eff", 'q', 1024),
			reply, sizeof(reply), H_TIMEOUT_MS);
	assert_true(n >= 4);
	assert_int_equal(code_of(reply), CODE(4, 8));
	valid_read_still_answers(e);
	stops_cleanly(e);
}

/* ---- observations (issue 16 item 9) ------------------------------------------ */

/* CON GET /3304/0/5700 with Observe (0 register, 1 cancel), token tok. */
static int observe_th(struct env *e, uint8_t tok, int observe, uint8_t *reply, size_t cap)
{
	uint8_t msg[32];
	size_t n = 0;

	e->mid++;
	msg[n++] = 0x41;
	msg[n++] = 0x01;
	msg[n++] = (uint8_t)(e->mid >> 8);
	msg[n++] = (uint8_t)e->mid;
	msg[n++] = tok;
	if (observe)
		msg[n++] = 0x61, msg[n++] = (uint8_t)observe;
	else
		msg[n++] = 0x60;
	memcpy(msg + n, "\x54" "3304" "\x01" "0" "\x04" "5700", 12);
	n += 12;
	return exchange(e, msg, n, reply, cap, H_TIMEOUT_MS);
}

static void observations_are_capped_per_registration(void **state)
{
	struct env *e = *state;
	uint8_t reply[512];
	int n;

	/* max_observations = 2: two fit... */
	n = observe_th(e, 0xa1, 0, reply, sizeof(reply));
	assert_int_equal(code_of(reply), CODE(2, 5));
	assert_true(reply_option(reply, n, 6) >= 0);
	n = observe_th(e, 0xa2, 0, reply, sizeof(reply));
	assert_int_equal(code_of(reply), CODE(2, 5));
	assert_true(reply_option(reply, n, 6) >= 0);
	/* ...a third is refused, clearly, and without an Observe option. */
	n = observe_th(e, 0xa3, 0, reply, sizeof(reply));
	assert_int_equal(code_of(reply), CODE(5, 3));
	assert_int_equal(reply_option(reply, n, 6), -1);
	/* Re-registering a token replaces its observation: it fits. */
	n = observe_th(e, 0xa1, 0, reply, sizeof(reply));
	assert_int_equal(code_of(reply), CODE(2, 5));
	assert_true(reply_option(reply, n, 6) >= 0);
	/* A cancel makes room. */
	n = observe_th(e, 0xa2, 1, reply, sizeof(reply));
	assert_int_equal(code_of(reply), CODE(2, 5));
	n = observe_th(e, 0xa3, 0, reply, sizeof(reply));
	assert_int_equal(code_of(reply), CODE(2, 5));
	assert_true(reply_option(reply, n, 6) >= 0);
	valid_read_still_answers(e);
}

/* PUT a text body of len bytes of c to /3341/0/<rid> of disp, in 1024-byte
 * blocks without Size1; returns the last answer's code. */
static uint8_t put_text_blockwise(struct env *e, const char *rid, int c, size_t len)
{
	static uint8_t pkt[1200], reply[1400];
	int n = -1;

	for (uint32_t num = 0; num * 1024 < len; num++) {
		size_t k = 0, chunk = len - num * 1024 > 1024 ? 1024 : len - num * 1024;
		bool more = (num + 1) * 1024 < len;
		uint32_t v = num << 4 | (more ? 8u : 0u) | 6;
		e->mid++;
		pkt[k++] = 0x41;
		pkt[k++] = 0x03;
		pkt[k++] = (uint8_t)(e->mid >> 8);
		pkt[k++] = (uint8_t)e->mid;
		pkt[k++] = 0x77;
		memcpy(pkt + k, "\xb4" "3341" "\x01" "0", 7);
		k += 7;
		pkt[k++] = (uint8_t)strlen(rid);
		memcpy(pkt + k, rid, strlen(rid));
		k += strlen(rid);
		pkt[k++] = 0x10;                         /* Content-Format 0 */
		pkt[k++] = 0xd3, pkt[k++] = 0x02;        /* Block1, 3 bytes */
		pkt[k++] = (uint8_t)(v >> 16), pkt[k++] = (uint8_t)(v >> 8), pkt[k++] = (uint8_t)v;
		pkt[k++] = 0xff;
		memset(pkt + k, c, chunk);
		n = exchange_to(e, &e->disp, pkt, k + chunk, reply, sizeof(reply), H_TIMEOUT_MS);
		if (!more)
			n = final_answer(e, &e->disp, pkt, reply, n, sizeof(reply));
		assert_true(n >= 4);
		if (code_of(reply) != (more ? CODE(2, 31) : CODE(2, 4)))
			break;
	}
	return code_of(reply);
}

/* A read too large to answer (4.13) carries no Observe option. */
static void too_large_observe_has_no_observe_option(void **state)
{
	struct env *e = *state;
	uint8_t msg[32], reply[1400];
	size_t k = 0;
	int n;

	assert_int_equal(put_text_blockwise(e, "5527", 'p', 131072), CODE(2, 4));
	assert_int_equal(put_text_blockwise(e, "5750", 'q', 131072), CODE(2, 4));
	/* One more byte than fits: 4.13 with Size1. */
	assert_int_equal(put_text_blockwise(e, "5750", 'q', 131073), CODE(4, 13));
	/* CON GET /3341/0, Observe 0: the instance is 256 KiB of TLV. */
	e->mid++;
	msg[k++] = 0x41, msg[k++] = 0x01;
	msg[k++] = (uint8_t)(e->mid >> 8), msg[k++] = (uint8_t)e->mid;
	msg[k++] = 0xb0;
	msg[k++] = 0x60;
	memcpy(msg + k, "\x54" "3341" "\x01" "0", 7);
	k += 7;
	n = exchange_to(e, &e->disp, msg, k, reply, sizeof(reply), H_TIMEOUT_MS);
	assert_true(n >= 4);
	assert_int_equal(code_of(reply), CODE(4, 13));
	assert_int_equal(reply_option(reply, n, 6), -1);
	valid_read_still_answers(e);
	stops_cleanly(e);
}

/* A server's RST is routine: libcoap's "got RST" line is debug, not alert. */
static void rst_is_not_an_alert(void **state)
{
	struct env *e = *state;
	uint8_t rst[4] = {0x70, 0x00, 0x12, 0x99};
	char *log = h_strf("%s/gatewayd.log", e->dir), line[512];
	bool seen = false;
	FILE *f;

	sendto(e->fd, rst, sizeof(rst), 0, (struct sockaddr *)&e->device, sizeof(e->device));
	assert_true(h_wait_file_contains(log, "got RST for mid=", H_TIMEOUT_MS));
	f = fopen(log, "r");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f))
		if (strstr(line, "got RST for mid=")) {
			seen = true;
			assert_non_null(strstr(line, "gatewayd[debug]"));
		}
	fclose(f);
	free(log);
	assert_true(seen);
	valid_read_still_answers(e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(reads_work_over_the_raw_server),
		cmocka_unit_test(unknown_critical_option_is_4_02),
		cmocka_unit_test(non_lwm2m_paths_are_4_04),
		cmocka_unit_test(garbage_is_dropped_and_harmless),
		cmocka_unit_test(unsupported_accept_is_4_06),
		cmocka_unit_test(observations_are_capped_per_registration),
		cmocka_unit_test(rst_is_not_an_alert),
	};
	/* Each of these ends its daemon with SIGTERM: a fresh one each. */
	const struct CMUnitTest blockwise[] = {
		cmocka_unit_test_setup_teardown(block1_without_size1_is_written_whole, setup, teardown),
		cmocka_unit_test_setup_teardown(block1_with_size1_is_written_whole, setup, teardown),
		cmocka_unit_test_setup_teardown(block0_alone_then_sigterm, setup, teardown),
		cmocka_unit_test_setup_teardown(huge_size1_is_4_13, setup, teardown),
		cmocka_unit_test_setup_teardown(oversized_text_is_4_13, setup, teardown),
		cmocka_unit_test_setup_teardown(oversized_datagram_is_4_13, setup, teardown),
		cmocka_unit_test_setup_teardown(block_out_of_order_is_4_08, setup, teardown),
		cmocka_unit_test_prestate_setup_teardown(too_large_observe_has_no_observe_option,
							setup, teardown, (void *)big_tmpl),
	};
	int skip = h_skip_without_sim();

	if (skip)
		return skip;
	return cmocka_run_group_tests_name("malformed", tests, setup, teardown) |
	       cmocka_run_group_tests_name("blockwise", blockwise, NULL, NULL);
}
