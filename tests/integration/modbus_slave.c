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
 *   quiet 0|1                   stop / resume the request events (long runs)
 *   quit
 *
 * Firmware (FC 0x15 / 0x14 and a register window, README "Firmware
 * updates"), on a fixed register map: command 200, status 201, size 202-203,
 * offset 204-205, length 206, CRC 207(-208), version 210-217 (a string),
 * window from 100; commands 1 commit, 2 apply, 3 chunk; status 0 idle,
 * 1 busy, 2 done, 3 error:
 *   fw UNIT FILE0 FIRST PERFILE RECREGS CRC BUSY REBOOT
 *                               enable with an empty image: file records
 *                               from FILE0/FIRST, PERFILE records a file of
 *                               RECREGS registers; window CRC 0 none,
 *                               1 CRC-16 per chunk, 2 CRC-32 of the image;
 *                               BUSY status reads answer busy after each
 *                               command; REBOOT requests go unanswered
 *                               after apply
 *   fwfail UNIT WHAT [N]        none, exc (data writes answer exception 4),
 *                               crc (the check fails: status error), apply
 *                               (status error after the reboot), gone (never
 *                               comes back), readback (FC 0x14 answers other
 *                               data), full N (records from N on: exception 2)
 *   fwnext UNIT VERSION         the version it runs after the next apply
 *   fwdump UNIT PATH            write the image received to PATH
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

enum { FW_WINDOW = 100, FW_CMD = 200, FW_STATUS, FW_SIZE, FW_OFFSET = 204, FW_LENGTH = 206,
       FW_CRC, FW_VERSION = 210, FW_VERSION_REGS = 8 };
#define FW_IMAGE_MAX (4u << 20)

struct fw {
	bool on;
	int file0, first, per_file, rec_regs, crc, busy_polls, reboot_reqs;
	uint8_t *img;
	size_t cap, len;
	int busy_left, status;
	int reboot_left; /* requests left unanswered; -1: never back */
	char fail[16];
	int full_from;
	char next[32];
};

struct unit {
	int id;
	struct fw fw;
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
static bool quiet;

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

static uint32_t crc32_of(const uint8_t *p, size_t n)
{
	uint32_t crc = 0xffffffffu;

	for (size_t i = 0; i < n; i++) {
		crc ^= p[i];
		for (int k = 0; k < 8; k++)
			crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1)));
	}
	return ~crc;
}

static bool fw_store(struct fw *f, size_t off, const uint8_t *p, size_t n)
{
	if (off + n > FW_IMAGE_MAX)
		return false;
	if (off + n > f->cap) {
		size_t cap = f->cap ? f->cap : 65536;
		uint8_t *q;

		while (cap < off + n)
			cap *= 2;
		q = realloc(f->img, cap);
		if (!q)
			return false;
		memset(q + f->cap, 0, cap - f->cap);
		f->img = q;
		f->cap = cap;
	}
	memcpy(f->img + off, p, n);
	if (off + n > f->len)
		f->len = off + n;
	return true;
}

static size_t fw_size(struct unit *u)
{
	uint16_t *r = u->map->tab_registers;
	size_t size = (size_t)r[FW_SIZE] << 16 | r[FW_SIZE + 1];

	return size ? size : u->fw.len;
}

static void fw_exception(int fd, const uint8_t *req, int fc, int code)
{
	uint8_t e[2] = {(uint8_t)(fc | 0x80), (uint8_t)code};

	send_pdu(fd, req, e, 2);
}

/* The image offset of (file, record), or -1 when the layout has no room. */
static long fw_record_offset(struct fw *f, int file, int rec)
{
	long index;

	if (file < f->file0 || rec < f->first || rec > 9999 || rec - f->first >= f->per_file)
		return -1;
	index = (long)(file - f->file0) * f->per_file + (rec - f->first);
	if (f->full_from >= 0 && index >= f->full_from)
		return -1;
	return index * f->rec_regs * 2;
}

/* FC 0x15: every sub-request checked, then stored; answered by its echo. */
static void fw_write_file(int fd, const uint8_t *req, const uint8_t *pdu, size_t n, struct unit *u)
{
	struct fw *f = &u->fw;
	size_t k;

	if (n < 2 || pdu[1] != n - 2 || pdu[1] < 9) {
		fw_exception(fd, req, 0x15, 3);
		return;
	}
	if (strcmp(f->fail, "exc") == 0) {
		fw_exception(fd, req, 0x15, 4);
		return;
	}
	for (int pass = 0; pass < 2; pass++) {
		for (k = 2; k + 7 <= n;) {
			int file = pdu[k + 1] << 8 | pdu[k + 2], rec = pdu[k + 3] << 8 | pdu[k + 4];
			size_t regs = (size_t)(pdu[k + 5] << 8 | pdu[k + 6]);
			long off = fw_record_offset(f, file, rec);

			if (pdu[k] != 6 || k + 7 + 2 * regs > n || !regs) {
				fw_exception(fd, req, 0x15, 3);
				return;
			}
			if (off < 0 || (int)regs > f->rec_regs) {
				fw_exception(fd, req, 0x15, 2);
				return;
			}
			if (pass == 1 && !fw_store(f, (size_t)off, pdu + k + 7, 2 * regs)) {
				fw_exception(fd, req, 0x15, 4);
				return;
			}
			k += 7 + 2 * regs;
		}
		if (k != n) {
			fw_exception(fd, req, 0x15, 3);
			return;
		}
	}
	send_pdu(fd, req, pdu, n);
}

/* FC 0x14: the records asked for, as stored. */
static void fw_read_file(int fd, const uint8_t *req, const uint8_t *pdu, size_t n, struct unit *u)
{
	struct fw *f = &u->fw;
	uint8_t ans[256];
	size_t a = 2;

	if (n < 9 || pdu[1] != n - 2 || (n - 2) % 7) {
		fw_exception(fd, req, 0x14, 3);
		return;
	}
	for (size_t k = 2; k < n; k += 7) {
		int file = pdu[k + 1] << 8 | pdu[k + 2], rec = pdu[k + 3] << 8 | pdu[k + 4];
		size_t regs = (size_t)(pdu[k + 5] << 8 | pdu[k + 6]);
		long off = fw_record_offset(f, file, rec);

		if (pdu[k] != 6 || !regs || a + 2 + 2 * regs > 247) {
			fw_exception(fd, req, 0x14, 3);
			return;
		}
		if (off < 0 || (size_t)off + 2 * regs > f->len) {
			fw_exception(fd, req, 0x14, 2);
			return;
		}
		ans[a++] = (uint8_t)(1 + 2 * regs);
		ans[a++] = 6;
		memcpy(ans + a, f->img + off, 2 * regs);
		if (strcmp(f->fail, "readback") == 0)
			ans[a] ^= 0x01;
		a += 2 * regs;
	}
	ans[0] = 0x14;
	ans[1] = (uint8_t)(a - 2);
	send_pdu(fd, req, ans, a);
}

static void fw_command(struct unit *u)
{
	struct fw *f = &u->fw;
	uint16_t *r = u->map->tab_registers;
	/* fwfail crc: the check the device makes fails (the chunk's with a
	 * CRC-16 per chunk, else the commit's). */
	bool bad = strcmp(f->fail, "crc") == 0, ok = true;

	switch (r[FW_CMD]) {
	case 3: { /* a chunk in the window */
		size_t off = (size_t)r[FW_OFFSET] << 16 | r[FW_OFFSET + 1], len = r[FW_LENGTH];
		uint8_t chunk[256];

		if (len > 2 * (N_REGS - FW_WINDOW) || len > sizeof(chunk)) {
			ok = false;
			break;
		}
		for (size_t i = 0; i < len; i++)
			chunk[i] = (uint8_t)(i % 2 ? r[FW_WINDOW + i / 2] : r[FW_WINDOW + i / 2] >> 8);
		if (f->crc == 1 && (bad || crc16(chunk, len) != r[FW_CRC]))
			ok = false;
		ok = ok && fw_store(f, off, chunk, len);
		break;
	}
	case 1: /* commit: check the whole image */
		if ((f->crc != 1 && bad) ||
		    (f->crc == 2 && crc32_of(f->img, fw_size(u)) !=
					    ((uint32_t)r[FW_CRC] << 16 | r[FW_CRC + 1])))
			ok = false;
		break;
	case 2: /* apply: reboot after this answer */
		f->reboot_left = strcmp(f->fail, "gone") == 0 ? -1 : f->reboot_reqs;
		f->status = 1;
		if (!f->reboot_left)
			f->reboot_left = 1;
		return;
	default:
		return;
	}
	f->status = ok ? 2 : 3;
	f->busy_left = f->busy_polls;
}

/* The reboot is over: the new image runs. */
static void fw_installed(struct unit *u)
{
	struct fw *f = &u->fw;
	uint16_t *r = u->map->tab_registers;
	size_t n = strlen(f->next);

	f->status = strcmp(f->fail, "apply") == 0 ? 3 : 0;
	f->busy_left = 0;
	for (int i = 0; i < FW_VERSION_REGS; i++)
		r[FW_VERSION + i] = (uint16_t)(((size_t)2 * i < n ? (uint8_t)f->next[2 * i] : 0) << 8 |
					       ((size_t)2 * i + 1 < n ? (uint8_t)f->next[2 * i + 1] : 0));
	if (!u->ident[0][0]) {
		snprintf(u->ident[0], sizeof(u->ident[0]), "acme");
		snprintf(u->ident[1], sizeof(u->ident[1]), "pm3");
	}
	snprintf(u->ident[2], sizeof(u->ident[2]), "%s", f->next);
}

/* One complete request (with the RTU CRC or TCP header). */
static void handle(int fd, uint8_t *req, int len)
{
	int off = modbus_get_header_length(ctx);
	int id = req[off - 1], fc = req[off];
	int addr = len > off + 2 ? req[off + 1] << 8 | req[off + 2] : 0;
	int count = fc == 5 || fc == 6 ? 1 : len > off + 4 ? req[off + 3] << 8 | req[off + 4] : 0;
	struct unit *u = unit_get(id);

	bool raw = fc == 0x2b || fc == 0x14 || fc == 0x15;
	size_t pdu_len = (size_t)len - (size_t)off - (rtu ? 2 : 0);

	if (!quiet)
		emit("{\"event\":\"request\",\"unit\":%d,\"fc\":%d,\"addr\":%d,\"count\":%d}",
		     id, fc, raw ? 0 : addr, raw ? 0 : count);
	if (!u || u->muted)
		return;
	if (u->fw.reboot_left) {
		/* Rebooting: silent, then the new image runs. */
		if (u->fw.reboot_left > 0 && --u->fw.reboot_left == 0)
			fw_installed(u);
		return;
	}
	modbus_set_socket(ctx, fd);
	modbus_set_slave(ctx, id);
	if (fc == 0x2b) {
		reply_ident(fd, req, off, u);
		return;
	}
	if (fc == 0x15 || fc == 0x14) {
		if (!u->fw.on)
			fw_exception(fd, req, fc, 1);
		else if (fc == 0x15)
			fw_write_file(fd, req, req + off, pdu_len, u);
		else
			fw_read_file(fd, req, req + off, pdu_len, u);
		return;
	}
	if (u->fw.on && fc == 16 && addr == FW_WINDOW && strcmp(u->fw.fail, "exc") == 0) {
		modbus_reply_exception(ctx, req, MODBUS_EXCEPTION_SLAVE_OR_SERVER_FAILURE);
		return;
	}
	if (u->fw.on && fc == 3 && addr <= FW_STATUS && FW_STATUS < addr + count) {
		/* Busy for a few reads after a command. */
		if (u->fw.busy_left > 0) {
			u->fw.busy_left--;
			u->map->tab_registers[FW_STATUS] = 1;
		} else {
			u->map->tab_registers[FW_STATUS] = (uint16_t)u->fw.status;
		}
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
	if (rtu && fc == 6 && addr < N_REGS) {
		/* Debian's libmodbus 3.1.6 answers an RTU FC 6 passed without
		 * its CRC with "illegal data value": store and echo it here. */
		u->map->tab_registers[addr] = (uint16_t)(req[off + 3] << 8 | req[off + 4]);
		send_pdu(fd, req, req + off, 5);
	} else {
		/* libmodbus echoes write requests byte for byte: without the CRC. */
		modbus_reply(ctx, req, rtu ? len - 2 : len, u->map);
	}
	if (u->fw.on && (fc == 6 || fc == 16) && addr <= FW_CMD && FW_CMD < addr + count)
		fw_command(u);
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
		else if (fc == 0x14 || fc == 0x15)
			need = rlen >= 3 ? 5u + rbuf[2] : 0;
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
	char cmd[16], t = 0, a[32] = "", b[32] = "", c[32] = "", path[201];
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
	} else if (strcmp(cmd, "quiet") == 0 && sscanf(line, "%*s %d", &x) == 1) {
		quiet = x != 0;
	} else if (strcmp(cmd, "fw") == 0 && (u = NULL, sscanf(line, "%*s %d", &id) == 1) &&
		   (u = unit_get(id)) &&
		   sscanf(line, "%*s %*d %d %d %d %d %d %d %d", &u->fw.file0, &u->fw.first,
			  &u->fw.per_file, &u->fw.rec_regs, &u->fw.crc, &u->fw.busy_polls,
			  &u->fw.reboot_reqs) == 7) {
		u->fw.on = true;
		u->fw.len = 0;
		u->fw.status = 0;
		u->fw.busy_left = 0;
		u->fw.reboot_left = 0;
		u->fw.full_from = -1;
		u->fw.fail[0] = '\0';
		memset(u->map->tab_registers + FW_SIZE, 0, 7 * sizeof(uint16_t));
	} else if (strcmp(cmd, "fwfail") == 0 && sscanf(line, "%*s %d %31s", &id, a) == 2 &&
		   (u = unit_get(id))) {
		snprintf(u->fw.fail, sizeof(u->fw.fail), "%s", strcmp(a, "none") == 0 ? "" : a);
		u->fw.full_from = sscanf(line, "%*s %*d %*s %d", &x) == 1 ? x : -1;
	} else if (strcmp(cmd, "fwnext") == 0 && sscanf(line, "%*s %d %31s", &id, a) == 2 &&
		   (u = unit_get(id))) {
		snprintf(u->fw.next, sizeof(u->fw.next), "%s", a);
	} else if (strcmp(cmd, "fwdump") == 0 && sscanf(line, "%*s %d %200s", &id, path) == 2 &&
		   (u = unit_get(id))) {
		FILE *out = fopen(path, "wb");
		size_t n = fw_size(u);

		if (!out || (n && fwrite(u->fw.img, 1, n < u->fw.len ? n : u->fw.len, out) == 0)) {
			if (out)
				fclose(out);
			emit("{\"event\":\"error\",\"cmd\":\"%s\"}", cmd);
			return true;
		}
		fclose(out);
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
	for (int i = 0; i < n_units; i++) {
		modbus_mapping_free(units[i].map);
		free(units[i].fw.img);
	}
	modbus_free(ctx);
	return 0;
}
