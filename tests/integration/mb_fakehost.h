/* The fake host of the modbus adapter's tests (see mb_fakehost.c). */
#ifndef MB_FAKEHOST_H
#define MB_FAKEHOST_H

#include <stdbool.h>
#include <stdint.h>

#include "gatewayd/adapter.h"

enum kv_type { KV_END, KV_INT, KV_DOUBLE, KV_BOOL, KV_STRING };

struct kv {
	const char *key;
	enum kv_type type;
	int64_t i;
	double d;
	bool b;
	const char *s;
};

#define KI(k, v) {.key = (k), .type = KV_INT, .i = (v)}
#define KD(k, v) {.key = (k), .type = KV_DOUBLE, .d = (v)}
#define KB(k, v) {.key = (k), .type = KV_BOOL, .b = (v)}
#define KS(k, v) {.key = (k), .type = KV_STRING, .s = (v)}
#define KEND {.type = KV_END}

struct gwd_cfg {
	struct kv *kv;
};

struct gwd_device {
	const char *name;
};

struct gwd_watch {
	int fd;
	void (*cb)(int fd, uint32_t revents, void *ud);
	void *ud;
	bool used;
};

struct gwd_timer {
	void (*cb)(void *ud);
	void *ud;
	uint64_t due;
	bool armed, used;
};

extern const struct gwd_host fh_host;
extern struct gwd_watch watches[4];
extern struct gwd_timer timers[16];

/* What the adapter told the host. */
extern struct gwd_value last_value[16];
extern char last_str[16][64];
extern int reports[16];
extern int completions, last_status;
extern bool in_op; /* set while an op runs: complete() then is a re-entrancy bug */
extern int down_state;
extern char identity[4][64];
extern int fw_progress_calls;
/* The ops completed, in order (completion i at i % 256), and their status. */
extern struct gwd_op *completed_op[256];
extern int completed_status[256];
/* Called for every report, when set. */
extern void (*fh_report_hook)(struct gwd_device *dev, gwd_channel_t ch, const struct gwd_value *v);

struct proc;
/* Send a command to the modbus slave and wait for its "ok". */
void fh_slave(struct proc *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

uint64_t f_now_ms(void);
bool run_until(bool (*done)(void *arg), void *arg, int timeout_ms);
bool run_until_completions(int n, int timeout_ms);

#endif
