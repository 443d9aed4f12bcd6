/* A physical Modbus bus (one TCP endpoint or one serial port) and the worker
 * thread that owns its libmodbus context.  Jobs go in on the loop thread,
 * run one at a time on the worker (writes first), and come back to the loop
 * through an eventfd the loop watches.  Users' documentation: README.md. */
#ifndef MB_BUS_H
#define MB_BUS_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "gatewayd/adapter.h"
#include "mb_codec.h"

struct gwd_cfg;
struct gwd_device;

/* Bus parameters, fixed once the worker runs. */
struct mb_bus_params {
	bool rtu;
	char *host;       /* TCP: host name or address; owned */
	char *port;       /* TCP: service, e.g. "502"; owned */
	char *serial;     /* RTU: device path; owned */
	int baud;
	char parity;      /* 'N', 'E', 'O' */
	int data_bits, stop_bits;
	bool rs485;
	int rts;          /* 0 none, 1 up, 2 down (libmodbus's MODBUS_RTU_RTS_*) */
	int rts_delay_us; /* <0: libmodbus's default */
	uint32_t gap_ms;  /* silence between the end of one transaction and the next */
	uint32_t connect_delay_ms;
};

enum mb_job_kind { MB_JOB_CYCLE, MB_JOB_WRITE, MB_JOB_IDENT, MB_JOB_FW };

/* One transaction of a firmware job (one bus turn of an update). */
enum mb_fw_op {
	MB_FW_WRITE, /* regs[0 .. count) to holding registers at addr (FC 6 or 16) */
	MB_FW_READ,  /* holding registers at addr into regs (FC 3) */
	MB_FW_FILE,  /* the job's FC 0x15 request, then its FC 0x14 read-back if any */
};

struct mb_fwstep {
	enum mb_fw_op op;
	uint16_t addr, count;
	uint16_t regs[125];
	/* No answer is no failure: the device may reboot before it answers
	 * this write (the apply command). */
	bool lenient;
};

struct mb_fwjob {
	uint64_t seq; /* the update it belongs to (stale once aborted) */
	struct mb_fwstep step[6];
	unsigned n_step;
	unsigned failed; /* index of the step that failed */
	/* MB_FW_FILE: PDUs, function code first; rd_len 0: no read-back */
	uint8_t wr[256], rd[256], rd_answer[256];
	size_t wr_len, rd_len, rd_answer_len;
	bool mismatch; /* the read-back differs from what was written */
};

/* One read request of a cycle, with its outcome. */
struct mb_jreq {
	enum mb_table table;
	uint16_t addr, count;
	uint32_t plan_idx; /* index in the device's plan */
	int status;        /* 0, -EREMOTEIO (exception in exc), -ETIMEDOUT, ... */
	bool skipped;      /* not sent: an earlier request of the cycle timed out */
	int exc;           /* Modbus exception code */
	uint16_t data[2000]; /* registers, or one bit per element */
};

struct mb_job {
	struct mb_job *next;
	enum mb_job_kind kind;
	void *owner;       /* the device, NULL once forgotten (mb_bus_forget);
			    * only the loop thread reads it */
	uint64_t gen;      /* the owner's generation when queued */
	uint8_t unit;
	uint32_t timeout_ms;

	/* cycle */
	struct mb_jreq *req; /* owned */
	size_t n_req;
	bool probe;

	/* write */
	struct gwd_op *op;  /* NULL once cancelled */
	uint32_t point;
	enum mb_table table;
	uint16_t addr;
	struct mb_format fmt;
	struct gwd_value value; /* string bytes owned */
	bool multiple;      /* FC 15/16 even for one register or coil */
	bool readback;
	uint16_t regs[125]; /* the image written (and read back) */
	int status;
	int exc;

	/* firmware; owned */
	struct mb_fwjob *fw;

	/* bus turns of updates (MB_JOB_FW jobs) started when this job was
	 * queued, and how many ran before it (the test of "a neighbour waits
	 * at most one chunk") */
	uint64_t fw_mark;
	uint64_t queued_ms;

	/* identification: vendor, product code, revision; owned */
	char *ident[3];

	/* what the worker saw, for the device's counters */
	unsigned timeouts, crc_errors, exceptions;
};

struct mb_bus {
	struct mb_bus *next;
	char *key;   /* "tcp HOST:PORT" or "rtu PATH"; owned */
	unsigned refs; /* devices using the bus */
	struct mb_bus_params p;
	/* The config group that set the bus up and its device (borrowed;
	 * NULL once that device is gone), for naming it when another
	 * device asks for the same port with other settings. */
	const struct gwd_cfg *cfg_node;
	struct gwd_device *cfg_dev;

	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct mb_job *wq, *wq_tail;     /* writes: served first */
	struct mb_job *rq, *rq_tail;     /* reads and identification */
	struct mb_job *done, *done_tail; /* finished, waiting for the loop */
	struct mb_job *cur;              /* running on the worker */
	bool quit;
	bool running;
	pthread_t thr;
	int efd;
	struct gwd_watch *watch; /* the loop's watch of efd; the adapter's */

	/* Firmware updates: at most max_updates at a time; the devices
	 * waiting for their turn, in order (loop thread only, the adapter's);
	 * updates running (written by the loop under mu: the worker reads it). */
	unsigned max_updates;
	void *fw_waiting;
	unsigned updates;

	/* How the bus was shared during updates (under mu): jobs of other
	 * kinds run while an update held the bus, the most update turns one
	 * of them waited behind and the longest wait, the longest update
	 * turn.  Reset by mb_bus_fw_stats. */
	struct mb_bus_fw_stats {
		uint64_t shared_jobs;
		uint64_t max_turns_waited;
		uint64_t max_wait_ms, max_turn_ms;
		uint64_t turns;
	} fws;
	uint64_t fw_turns; /* update turns started, ever */

	/* worker only */
	void *ctx; /* modbus_t */
	uint64_t last_io_ms;
	bool dirty; /* a timeout or garbage: flush before the next request */
	bool conn_logged;
	int conn_err;   /* last connection error, reported once */
};

/* Create a bus (no thread yet).  Takes ownership of p's strings. */
int mb_bus_new(const char *key, struct mb_bus_params *p, struct mb_bus **out);
/* Start the worker; efd is written whenever jobs are done. */
int mb_bus_start(struct mb_bus *b);
/* Stop and join the worker, free every job left, close the port.  Waits
 * for a transaction in flight: see mb_bus_quit. */
void mb_bus_free(struct mb_bus *b);
/* Tell the worker to stop, without waiting.  True when it runs no
 * transaction (it takes no new one now): mb_bus_free will not wait for the
 * bus.  False: keep the bus until mb_bus_idle says so. */
bool mb_bus_quit(struct mb_bus *b);
bool mb_bus_idle(struct mb_bus *b);

void mb_bus_submit(struct mb_bus *b, struct mb_job *j);
/* Take the finished jobs (loop thread). */
struct mb_job *mb_bus_take_done(struct mb_bus *b);
/* Forget every job of owner: drop (and free) queued and done ones; a job
 * running on the worker loses its owner (NULL) and comes back through
 * mb_bus_take_done for the loop to drop.  Never waits for the bus. */
void mb_bus_forget(struct mb_bus *b, void *owner);
/* Drop owner's queued and done jobs of one kind (a job on the wire comes
 * back as usual). */
void mb_bus_forget_kind(struct mb_bus *b, void *owner, enum mb_job_kind kind);
void mb_job_free(struct mb_job *j);
/* An update starts (+1) or ends (-1) on the bus (loop thread). */
void mb_bus_update_count(struct mb_bus *b, int delta);
/* The sharing figures since the last call, and reset them. */
struct mb_bus_fw_stats mb_bus_fw_stats(struct mb_bus *b, bool reset);

uint64_t mb_now_ms(void);

#endif
