/* A device's Object 5 (Firmware Update, 1.2): the package a server pushes
 * (/5/0/0, Block1 streamed into a spool file) or has the gateway pull
 * (/5/0/1, fw_fetch.h), checked (fw_pkg.h), kept across restarts, and
 * delivered on Update (/5/0/2) to the field device through its adapter's
 * fw_* ops (ABI 1.5) or a command hook (fw_hook.h).
 *
 * Files, in gateway.state_dir, named after the device:
 *   NAME.fw       Object 5's state (statefile.c: replaced atomically)
 *   NAME.fw.part  a package being received (push or pull)
 *   NAME.fw.pkg   the whole, verified package (fsync'ed, then renamed
 *                 from .part off the loop thread)
 *
 * State and Update Result changes are events: each is notified at once to
 * their observers, bypassing pmin (lwm_client_values_changed_now), so that
 * no transition is coalesced away.
 *
 * Loop thread only. */
#ifndef GW_FIRMWARE_H
#define GW_FIRMWARE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gatewayd/adapter.h"
#include "lwm2m/block1.h"
#include "lwm2m/lwm_types.h"
#include "timerq.h"

struct fw_obj;
struct gw_loop;
struct fw_fetcher;
struct lwm_model;
struct lwm_op;
struct lwm_record;

/* Object 5 State (/5/0/3). */
enum fw_state {
	FW_IDLE = 0,
	FW_DOWNLOADING = 1,
	FW_DOWNLOADED = 2,
	FW_UPDATING = 3,
};

/* Default and bounds of gateway.firmware_max_size. */
#define FW_MAX_SIZE_DEFAULT (64ull * 1024 * 1024)
/* Free space left on the state directory's file system after a package. */
#define FW_DISK_RESERVE (1024ull * 1024)
/* fw_apply (reboot included) when the adapter does not say. */
#define FW_APPLY_TIMEOUT_MS 300000u
/* A deferred Update (Update Result 11) is tried again this often. */
#define FW_DEFER_RETRY_MS 5000u
/* Largest chunk handed to fw_write (caps.chunk_size is clamped to it). */
#define FW_CHUNK_MAX (64u * 1024u)

/* What firmware.c needs from its device.  Strings and pointers are
 * borrowed for the object's lifetime. */
struct fw_env {
	const char *name;        /* the device's name: log lines, file names */
	const char *endpoint;
	const char *state_dir;
	uint64_t max_size;       /* gateway.firmware_max_size; 0: no limit */
	const uint8_t *raw_sha256; /* firmware_sha256 (32 bytes) or NULL */
	const char *command;     /* firmware_command or NULL */
	uint32_t command_timeout_ms; /* firmware_timeout; 0: the hook's default */
	/* The adapter, when it updates this device (fw_caps returned 0). */
	const struct gwd_adapter_ops *ops;
	void *actx;
	bool adapter_updates;
	struct gwd_fw_caps caps;
	struct gw_loop *loop;    /* NULL: no hook, spool finished inline (tests) */
	struct fw_fetcher *fetcher; /* NULL: nothing can be pulled */
	uint32_t give_up_ms;     /* a pull without progress for this long fails */
	const char *ca_file;     /* https:// pulls: gateway.firmware_ca_file or NULL */
	/* coaps:// pulls: the device's credentials (those of its first
	 * server), or NULL. */
	const struct lwm_security *security;
	struct timerq *timers;
	struct lwm_model *model;
	void *ud;
	/* A resource changed; event: notify each change (State, Result). */
	void (*changed)(void *ud, const struct lwm_path *p, bool event);
	/* The device runs this version now (/3/0/3). */
	void (*set_version)(void *ud, const char *version);
	/* A fresh op for one fw_* call (completed through firmware_op_done),
	 * and giving one back that the adapter refused at once. */
	struct gwd_op *(*op_new)(void *ud);
	void (*op_drop)(void *ud, struct gwd_op *op);
	/* The device's own config keys as text, for the hook (may be NULL). */
	const char *(*lookup)(void *ud, const char *key);
};

/* The daemon's loop and fetcher, for every device's Object 5 (NULL, NULL:
 * unbind).  Borrowed until unbound. */
void firmware_bind(struct gw_loop *loop, struct fw_fetcher *fetcher);
struct gw_loop *firmware_loop(void);
struct fw_fetcher *firmware_fetcher(void);

/* Add /5/0 to env->model and take up the state a restart left (a
 * download to resume, an update whose outcome is to learn at start).
 * env is copied.  0 or a negative errno. */
int firmware_new(const struct fw_env *env, struct fw_obj **out);
/* Everything in flight is stopped; the state file stays as it is. */
void firmware_free(struct fw_obj *fw);
/* The device started (its adapter runs): resume a pull, learn the outcome
 * of an update the daemon stopped in the middle of. */
void firmware_start(struct fw_obj *fw);
/* The device stops: an update in flight is aborted (fw_abort, the hook
 * killed) and its outcome is learnt at the next start. */
void firmware_stop(struct fw_obj *fw);

/* Is p (len 3) one of Object 5's resources? */
bool firmware_owns(const struct fw_obj *fw, const struct lwm_path *p);
/* A server's Write of Object 5 records (all /5/0/x) and Execute of
 * /5/0/rid: LWM_OP_DONE, LWM_OP_PENDING (lop completed later) or a
 * negative errno (-EPERM: 4.05 Method Not Allowed). */
int firmware_write(struct fw_obj *fw, const struct lwm_record *recs, size_t n,
		   struct lwm_op *lop);
int firmware_execute(struct fw_obj *fw, uint16_t rid, struct lwm_op *lop);
/* The sink for a Block1 Write of /5/0/0 (lwm_client_ops.body_sink). */
struct lwm_block1_sink *firmware_body_sink(struct fw_obj *fw, uint16_t format, uint64_t size1,
					   size_t *limit);

/* Adapter side: an fw_* op completed; progress of fw_apply; the version the
 * device reports (set_identity GWD_ID_FIRMWARE). */
void firmware_op_done(struct fw_obj *fw, int status);
void firmware_progress(struct fw_obj *fw, unsigned percent);
void firmware_version_reported(struct fw_obj *fw, const char *version);

/* For the control socket and tests. */
enum fw_state firmware_state(const struct fw_obj *fw);
int firmware_result(const struct fw_obj *fw);
unsigned firmware_delivery_percent(const struct fw_obj *fw);
uint64_t firmware_bytes(const struct fw_obj *fw);

/* One line for gatewayctl: "Idle", "Downloading 1048576 B", "Updating 40%",
 * with ", result N" when the Update Result is not 0. */
void firmware_describe(const struct fw_obj *fw, char *buf, size_t len);

/* Status -> Update Result: of a download (push or pull: fetch.h statuses)
 * and of a delivery (the adapter ABI's table). */
int firmware_download_result(int status);
int firmware_update_result(int status);

#endif
