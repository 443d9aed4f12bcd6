/* A Modbus slave for the integration tests: libmodbus's server side on
 * loopback TCP or on a pseudo-terminal pair (RTU), serving several unit ids,
 * driven by commands on stdin and reporting what it sees as JSON lines on
 * stdout (the harness's event format).
 *
 *   modbus_slave --tcp PORT     listen on 127.0.0.1:PORT (0: ephemeral)
 *   modbus_slave --rtu          create a pty; gatewayd opens the slave side
 *
 * Events: listening {port | pty}, connect, disconnect, request {unit, fc,
 * addr, count}, ok {cmd}, value {value}.
 * Commands (one per line):
 *   set UNIT TABLE ADDR VALUE   TABLE: c d h i
 *   get UNIT TABLE ADDR
 *   mute UNIT | unmute UNIT     stop / resume answering that unit
 *   hole UNIT ADDR COUNT        registers answering "illegal data address"
 *   exc UNIT ADDR CODE          requests touching ADDR answer exception CODE
 *   ident UNIT VENDOR PRODUCT REVISION
 *   drop                        close every TCP connection (a PLC reboot)
 *   quit
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <termios.h>
#include <unistd.h>
#include <netinet/in.h>

#include <modbus.h>

#define MAX_UNITS 8
#define MAX_CLIENTS 8
#define N_REGS 300

struct unit {
	int id;
	modbus_mapping_t *map;
	bool muted;
	int hole_addr, hole_count;
	int exc_addr, exc_code;
	char ident[3][32];
};

static struct unit units[MAX_UNITS];
static int n_units;
static modbus_t *ctx;
static bool rtu;

static void emit(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void emit(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

static struct unit *unit_get(int id)
{
	for (int i = 0; i < n_units; i++)
		if (units[i].id == id)
			return &units[i];
	return NULL;
}

static uint16_t crc16(const uint8_t *p, size_t n)
{
	uint16_t crc = 0xffff;

	for (size_t i = 0; i < n; i++) {
		crc ^= p[i];
		for (int k = 0; k < 8; k++)
			crc = (crc & 1) ? (uint16_t)((crc >> 1) ^ 0xa001) : (uint16_t)(crc >> 1);
	}
	return crc;
}

/* Send a PDU as an answer to req (raw: libmodbus has no FC 0x2B reply). */
static void send_pdu(int fd, const uint8_t *req, const uint8_t *pdu, size_t n)
{
	uint8_t f[300];
	size_t len = 0;

	if (rtu) {
		f[len++] = req[0];
		memcpy(f + len, pdu, n);
		len += n;
		uint16_t c = crc16(f, len);
		f[len++] = (uint8_t)(c & 0xff);
		f[len++] = (uint8_t)(c >> 8);
	} else {
		memcpy(f, req, 4); /* transaction, protocol */
		f[4] = (uint8_t)((n + 1) >> 8);
		f[5] = (uint8_t)((n + 1) & 0xff);
		f[6] = req[6];
		len = 7;
		memcpy(f + len, pdu, n);
		len += n;
	}
	if (write(fd, f, len) < 0)
		perror("write");
}

static void reply_ident(int fd, const uint8_t *req, int off, struct unit *u)
{
	uint8_t pdu[256];
	size_t n = 0;

	if (!u->ident[0][0]) {
		uint8_t e[2] = {0xab, 0x01};

		send_pdu(fd, req, e, 2);
		return;
	}
	pdu[n++] = 0x2b;
	pdu[n++] = 0x0e;
	pdu[n++] = req[off + 2];
	pdu[n++] = 0x01; /* conformity: basic */
	pdu[n++] = 0;    /* more follows */
	pdu[n++] = 0;
	pdu[n++] = 3;
	for (int i = 0; i < 3; i++) {
		size_t l = strlen(u->ident[i]);

		pdu[n++] = (uint8_t)i;
		pdu[n++] = (uint8_t)l;
		memcpy(pdu + n, u->ident[i], l);
		n += l;
	}
	send_pdu(fd, req, pdu, n);
}

/* One complete request (with the RTU CRC or TCP header). */
static void handle(int fd, uint8_t *req, int len)
{
	int off = modbus_get_header_length(ctx);
	int id = req[off - 1], fc = req[off];
	int addr = len > off + 2 ? req[off + 1] << 8 | req[off + 2] : 0;
	int count = fc == 5 || fc == 6 ? 1 : len > off + 4 ? req[off + 3] << 8 | req[off + 4] : 0;
	struct unit *u = unit_get(id);

	emit("{\"event\":\"request\",\"unit\":%d,\"fc\":%d,\"addr\":%d,\"count\":%d}", id, fc,
	     fc == 0x2b ? 0 : addr, fc == 0x2b ? 0 : count);
	if (!u || u->muted)
		return;
	modbus_set_socket(ctx, fd);
	modbus_set_slave(ctx, id);
	if (fc == 0x2b) {
		reply_ident(fd, req, off, u);
		return;
	}
	if (u->exc_code && addr <= u->exc_addr && u->exc_addr < addr + count) {
		modbus_reply_exception(ctx, req, (unsigned)u->exc_code);
		return;
	}
	if ((fc == 3 || fc == 4) && u->hole_count && addr < u->hole_addr + u->hole_count &&
	    u->hole_addr < addr + count) {
		modbus_reply_exception(ctx, req, MODBUS_EXCEPTION_ILLEGAL_DATA_ADDRESS);
		return;
	}
	/* libmodbus echoes write requests byte for byte: without the CRC. */
	modbus_reply(ctx, req, rtu ? len - 2 : len, u->map);
}

/* RTU framing on the pty master: the length follows from the function. */
static uint8_t rbuf[512];
static size_t rlen;

static void rtu_input(int fd)
{
	ssize_t k = read(fd, rbuf + rlen, sizeof(rbuf) - rlen);
	size_t need;

	if (k <= 0)
		return;
	rlen += (size_t)k;
	while (rlen >= 2) {
		int fc = rbuf[1];

		if (fc >= 1 && fc <= 6)
			need = 8;
		else if (fc == 15 || fc == 16)
			need = rlen >= 7 ? 9u + rbuf[6] : 0;
		else if (fc == 0x2b)
			need = 7;
		else
			need = 1; /* not a request we know: resynchronise */
		if (!need || rlen < need)
			return;
		if (need >= 4 && crc16(rbuf, need - 2) == (rbuf[need - 2] | rbuf[need - 1] << 8))
			handle(fd, rbuf, (int)need);
		else
			need = 1;
		memmove(rbuf, rbuf + need, rlen - need);
		rlen -= need;
	}
}

/* A whole TCP frame part from a local client; -1 when it went away. */
static int read_full(int fd, uint8_t *buf, size_t n)
{
	while (n) {
		ssize_t k = read(fd, buf, n);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return -1;
		buf += k;
		n -= (size_t)k;
	}
	return 0;
}

static int clients[MAX_CLIENTS];
static int n_clients;

static void drop_clients(void)
{
	for (int i = 0; i < n_clients; i++)
		close(clients[i]);
	n_clients = 0;
}

static modbus_mapping_t *table_of(struct unit *u, char t, uint16_t **regs, uint8_t **bits)
{
	*regs = NULL;
	*bits = NULL;
	switch (t) {
	case 'c':
		*bits = u->map->tab_bits;
		break;
	case 'd':
		*bits = u->map->tab_input_bits;
		break;
	case 'h':
		*regs = u->map->tab_registers;
		break;
	case 'i':
		*regs = u->map->tab_input_registers;
		break;
	default:
		return NULL;
	}
	return u->map;
}

static bool command(char *line)
{
	char cmd[16], t = 0, a[32] = "", b[32] = "", c[32] = "";
	int id = 0, x = 0, y = 0;
	long long v = 0;
	struct unit *u;
	uint16_t *regs;
	uint8_t *bits;

	if (sscanf(line, "%15s", cmd) != 1)
		return true;
	if (strcmp(cmd, "quit") == 0)
		return false;
	if (strcmp(cmd, "drop") == 0) {
		drop_clients();
	} else if (strcmp(cmd, "set") == 0 && sscanf(line, "%*s %d %c %d %lli", &id, &t, &x, &v) == 4 &&
		   (u = unit_get(id)) && table_of(u, t, &regs, &bits) && x >= 0 && x < N_REGS) {
		if (regs)
			regs[x] = (uint16_t)v;
		else
			bits[x] = v ? 1 : 0;
	} else if (strcmp(cmd, "get") == 0 && sscanf(line, "%*s %d %c %d", &id, &t, &x) == 3 &&
		   (u = unit_get(id)) && table_of(u, t, &regs, &bits) && x >= 0 && x < N_REGS) {
		emit("{\"event\":\"value\",\"value\":%d}", regs ? regs[x] : bits[x]);
		return true;
	} else if (strcmp(cmd, "mute") == 0 && sscanf(line, "%*s %d", &id) == 1 && (u = unit_get(id))) {
		u->muted = true;
	} else if (strcmp(cmd, "unmute") == 0 && sscanf(line, "%*s %d", &id) == 1 &&
		   (u = unit_get(id))) {
		u->muted = false;
	} else if (strcmp(cmd, "hole") == 0 && sscanf(line, "%*s %d %d %d", &id, &x, &y) == 3 &&
		   (u = unit_get(id))) {
		u->hole_addr = x;
		u->hole_count = y;
	} else if (strcmp(cmd, "exc") == 0 && sscanf(line, "%*s %d %d %d", &id, &x, &y) == 3 &&
		   (u = unit_get(id))) {
		u->exc_addr = x;
		u->exc_code = y;
	} else if (strcmp(cmd, "ident") == 0 &&
		   sscanf(line, "%*s %d %31s %31s %31s", &id, a, b, c) == 4 && (u = unit_get(id))) {
		snprintf(u->ident[0], sizeof(u->ident[0]), "%s", a);
		snprintf(u->ident[1], sizeof(u->ident[1]), "%s", b);
		snprintf(u->ident[2], sizeof(u->ident[2]), "%s", c);
	} else {
		emit("{\"event\":\"error\",\"cmd\":\"%s\"}", cmd);
		return true;
	}
	emit("{\"event\":\"ok\",\"cmd\":\"%s\"}", cmd);
	return true;
}

int main(int argc, char **argv)
{
	int listen_fd = -1, master = -1, keep = -1;
	char line[256];
	size_t llen = 0;
	const char *ids = "1";

	if (argc < 2)
		return 2;
	if (argc >= 4 && strcmp(argv[argc - 2], "--units") == 0)
		ids = argv[argc - 1];
	for (const char *p = ids; *p;) {
		units[n_units].id = atoi(p);
		units[n_units].map = modbus_mapping_new(N_REGS, N_REGS, N_REGS, N_REGS);
		n_units++;
		p += strcspn(p, ",");
		if (*p)
			p++;
	}
	if (strcmp(argv[1], "--rtu") == 0) {
		struct termios t;

		rtu = true;
		master = posix_openpt(O_RDWR | O_NOCTTY);
		if (master < 0 || grantpt(master) < 0 || unlockpt(master) < 0)
			return 1;
		/* Hold the slave side open: a master whose slave is closed
		 * reports hang-ups until someone opens it. */
		keep = open(ptsname(master), O_RDWR | O_NOCTTY);
		if (keep < 0 || tcgetattr(keep, &t) < 0)
			return 1;
		cfmakeraw(&t);
		tcsetattr(keep, TCSANOW, &t);
		ctx = modbus_new_rtu("/dev/null", 19200, 'N', 8, 1);
		emit("{\"event\":\"listening\",\"pty\":\"%s\"}", ptsname(master));
	} else {
		struct sockaddr_in sa;
		socklen_t sl = sizeof(sa);

		ctx = modbus_new_tcp("127.0.0.1", argc > 2 ? atoi(argv[2]) : 0);
		listen_fd = ctx ? modbus_tcp_listen(ctx, 4) : -1;
		if (listen_fd < 0 || getsockname(listen_fd, (struct sockaddr *)&sa, &sl) < 0)
			return 1;
		emit("{\"event\":\"listening\",\"port\":%d}", ntohs(sa.sin_port));
	}
	for (;;) {
		struct pollfd pf[2 + MAX_CLIENTS];
		int n = 0;

		pf[n++] = (struct pollfd){.fd = 0, .events = POLLIN};
		pf[n++] = (struct pollfd){.fd = rtu ? master : listen_fd, .events = POLLIN};
		for (int i = 0; i < n_clients; i++)
			pf[n++] = (struct pollfd){.fd = clients[i], .events = POLLIN};
		if (poll(pf, (nfds_t)n, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (pf[0].revents) {
			ssize_t k = read(0, line + llen, sizeof(line) - 1 - llen);
			char *nl;

			if (k <= 0)
				break;
			llen += (size_t)k;
			line[llen] = '\0';
			while ((nl = strchr(line, '\n'))) {
				*nl = '\0';
				if (!command(line))
					goto out;
				llen -= (size_t)(nl + 1 - line);
				memmove(line, nl + 1, llen + 1);
			}
		}
		if (pf[1].revents & POLLIN) {
			if (rtu) {
				rtu_input(master);
			} else {
				int fd = accept(listen_fd, NULL, NULL);

				if (fd >= 0 && n_clients < MAX_CLIENTS) {
					clients[n_clients++] = fd;
					emit("{\"event\":\"connect\",\"clients\":%d}", n_clients);
				} else if (fd >= 0) {
					close(fd);
				}
			}
		}
		for (int i = 2; i < n; i++) {
			uint8_t req[MODBUS_TCP_MAX_ADU_LENGTH];
			int fd = pf[i].fd, r;

			if (!pf[i].revents)
				continue;
			/* Framed by the MBAP length: libmodbus cannot size FC 0x2B. */
			r = read_full(fd, req, 7);
			if (r == 0) {
				int len = req[4] << 8 | req[5];

				r = len >= 2 && len <= 254 ? read_full(fd, req + 7, (size_t)len - 1) : -1;
				if (r == 0) {
					handle(fd, req, len + 6);
					continue;
				}
			}
			close(fd);
			for (int k = 0; k < n_clients; k++)
				if (clients[k] == fd)
					clients[k] = clients[--n_clients];
			emit("{\"event\":\"disconnect\",\"clients\":%d}", n_clients);
		}
	}
out:
	drop_clients();
	if (listen_fd >= 0)
		close(listen_fd);
	if (master >= 0)
		close(master);
	if (keep >= 0)
		close(keep);
	for (int i = 0; i < n_units; i++)
		modbus_mapping_free(units[i].map);
	modbus_free(ctx);
	return 0;
}
