/* The bus worker: the only thread that touches a libmodbus context. */
#include "mb_bus.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <modbus.h>

uint64_t mb_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void mb_job_free(struct mb_job *j)
{
	if (!j)
		return;
	if (j->value.type == GWD_V_STRING || j->value.type == GWD_V_BYTES)
		free((void *)j->value.v.bytes.ptr);
	for (int i = 0; i < 3; i++)
		free(j->ident[i]);
	free(j->req);
	free(j->fw);
	free(j);
}

static void params_clear(struct mb_bus_params *p)
{
	free(p->host);
	free(p->port);
	free(p->serial);
}

int mb_bus_new(const char *key, struct mb_bus_params *p, struct mb_bus **out)
{
	struct mb_bus *b = calloc(1, sizeof(*b));
	pthread_condattr_t ca;

	if (!b || !(b->key = strdup(key))) {
		free(b);
		params_clear(p);
		return -ENOMEM;
	}
	b->p = *p;
	b->efd = -1;
	pthread_mutex_init(&b->mu, NULL);
	/* Waits are on the monotonic clock, like everything else. */
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&b->cv, &ca);
	pthread_condattr_destroy(&ca);
	*out = b;
	return 0;
}

/* ---- queues (called with mu held) ------------------------------------------ */

static void push(struct mb_job **head, struct mb_job **tail, struct mb_job *j)
{
	j->next = NULL;
	if (*tail)
		(*tail)->next = j;
	else
		*head = j;
	*tail = j;
}

static struct mb_job *pop(struct mb_job **head, struct mb_job **tail)
{
	struct mb_job *j = *head;

	if (j) {
		*head = j->next;
		if (!*head)
			*tail = NULL;
		j->next = NULL;
	}
	return j;
}

/* Remove owner's jobs (of one kind, or all with kind < 0) from a queue and
 * free them. */
static void drop_owner(struct mb_job **head, struct mb_job **tail, void *owner, int kind)
{
	struct mb_job **pp = head;

	*tail = NULL;
	while (*pp) {
		struct mb_job *j = *pp;

		if (j->owner == owner && (kind < 0 || (int)j->kind == kind)) {
			*pp = j->next;
			mb_job_free(j);
		} else {
			*tail = j;
			pp = &j->next;
		}
	}
}

void mb_bus_submit(struct mb_bus *b, struct mb_job *j)
{
	uint64_t now = mb_now_ms();

	pthread_mutex_lock(&b->mu);
	j->fw_mark = b->fw_turns;
	j->queued_ms = now;
	/* Firmware turns queue with the reads, in order: a neighbour's cycle
	 * queued behind one chunk runs before the next chunk. */
	if (j->kind == MB_JOB_WRITE)
		push(&b->wq, &b->wq_tail, j);
	else
		push(&b->rq, &b->rq_tail, j);
	pthread_cond_broadcast(&b->cv);
	pthread_mutex_unlock(&b->mu);
}

struct mb_job *mb_bus_take_done(struct mb_bus *b)
{
	struct mb_job *list;
	uint64_t n;

	if (b->efd >= 0 && read(b->efd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		return NULL;
	pthread_mutex_lock(&b->mu);
	list = b->done;
	b->done = b->done_tail = NULL;
	pthread_mutex_unlock(&b->mu);
	return list;
}

void mb_bus_forget(struct mb_bus *b, void *owner)
{
	pthread_mutex_lock(&b->mu);
	drop_owner(&b->wq, &b->wq_tail, owner, -1);
	drop_owner(&b->rq, &b->rq_tail, owner, -1);
	drop_owner(&b->done, &b->done_tail, owner, -1);
	/* The transaction in flight may take the device's whole timeout: do
	 * not wait for it.  The worker never looks at the owner; the loop
	 * drops an ownerless job when it comes back. */
	if (b->cur && b->cur->owner == owner)
		b->cur->owner = NULL;
	pthread_mutex_unlock(&b->mu);
}

void mb_bus_forget_kind(struct mb_bus *b, void *owner, enum mb_job_kind kind)
{
	pthread_mutex_lock(&b->mu);
	drop_owner(&b->wq, &b->wq_tail, owner, (int)kind);
	drop_owner(&b->rq, &b->rq_tail, owner, (int)kind);
	drop_owner(&b->done, &b->done_tail, owner, (int)kind);
	pthread_mutex_unlock(&b->mu);
}

void mb_bus_update_count(struct mb_bus *b, int delta)
{
	pthread_mutex_lock(&b->mu);
	b->updates = (unsigned)((int)b->updates + delta);
	pthread_mutex_unlock(&b->mu);
}

struct mb_bus_fw_stats mb_bus_fw_stats(struct mb_bus *b, bool reset)
{
	struct mb_bus_fw_stats st;

	pthread_mutex_lock(&b->mu);
	st = b->fws;
	if (reset)
		memset(&b->fws, 0, sizeof(b->fws));
	pthread_mutex_unlock(&b->mu);
	return st;
}

/* ---- the worker ---------------------------------------------------------------- */

/* Wait up to ms, or until quit; returns false on quit. */
static bool worker_pause(struct mb_bus *b, uint32_t ms)
{
	struct timespec ts;
	bool quit;

	if (!ms)
		return true;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (long)(ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&b->mu);
	while (!b->quit && pthread_cond_timedwait(&b->cv, &b->mu, &ts) != ETIMEDOUT)
		;
	quit = b->quit;
	pthread_mutex_unlock(&b->mu);
	return !quit;
}

static void worker_close(struct mb_bus *b)
{
	if (!b->ctx)
		return;
	modbus_close(b->ctx);
	modbus_free(b->ctx);
	b->ctx = NULL;
}

/* Raw bytes on a serial line: libmodbus leaves some input translations
 * (CR to NL among them) on, which corrupts binary frames. */
static void make_raw(int fd)
{
	struct termios t;

	if (tcgetattr(fd, &t) < 0)
		return;
	t.c_iflag &= ~(tcflag_t)(IGNBRK | BRKINT | PARMRK | ISTRIP | INLCR | IGNCR | ICRNL | IXON |
				 IXOFF | IXANY);
	t.c_oflag &= ~(tcflag_t)OPOST;
	t.c_lflag &= ~(tcflag_t)(ECHO | ECHONL | ICANON | ISIG | IEXTEN);
	tcsetattr(fd, TCSANOW, &t);
}

static void set_timeout(modbus_t *ctx, uint32_t ms)
{
	modbus_set_response_timeout(ctx, ms / 1000, (ms % 1000) * 1000);
	/* Between the bytes of one frame: generous, but within the response. */
	ms = ms < 500 ? ms : 500;
	modbus_set_byte_timeout(ctx, ms / 1000, (ms % 1000) * 1000);
}

static int worker_connect(struct mb_bus *b, uint32_t timeout_ms)
{
	const struct mb_bus_params *p = &b->p;
	modbus_t *ctx;
	int e;

	if (b->ctx)
		return 0;
	ctx = p->rtu ? modbus_new_rtu(p->serial, p->baud, p->parity, p->data_bits, p->stop_bits)
		     : modbus_new_tcp_pi(p->host, p->port);
	if (!ctx)
		return errno ? -errno : -ENOMEM;
	modbus_set_error_recovery(ctx, MODBUS_ERROR_RECOVERY_NONE);
	set_timeout(ctx, timeout_ms);
	if (modbus_connect(ctx) < 0) {
		e = errno ? errno : EIO;
		modbus_free(ctx);
		return -e;
	}
	if (p->rtu) {
		make_raw(modbus_get_socket(ctx));
		if ((p->rs485 && modbus_rtu_set_serial_mode(ctx, MODBUS_RTU_RS485) < 0) ||
		    (p->rts && modbus_rtu_set_rts(ctx, p->rts) < 0) ||
		    (p->rts_delay_us >= 0 && modbus_rtu_set_rts_delay(ctx, p->rts_delay_us) < 0)) {
			e = errno ? errno : EIO;
			modbus_close(ctx);
			modbus_free(ctx);
			return -e;
		}
	}
	b->ctx = ctx;
	b->dirty = false;
	b->last_io_ms = mb_now_ms();
	if (!worker_pause(b, p->connect_delay_ms))
		return -ECANCELED;
	return 0;
}

/* Translate the errno of a failed libmodbus call; closes the connection when
 * the link itself failed, so that the next job reconnects. */
static int worker_error(struct mb_bus *b, struct mb_job *j, int *exc)
{
	int e = errno;

	if (e > MODBUS_ENOBASE && e < MODBUS_ENOBASE + 12) {
		*exc = e - MODBUS_ENOBASE;
		j->exceptions++;
		return -EREMOTEIO;
	}
	switch (e) {
	case ETIMEDOUT:
		j->timeouts++;
		b->dirty = true;
		return -ETIMEDOUT;
	case EMBBADCRC:
		j->crc_errors++;
		b->dirty = true;
		return -EBADMSG;
	case EMBBADDATA:
	case EMBBADEXC:
	case EMBUNKEXC:
	case EMBMDATA:
	case EMBBADSLAVE:
		b->dirty = true;
		return -EPROTO;
	default:
		worker_close(b);
		return e > 0 && e < MODBUS_ENOBASE ? -e : -EIO;
	}
}

/* Pace the bus and address the unit before a request. */
static int worker_prepare(struct mb_bus *b, struct mb_job *j)
{
	uint64_t now;
	int r = worker_connect(b, j->timeout_ms);

	if (r < 0)
		return r;
	if (b->dirty) {
		/* A late answer to an earlier request must not be taken for this one. */
		modbus_flush(b->ctx);
		b->dirty = false;
	}
	now = mb_now_ms();
	if (b->p.gap_ms && now < b->last_io_ms + b->p.gap_ms &&
	    !worker_pause(b, (uint32_t)(b->last_io_ms + b->p.gap_ms - now)))
		return -ECANCELED;
	modbus_set_slave(b->ctx, j->unit);
	set_timeout(b->ctx, j->timeout_ms);
	return 0;
}

static int worker_read(struct mb_bus *b, struct mb_job *j, enum mb_table t, uint16_t addr,
		       uint16_t count, uint16_t *data, int *exc)
{
	uint8_t bits[2000];
	int r = worker_prepare(b, j);

	*exc = 0;
	if (r < 0)
		return r;
	switch (t) {
	case MB_COILS:
		r = modbus_read_bits(b->ctx, addr, count, bits);
		break;
	case MB_DISCRETE:
		r = modbus_read_input_bits(b->ctx, addr, count, bits);
		break;
	case MB_HOLDING:
		r = modbus_read_registers(b->ctx, addr, count, data);
		break;
	case MB_INPUT:
		r = modbus_read_input_registers(b->ctx, addr, count, data);
		break;
	}
	r = r < 0 ? worker_error(b, j, exc) : r != count ? -EPROTO : 0;
	b->last_io_ms = mb_now_ms();
	if (r == 0 && mb_table_is_bits(t))
		for (unsigned i = 0; i < count; i++)
			data[i] = bits[i];
	return r;
}

static void run_cycle(struct mb_bus *b, struct mb_job *j)
{
	int stop = 0;

	for (size_t i = 0; i < j->n_req; i++) {
		struct mb_jreq *q = &j->req[i];

		if (stop) {
			/* The device did not answer: spare the bus its other requests. */
			q->status = stop;
			q->skipped = true;
			continue;
		}
		q->status = worker_read(b, j, q->table, q->addr, q->count, q->data, &q->exc);
		if (q->status == -ETIMEDOUT || (q->status < 0 && q->status != -EREMOTEIO &&
						 q->status != -EPROTO && q->status != -EBADMSG))
			stop = q->status;
	}
}

static void run_write(struct mb_bus *b, struct mb_job *j)
{
	unsigned n = mb_format_regs(&j->fmt);
	bool rmw = j->table == MB_HOLDING &&
		   (j->fmt.type == MB_T_BIT || j->fmt.type == MB_T_INT8H ||
		    j->fmt.type == MB_T_INT8L || j->fmt.type == MB_T_UINT8H ||
		    j->fmt.type == MB_T_UINT8L);
	int r = 0;

	if (j->table == MB_COILS)
		n = 1;
	memset(j->regs, 0, sizeof(j->regs));
	/* A bit or a byte of a register: keep the rest of it. */
	if (rmw)
		r = worker_read(b, j, MB_HOLDING, j->addr, 1, j->regs, &j->exc);
	if (r == 0)
		r = mb_encode(&j->fmt, &j->value, j->regs);
	if (r == 0)
		r = worker_prepare(b, j);
	if (r == 0) {
		if (j->table == MB_COILS) {
			uint8_t bit = j->regs[0] ? 1 : 0;

			r = j->multiple ? modbus_write_bits(b->ctx, j->addr, 1, &bit)
					: modbus_write_bit(b->ctx, j->addr, bit);
		} else if (n == 1 && !j->multiple) {
			r = modbus_write_register(b->ctx, j->addr, j->regs[0]);
		} else {
			r = modbus_write_registers(b->ctx, j->addr, (int)n, j->regs);
		}
		r = r < 0 ? worker_error(b, j, &j->exc) : 0;
		b->last_io_ms = mb_now_ms();
	}
	if (r == 0 && j->readback) {
		uint16_t rb[125];

		r = worker_read(b, j, j->table, j->addr, (uint16_t)n, rb, &j->exc);
		if (r == 0)
			memcpy(j->regs, rb, n * sizeof(rb[0]));
	}
	j->status = r;
}

/* ---- device identification (FC 0x2B / MEI 0x0E) ---------------------------------- */

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

/* Read exactly n bytes within the deadline. */
static int read_full(int fd, uint8_t *buf, size_t n, uint64_t deadline)
{
	size_t got = 0;

	while (got < n) {
		uint64_t now = mb_now_ms();
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		ssize_t k;
		int r;

		if (now >= deadline)
			return -ETIMEDOUT;
		r = poll(&pfd, 1, (int)(deadline - now));
		if (r < 0 && errno != EINTR)
			return -errno;
		if (r <= 0)
			continue;
		k = read(fd, buf + got, n - got);
		if (k == 0)
			return -ECONNRESET;
		if (k < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return -errno;
		}
		got += (size_t)k;
	}
	return 0;
}

/* TCP: the PDU of the answer framed by its MBAP header (unit checked). */
static int tcp_receive(int fd, uint8_t unit, uint8_t *pdu, size_t cap, uint64_t deadline)
{
	uint8_t mbap[7];
	size_t len;
	int r;

	/* MBAP: transaction, protocol, length, unit; then the PDU. */
	r = read_full(fd, mbap, 7, deadline);
	if (r < 0)
		return r;
	len = (size_t)(mbap[4] << 8 | mbap[5]);
	if (len < 2 || len - 1 > cap || mbap[2] || mbap[3] || mbap[6] != unit)
		return -EPROTO;
	r = read_full(fd, pdu, len - 1, deadline);
	return r < 0 ? r : (int)(len - 1);
}

/* The PDU of the answer to the raw request just sent (libmodbus 3.1 cannot
 * size an FC 0x2B answer itself).  Returns its length or negative errno. */
static int ident_receive(struct mb_bus *b, struct mb_job *j, uint8_t *pdu, size_t cap)
{
	int fd = modbus_get_socket(b->ctx);
	uint64_t deadline = mb_now_ms() + j->timeout_ms;
	uint8_t frame[260];
	size_t len;
	int r;

	if (!b->p.rtu)
		return tcp_receive(fd, j->unit, pdu, cap, deadline);
	/* RTU: unit, function, then a length known only by walking the objects. */
	r = read_full(fd, frame, 2, deadline);
	len = 2;
	if (r == 0 && (frame[1] & 0x80)) {
		r = read_full(fd, frame + 2, 3, deadline);
		len = 5;
	} else if (r == 0) {
		r = read_full(fd, frame + 2, 6, deadline);
		len = 8;
		for (unsigned k = 0; r == 0 && k < frame[7]; k++) {
			if (len + 2 > sizeof(frame))
				return -EPROTO;
			r = read_full(fd, frame + len, 2, deadline);
			if (r == 0 && len + 2 + frame[len + 1] > sizeof(frame) - 2)
				return -EPROTO;
			if (r == 0) {
				size_t ol = frame[len + 1];

				len += 2;
				r = read_full(fd, frame + len, ol, deadline);
				len += ol;
			}
		}
		if (r == 0) {
			r = read_full(fd, frame + len, 2, deadline);
			len += 2;
		}
	}
	if (r < 0)
		return r;
	if (crc16(frame, len - 2) != (uint16_t)(frame[len - 2] | frame[len - 1] << 8)) {
		j->crc_errors++;
		return -EBADMSG;
	}
	if (frame[0] != j->unit || len - 3 > cap)
		return -EPROTO;
	memcpy(pdu, frame + 1, len - 3);
	return (int)(len - 3);
}

static void run_ident(struct mb_bus *b, struct mb_job *j)
{
	uint8_t next = 0;

	j->status = 0;
	for (int round = 0; round < 4; round++) {
		uint8_t req[5] = {j->unit, 0x2b, 0x0e, 0x01, next};
		uint8_t pdu[256];
		size_t off;
		int n, r = worker_prepare(b, j);

		if (r == 0 && modbus_send_raw_request(b->ctx, req, sizeof(req)) < 0)
			r = worker_error(b, j, &j->exc);
		if (r == 0) {
			n = ident_receive(b, j, pdu, sizeof(pdu));
			b->last_io_ms = mb_now_ms();
			if (n < 0) {
				r = n;
				b->dirty = true;
				if (r == -ETIMEDOUT)
					j->timeouts++;
			} else if (n >= 2 && pdu[0] == 0xab) {
				j->exc = pdu[1];
				j->exceptions++;
				r = -EREMOTEIO;
			} else if (n < 7 || pdu[0] != 0x2b || pdu[1] != 0x0e) {
				r = -EPROTO;
			} else {
				off = 7;
				for (unsigned k = 0; k < pdu[6] && off + 2 <= (size_t)n; k++) {
					uint8_t id = pdu[off], ol = pdu[off + 1];

					if (off + 2 + ol > (size_t)n) {
						r = -EPROTO;
						break;
					}
					if (id < 3 && !j->ident[id])
						j->ident[id] = strndup((const char *)pdu + off + 2, ol);
					off += 2 + (size_t)ol;
				}
				if (r == 0 && pdu[4] == 0xff && pdu[5] > next) {
					next = pdu[5];
					continue;
				}
			}
		}
		if (r < 0)
			j->status = r;
		break;
	}
	if (j->status < 0 && b->dirty && b->ctx)
		modbus_flush(b->ctx);
}

/* ---- firmware: FC 0x15 / FC 0x14 and register transactions ----------------------- */

/* The PDU of an answer whose third byte counts the rest (FC 0x14, FC 0x15),
 * or of an exception.  libmodbus 3.1.6's receive_confirmation sizes an
 * answer by its function code and knows neither of these, so the frame is
 * read here, as for FC 0x2B. */
static int counted_receive(struct mb_bus *b, struct mb_job *j, uint8_t *pdu, size_t cap)
{
	int fd = modbus_get_socket(b->ctx);
	uint64_t deadline = mb_now_ms() + j->timeout_ms;
	uint8_t frame[260];
	size_t len;
	int r;

	if (!b->p.rtu)
		return tcp_receive(fd, j->unit, pdu, cap, deadline);
	r = read_full(fd, frame, 3, deadline);
	if (r < 0)
		return r;
	len = (frame[1] & 0x80) ? 5 : 3u + frame[2] + 2u;
	r = read_full(fd, frame + 3, len - 3, deadline);
	if (r < 0)
		return r;
	if (crc16(frame, len - 2) != (uint16_t)(frame[len - 2] | frame[len - 1] << 8)) {
		j->crc_errors++;
		return -EBADMSG;
	}
	if (frame[0] != j->unit || len - 3 > cap)
		return -EPROTO;
	memcpy(pdu, frame + 1, len - 3);
	return (int)(len - 3);
}

/* Send a raw PDU and take its answer: 0 with the answer's length, or a
 * negative errno (-EREMOTEIO with exc for an exception answer). */
static int raw_transaction(struct mb_bus *b, struct mb_job *j, const uint8_t *pdu, size_t len,
			   uint8_t *ans, size_t cap, size_t *ans_len)
{
	uint8_t req[260];
	int n, r = worker_prepare(b, j);

	if (r < 0)
		return r;
	req[0] = j->unit;
	memcpy(req + 1, pdu, len);
	if (modbus_send_raw_request(b->ctx, req, (int)len + 1) < 0)
		return worker_error(b, j, &j->exc);
	n = counted_receive(b, j, ans, cap);
	b->last_io_ms = mb_now_ms();
	if (n < 0) {
		b->dirty = true;
		if (n == -ETIMEDOUT)
			j->timeouts++;
		return n;
	}
	if (n == 2 && ans[0] == (pdu[0] | 0x80)) {
		j->exc = ans[1];
		j->exceptions++;
		return -EREMOTEIO;
	}
	if (n < 2 || ans[0] != pdu[0] || (size_t)ans[1] + 2 != (size_t)n) {
		b->dirty = true;
		return -EPROTO;
	}
	*ans_len = (size_t)n;
	return 0;
}

/* FC 0x15, answered by its echo; then FC 0x14, answered by the records
 * exactly as written. */
static int run_file_record(struct mb_bus *b, struct mb_job *j, struct mb_fwjob *f)
{
	uint8_t ans[256];
	size_t n = 0;
	int r = raw_transaction(b, j, f->wr, f->wr_len, ans, sizeof(ans), &n);

	if (r < 0)
		return r;
	if (n != f->wr_len || memcmp(ans, f->wr, n) != 0)
		return -EPROTO;
	if (!f->rd_len)
		return 0;
	r = raw_transaction(b, j, f->rd, f->rd_len, ans, sizeof(ans), &n);
	if (r < 0)
		return r;
	if (n != f->rd_answer_len) {
		f->mismatch = true;
		return -EBADMSG;
	}
	/* Structure first (lengths and reference types), then the data. */
	for (size_t k = 2; k < n; k += 1u + ans[k]) {
		if (ans[k] != f->rd_answer[k] || ans[k + 1] != 6)
			return -EPROTO;
	}
	if (memcmp(ans, f->rd_answer, n) != 0) {
		f->mismatch = true;
		return -EBADMSG;
	}
	return 0;
}

static void run_fw(struct mb_bus *b, struct mb_job *j)
{
	struct mb_fwjob *f = j->fw;
	int r = 0;

	for (unsigned i = 0; i < f->n_step && r == 0; i++) {
		struct mb_fwstep *s = &f->step[i];

		f->failed = i;
		j->exc = 0;
		switch (s->op) {
		case MB_FW_WRITE:
			r = worker_prepare(b, j);
			if (r < 0)
				break;
			r = s->count == 1 && !j->multiple
				    ? modbus_write_register(b->ctx, s->addr, s->regs[0])
				    : modbus_write_registers(b->ctx, s->addr, s->count, s->regs);
			r = r < 0 ? worker_error(b, j, &j->exc) : 0;
			b->last_io_ms = mb_now_ms();
			break;
		case MB_FW_READ:
			r = worker_read(b, j, MB_HOLDING, s->addr, s->count, s->regs, &j->exc);
			break;
		case MB_FW_FILE:
			r = run_file_record(b, j, f);
			break;
		}
		if (r < 0 && s->lenient && r != -EREMOTEIO)
			r = 0;
	}
	j->status = r;
	if (r < 0 && b->dirty && b->ctx)
		modbus_flush(b->ctx);
}

static void *worker_main(void *arg)
{
	struct mb_bus *b = arg;
	uint64_t one = 1, t0;

	pthread_mutex_lock(&b->mu);
	for (;;) {
		struct mb_job *j;

		while (!b->quit && !b->wq && !b->rq)
			pthread_cond_wait(&b->cv, &b->mu);
		if (b->quit)
			break;
		j = b->wq ? pop(&b->wq, &b->wq_tail) : pop(&b->rq, &b->rq_tail);
		b->cur = j;
		t0 = mb_now_ms();
		if (j->kind == MB_JOB_FW) {
			b->fw_turns++;
			b->fws.turns++;
		} else if (b->updates) {
			uint64_t waited = b->fw_turns - j->fw_mark;

			b->fws.shared_jobs++;
			if (waited > b->fws.max_turns_waited)
				b->fws.max_turns_waited = waited;
			if (t0 - j->queued_ms > b->fws.max_wait_ms)
				b->fws.max_wait_ms = t0 - j->queued_ms;
		}
		pthread_mutex_unlock(&b->mu);

		switch (j->kind) {
		case MB_JOB_CYCLE:
			run_cycle(b, j);
			break;
		case MB_JOB_WRITE:
			run_write(b, j);
			break;
		case MB_JOB_IDENT:
			run_ident(b, j);
			break;
		case MB_JOB_FW:
			run_fw(b, j);
			break;
		}

		pthread_mutex_lock(&b->mu);
		if (j->kind == MB_JOB_FW && mb_now_ms() - t0 > b->fws.max_turn_ms)
			b->fws.max_turn_ms = mb_now_ms() - t0;
		b->cur = NULL;
		push(&b->done, &b->done_tail, j);
		if (write(b->efd, &one, sizeof(one)) < 0) {
			/* The counter cannot overflow in practice; nothing to do. */
		}
	}
	pthread_mutex_unlock(&b->mu);
	worker_close(b);
	return NULL;
}

int mb_bus_start(struct mb_bus *b)
{
	int r;

	if (b->running)
		return 0;
	b->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (b->efd < 0)
		return -errno;
	b->quit = false;
	r = pthread_create(&b->thr, NULL, worker_main, b);
	if (r) {
		close(b->efd);
		b->efd = -1;
		return -r;
	}
	b->running = true;
	return 0;
}

bool mb_bus_quit(struct mb_bus *b)
{
	bool idle;

	if (!b->running)
		return true;
	pthread_mutex_lock(&b->mu);
	b->quit = true;
	pthread_cond_broadcast(&b->cv);
	idle = !b->cur;
	pthread_mutex_unlock(&b->mu);
	return idle;
}

bool mb_bus_idle(struct mb_bus *b)
{
	bool idle;

	pthread_mutex_lock(&b->mu);
	idle = !b->cur;
	pthread_mutex_unlock(&b->mu);
	return idle;
}

void mb_bus_free(struct mb_bus *b)
{
	struct mb_job *j;

	if (!b)
		return;
	if (b->running) {
		pthread_mutex_lock(&b->mu);
		b->quit = true;
		pthread_cond_broadcast(&b->cv);
		pthread_mutex_unlock(&b->mu);
		pthread_join(b->thr, NULL);
	}
	while ((j = pop(&b->wq, &b->wq_tail)))
		mb_job_free(j);
	while ((j = pop(&b->rq, &b->rq_tail)))
		mb_job_free(j);
	while ((j = pop(&b->done, &b->done_tail)))
		mb_job_free(j);
	if (b->efd >= 0)
		close(b->efd);
	params_clear(&b->p);
	pthread_cond_destroy(&b->cv);
	pthread_mutex_destroy(&b->mu);
	free(b->key);
	free(b);
}
