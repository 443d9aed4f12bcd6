/* gatewayd adapter SDK: the one installed header.
 *
 * An adapter is a shared object that gatewayd loads with dlopen(RTLD_NOW |
 * RTLD_LOCAL) from its adapter directory as "<name>.so".  It exports exactly
 * one data symbol, GWD_ADAPTER_SYMBOL, a struct gwd_adapter_descriptor
 * (use GWD_ADAPTER_DEFINE).  It never links back into the daemon: everything
 * it needs from gatewayd comes through the const struct gwd_host table handed
 * to ops->init, so adapters build with -Wl,--no-undefined and unit tests can
 * hand an adapter a fake host.
 *
 * Threading: every op is called on the daemon's loop thread and must not
 * block.  An adapter that talks to a blocking bus owns a worker thread and
 * hands results back with host->post(), the only host service that may be
 * called from another thread.
 *
 * Re-entrancy: read, write, execute and the fw_* ops must not call
 * host->complete() for their op before they return; the caller may not be
 * ready for it.  Defer it (a timer armed at now_ms(), or host->post()), even
 * when the result is known at once.  device_stop is the exception: it
 * completes its pending ops itself, before returning.
 *
 * Versioning: both tables only grow by appending.  A minor bump adds members
 * at the end; a major bump breaks compatibility.  Check host->size (or
 * host->abi_minor) before using a member added after 1.0.  gatewayd refuses an adapter
 * whose major differs from its own or whose minor is newer than its own.
 * abi_major and abi_minor are the descriptor's first members in every
 * version, so that the daemon can read them before trusting the rest.
 *
 * Ownership conventions used below: "borrowed" means the callee may use the
 * pointer only for the duration of the call (or the lifetime stated);
 * "copied" means the callee copies what it needs; "taken" means ownership
 * moves to the callee.
 */
#ifndef GATEWAYD_ADAPTER_H
#define GATEWAYD_ADAPTER_H

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define GWD_ADAPTER_ABI_MAJOR 1
#define GWD_ADAPTER_ABI_MINOR 5

/* Name of the one data symbol an adapter exports. */
#define GWD_ADAPTER_SYMBOL "gwd_adapter_descriptor"

/* ---- values exchanged with adapters ------------------------------------ */

enum gwd_value_type {
	GWD_V_NONE = 0,
	GWD_V_BOOL,
	GWD_V_INT,    /* int64_t */
	GWD_V_UINT,   /* uint64_t */
	GWD_V_DOUBLE, /* double */
	GWD_V_STRING, /* UTF-8, not necessarily NUL terminated */
	GWD_V_BYTES,  /* opaque */
};

struct gwd_value {
	enum gwd_value_type type;
	union {
		bool b;
		int64_t i;
		uint64_t u;
		double d;
		struct {
			const void *ptr; /* borrowed for the duration of the call */
			size_t len;
		} bytes; /* GWD_V_STRING and GWD_V_BYTES */
	} v;
};

static inline struct gwd_value gwd_value_double(double d)
{
	struct gwd_value val;
	val.type = GWD_V_DOUBLE;
	val.v.d = d;
	return val;
}

static inline struct gwd_value gwd_value_bool(bool b)
{
	struct gwd_value val;
	val.type = GWD_V_BOOL;
	val.v.b = b;
	return val;
}

static inline struct gwd_value gwd_value_int(int64_t i)
{
	struct gwd_value val;
	val.type = GWD_V_INT;
	val.v.i = i;
	return val;
}

/* ---- opaque host objects ------------------------------------------------ */

struct gwd_device; /* the daemon's device; identifies a device to the host */
struct gwd_cfg;    /* a config group (bus, device or point) */
struct gwd_op;     /* a pending asynchronous operation */
struct gwd_watch;  /* an fd watch */
struct gwd_timer;  /* a one-shot timer */

/* Channel handle chosen by the adapter in channel_new(). */
typedef uint32_t gwd_channel_t;

/* Log priorities: syslog's. */
#define GWD_LOG_ERR 3
#define GWD_LOG_WARNING 4
#define GWD_LOG_NOTICE 5
#define GWD_LOG_INFO 6
#define GWD_LOG_DEBUG 7

/* fd watch events: epoll's. */
#define GWD_EV_IN 0x001
#define GWD_EV_OUT 0x004
#define GWD_EV_ERR 0x008
#define GWD_EV_HUP 0x010

/* Object 3 identity fields an adapter may learn from its device (ABI 1.1). */
enum gwd_identity {
	GWD_ID_MANUFACTURER = 0, /* /3/0/0 */
	GWD_ID_MODEL = 1,        /* /3/0/1 */
	GWD_ID_SERIAL = 2,       /* /3/0/2 */
	GWD_ID_FIRMWARE = 3,     /* /3/0/3 */
};

/* A device's health as its adapter judges it (ABI 1.1). */
enum gwd_device_state {
	GWD_STATE_UP = 0,
	GWD_STATE_DOWN = 1,
};

/* The package being delivered, passed to fw_open and fw_recover.  The host
 * fills it; every pointer is borrowed until the update ends (fw_apply or
 * fw_recover completed, or fw_abort returned).  The members after `version`
 * exist from ABI 1.5 on (the host only calls the fw_* ops of adapters built
 * against 1.5 or later, so an adapter never sees a shorter struct). */
struct gwd_fw_info {
	uint64_t size;        /* total size in bytes; always known from 1.5 on */
	const char *name;     /* package name (/5/0/6), may be NULL */
	const char *version;  /* package version (/5/0/7), may be NULL */
	/* ---- ABI 1.5 ---- */
	const char *path;     /* the whole, verified package in the host's spool
			       * file (read-only): for transports that want a
			       * file rather than fw_write chunks */
	const uint8_t *sha256; /* its SHA-256 digest, 32 bytes */
	/* The package's format as the host recognised it: GWD_FW_FMT_*. */
	uint32_t format;
	/* Where the image proper starts inside the package, and its length
	 * (the whole package for GWD_FW_FMT_RAW). */
	uint64_t image_offset, image_size;
};

/* Package formats (struct gwd_fw_info.format). */
#define GWD_FW_FMT_RAW 0     /* opaque bytes: size (and a configured digest) only */
#define GWD_FW_FMT_MCUBOOT 1 /* an MCUboot image: header, image, TLVs with SHA-256 */

/* What a device's firmware delivery can do (ABI 1.5, ops->fw_caps).  The
 * host zeroes it and sets size to sizeof as it built it; the adapter fills
 * the members it knows that lie inside size. */
struct gwd_fw_caps {
	uint32_t size;
	uint32_t chunk_size;  /* bytes per fw_write the device wants (0: 4096);
			       * every write but the last has exactly this many */
	uint64_t max_size;    /* largest package it takes (0: no limit of its own) */
	uint32_t apply_timeout_ms; /* longest fw_apply may take, reboot included
				    * (0: the host's default, 300 s) */
	uint32_t flags;       /* GWD_FW_CAP_* */
};
/* fw_apply learns the version the device runs afterwards and reports it with
 * set_identity(GWD_ID_FIRMWARE) before completing. */
#define GWD_FW_CAP_REPORTS_VERSION 0x1
/* The device takes only GWD_FW_FMT_MCUBOOT packages. */
#define GWD_FW_CAP_MCUBOOT_ONLY 0x2

/* Completion status of the fw_* ops, and what the host makes of it in the
 * device's Object 5 Update Result (/5/0/5):
 *   0            success (1 after fw_apply)
 *   -ENOSPC      2  not enough flash / storage on the device
 *   -ENOMEM      3  out of RAM on the device
 *   -EBADMSG     5  integrity check failed (CRC, digest, signature)
 *   -ENOTSUP     6  unsupported package type
 *   -ECANCELED   10 cancelled (fw_abort)
 *   -EIO, -ETIMEDOUT, -EPROTO, any other: 8  firmware update failed
 *   -EBUSY       (fw_open only) 11 deferred: the device cannot take it now;
 *                the host tries fw_open again for up to the Maximum Defer
 *                Period (/5/0/13), then 8 */

/* One adapter key of a proposed device (ABI 1.3).  key and a GWD_V_STRING
 * value are copied.  GWD_V_STRING must be NUL-free UTF-8; GWD_V_BYTES and
 * GWD_V_NONE are refused. */
struct gwd_setting {
	const char *key;
	struct gwd_value value;
};

/* A device an adapter found and proposes to the daemon (ABI 1.3), e.g. a
 * BLE sensor whose advertisement matched a discovery rule. */
struct gwd_device_proposal {
	uint32_t size;     /* sizeof(struct gwd_device_proposal) as the adapter built it */
	const char *name;  /* the new device's name (as in the config); copied */
	/* The rule it matched: the name of a profile of the configuration,
	 * which gives the device its adapter (the proposing adapter's),
	 * points and shared keys.  Copied. */
	const char *rule;
	/* The device's own keys (its address, unit...): what a device group
	 * would set beside `profile`.  The array and its keys are borrowed
	 * for the call (copied). */
	const struct gwd_setting *settings;
	size_t n_settings;
};

/* ---- services the host gives the adapter -------------------------------- */

struct gwd_host {
	uint32_t size; /* sizeof(struct gwd_host) as the daemon built it */
	uint16_t abi_major, abi_minor;

	/* Log one line, prefixed with the device's name when dev is non-NULL. */
	void (*log)(struct gwd_device *dev, int priority, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));

	/* Typed config getters.  Return 0 and store the value when the key is
	 * present with the right type, -ENOENT when absent (out untouched),
	 * -EINVAL when present with another type (the host has then reported
	 * the error with file:line).  Reading a key marks it as known, so the
	 * host can report keys nobody read as unknown.  Strings are borrowed
	 * for as long as the device (or bus) exists.  A device's getters fall
	 * back to its profile when the device itself does not set the key. */
	int (*cfg_int)(const struct gwd_cfg *node, const char *key, int64_t *out);
	int (*cfg_double)(const struct gwd_cfg *node, const char *key, double *out);
	int (*cfg_bool)(const struct gwd_cfg *node, const char *key, bool *out);
	int (*cfg_string)(const struct gwd_cfg *node, const char *key, const char **out);
	/* Report an invalid value: "file:line: path.key: message".  key may be
	 * NULL to point at the group itself.  Returns -EINVAL for convenience. */
	int (*cfg_error)(const struct gwd_cfg *node, const char *key, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));

	/* Watch an fd on the loop; cb runs on the loop thread. */
	int (*watch_fd)(int fd, uint32_t events,
			void (*cb)(int fd, uint32_t revents, void *ud), void *ud,
			struct gwd_watch **out);
	void (*unwatch_fd)(struct gwd_watch *w);

	/* One-shot timers on the loop's monotonic clock (milliseconds).  due_ms
	 * is absolute, on the now_ms() clock; a time already past fires soon,
	 * from the loop, never inside timer_arm. */
	int (*timer_new)(void (*cb)(void *ud), void *ud, struct gwd_timer **out);
	void (*timer_arm)(struct gwd_timer *t, uint64_t due_ms);
	void (*timer_disarm)(struct gwd_timer *t);
	void (*timer_free)(struct gwd_timer *t);
	/* Monotonic clock in milliseconds; the one clock tests can fake. */
	uint64_t (*now_ms)(void);

	/* Run fn(ud) on the loop thread.  The only thread-safe service.
	 * A post belongs to the adapter whose code fn is, and to a device
	 * when ud is that device's device_ctx (or its struct gwd_device).
	 * A post that has not run when its device is freed (after
	 * device_free returns) or its adapter unloaded (after fini returns)
	 * is dropped: fn is never called, and ud, borrowed, is not freed
	 * by the host.  So stop (join) the threads that post in device_free
	 * and fini, and keep what a post points at reachable from the
	 * device's or the adapter's state, for device_free or fini to free. */
	int (*post)(void (*fn)(void *ud), void *ud);

	/* A new reading of a channel, unsolicited or from polling. */
	void (*report)(struct gwd_device *dev, gwd_channel_t ch, const struct gwd_value *v);
	/* A channel (or, with ch == GWD_CHANNEL_ALL, the whole device) failed:
	 * err is a negative errno (-ETIMEDOUT, -EIO, -EPROTO ...). */
	void (*report_error)(struct gwd_device *dev, gwd_channel_t ch, int err);
	/* Finish an asynchronous op.  status 0 or negative errno; v is the
	 * value read (read ops) or NULL.  Each op is completed exactly once. */
	void (*complete)(struct gwd_op *op, int status, const struct gwd_value *v);
	/* Firmware delivery progress of the phase in progress (ABI 1.5 gives it
	 * a meaning: the adapter may report fw_apply's progress, 0..100; the
	 * host reports fw_write's itself). */
	void (*fw_progress)(struct gwd_device *dev, unsigned percent);
	/* The device's configured name; borrowed for the device's lifetime.
	 * May be NULL in a host that does not provide it: check first. */
	const char *(*device_name)(const struct gwd_device *dev);

	/* ---- ABI 1.1 ---- */

	/* Identity the device told the adapter (e.g. Modbus Read Device
	 * Identification).  Fills Object 3 unless the config sets the field;
	 * value is copied. */
	void (*set_identity)(struct gwd_device *dev, enum gwd_identity field, const char *value);
	/* The adapter's verdict on the device's health, for adapters that
	 * judge it themselves (consecutive failures, backoff).  DOWN: reads of
	 * its resources answer 5.03 at once and Object 3 shows Error Code 8
	 * (peripheral malfunction); UP clears both.  cause is a negative errno
	 * (0 for UP).  Without these calls the daemon judges health itself
	 * from failed operations. */
	void (*set_state)(struct gwd_device *dev, enum gwd_device_state state, int cause);

	/* ---- ABI 1.2 ---- */

	/* The daemon's state directory (gateway.state_dir), where an adapter
	 * may keep what a device must remember across restarts, in files
	 * named after the device (device_name) and ending in the adapter's
	 * name.  Borrowed for the device's lifetime. */
	const char *(*state_dir)(const struct gwd_device *dev);

	/* ---- ABI 1.3 ---- */

	/* Propose a device made from a rule (see struct gwd_device_proposal;
	 * p is borrowed for the call).  The daemon checks it as it checks the
	 * configuration (the adapter's device_new and channel_new included,
	 * every error logged with the proposal's name), then makes it, starts
	 * it and registers it, as if the file had a device group
	 * { name; profile = rule; settings... }.  It stays until the daemon
	 * stops, or a reload brings a device of the same name from the file
	 * (which replaces it); a reload does not re-check it against a changed
	 * rule.  Loop thread only, and not from inside an op: from a timer, an
	 * fd watch or a post.  Returns 0, -EEXIST (a device of that name
	 * exists: proposing again is harmless), -ENOENT (no such rule),
	 * -EINVAL (refused; logged), -EAGAIN (the daemon is starting its
	 * devices: try again from a timer), -ESHUTDOWN (stopping),
	 * -ENOSYS (a host that cannot make devices, e.g. gatewayd -t). */
	int (*propose_device)(const struct gwd_device_proposal *p);

	/* ---- ABI 1.5 ---- */

	/* Change the events an fd watch waits for (e.g. sd-bus asks for
	 * EPOLLOUT only while it has something to write).  0 or -errno. */
	int (*watch_set_events)(struct gwd_watch *w, uint32_t events);
};

/* Is this member of struct gwd_host inside the host's table?  A host older than the
 * header an adapter was built with has a smaller table (host->size). */
#define GWD_HOST_COVERS(h, member)                                                       \
	(offsetof(struct gwd_host, member) + sizeof((h)->member) <= (h)->size)

/* Does the host provide this service: inside its table and set? */
#define GWD_HOST_HAS(h, member) (GWD_HOST_COVERS(h, member) && (h)->member)

/* For an adapter's init: 0 when the host speaks this major version and its table
 * reaches `member` (the newest one the adapter uses without checking), else -EPROTO. */
#define GWD_HOST_REQUIRE(h, member)                                                      \
	((h)->abi_major == GWD_ADAPTER_ABI_MAJOR && GWD_HOST_COVERS(h, member) ? 0 : -EPROTO)

/* Seconds from the config to milliseconds for the host's timers. */
static inline uint64_t gwd_ms_of(double seconds)
{
	return seconds > 0 ? (uint64_t)llround(seconds * 1000.0) : 0;
}

/* xorshift64: cheap jitter for retry back-offs, not for anything secret.  *state must
 * start non-zero (e.g. from the device's name and the time). */
static inline uint64_t gwd_jitter_next(uint64_t *state)
{
	*state ^= *state << 13;
	*state ^= *state >> 7;
	*state ^= *state << 17;
	return *state;
}

/* Config readers for an adapter's device_new / channel_new that keep going
 * after a bad value, so that every error of a group is reported in one
 * `gatewayd -t`: an absent key leaves *out (the default) alone, a value of
 * the wrong type (already reported by the host) sets *err to -EINVAL.
 * Header-only helpers over the host's getters; no ABI of their own. */
static inline void gwd_cfg_read_int(const struct gwd_host *h, const struct gwd_cfg *n,
				    const char *key, int64_t *out, int *err)
{
	int r = h->cfg_int(n, key, out);

	if (r < 0 && r != -ENOENT)
		*err = -EINVAL;
}

static inline void gwd_cfg_read_double(const struct gwd_host *h, const struct gwd_cfg *n,
				       const char *key, double *out, int *err)
{
	int r = h->cfg_double(n, key, out);

	if (r < 0 && r != -ENOENT)
		*err = -EINVAL;
}

static inline void gwd_cfg_read_bool(const struct gwd_host *h, const struct gwd_cfg *n,
				     const char *key, bool *out, int *err)
{
	int r = h->cfg_bool(n, key, out);

	if (r < 0 && r != -ENOENT)
		*err = -EINVAL;
}

static inline void gwd_cfg_read_string(const struct gwd_host *h, const struct gwd_cfg *n,
				       const char *key, const char **out, int *err)
{
	int r = h->cfg_string(n, key, out);

	if (r < 0 && r != -ENOENT)
		*err = -EINVAL;
}

/* A number outside [min, max] (or NaN) is reported at its key and sets *err. */
static inline void gwd_cfg_check_range(const struct gwd_host *h, const struct gwd_cfg *n,
				       const char *key, double v, double min, double max,
				       int *err)
{
	if (isnan(v) || v < min || v > max)
		*err = h->cfg_error(n, key, "expected a number from %g to %g, found %g", min, max,
				    v);
}

#define GWD_CHANNEL_ALL ((gwd_channel_t)UINT32_MAX)

/* ---- operations the adapter provides ------------------------------------ */

struct gwd_adapter_ops {
	uint32_t size; /* sizeof(struct gwd_adapter_ops) as the adapter built it */

	/* Once per load.  host is borrowed for the adapter's lifetime.  The
	 * loop may not run yet (gatewayd -t loads adapters too): init must not
	 * use timers, fd watches or post; start I/O in device_start. */
	int (*init)(const struct gwd_host *host, void **adapter_ctx);
	void (*fini)(void *adapter_ctx);

	/* Validate a device's config and allocate its state; no I/O.  bus is
	 * the device's bus group or NULL.  dev and the cfg nodes are borrowed
	 * for the device's lifetime.  Report errors with host->cfg_error and
	 * return -EINVAL; gatewayd -t calls this to check a config. */
	int (*device_new)(void *adapter_ctx, struct gwd_device *dev,
			  const struct gwd_cfg *device, const struct gwd_cfg *bus,
			  void **device_ctx);
	/* Add one channel for a configured point; point is borrowed for the
	 * device's lifetime and holds the adapter's own per-point keys.  The
	 * adapter chooses *out.  Called after device_new, before start. */
	int (*channel_new)(void *device_ctx, const char *channel,
			   const struct gwd_cfg *point, gwd_channel_t *out);
	/* Start I/O (open ports, schedule polls).  Must not block. */
	int (*device_start)(void *device_ctx);
	/* Stop I/O; pending ops must be completed (e.g. with -ECANCELED). */
	void (*device_stop)(void *device_ctx);
	void (*device_free)(void *device_ctx);

	/* Asynchronous channel ops: return 0 and later call host->complete(op)
	 * exactly once, or return a negative errno now (op is then not
	 * completed).  v and args are borrowed for the call. */
	int (*read)(void *device_ctx, gwd_channel_t ch, struct gwd_op *op);
	/* write: a number comes as GWD_V_INT or GWD_V_UINT when the point's
	 * inverse transform keeps it an integer (exact to 64 bits: check it
	 * against the register's type exactly), else as GWD_V_DOUBLE. */
	int (*write)(void *device_ctx, gwd_channel_t ch, const struct gwd_value *v,
		     struct gwd_op *op);
	int (*execute)(void *device_ctx, gwd_channel_t ch, const void *args, size_t len,
		       struct gwd_op *op);

	/* Firmware delivery to the field device (optional: NULL when the adapter
	 * cannot update its devices).  Declared in 1.0 but given their meaning
	 * in 1.5: the host calls them only for adapters built against 1.5 or
	 * later that also provide fw_caps.  One update per device at a time,
	 * one op in flight at a time, in this order:
	 *   fw_open   prepare the device (enter its loader, erase a slot...);
	 *   fw_write  the package's bytes in order, offset from 0, chunks of
	 *             caps.chunk_size (data borrowed for the call: copy what
	 *             is needed after it returns);
	 *   fw_close  everything was written: the device verifies it;
	 *   fw_apply  install and run it; complete once the device runs the
	 *             new image (after its reboot) or has failed to.
	 * Each returns 0 and completes op later (host->complete, status as in
	 * the table above), or returns a negative errno now.  The device's
	 * polling is the adapter's business: pause it while the device cannot
	 * answer, and report nothing wrong about a device that is rebooting.
	 * fw_abort cancels the update: the adapter completes the op in flight
	 * (if any) with -ECANCELED before returning, as device_stop does,
	 * returns the device to normal service where it can, and hears
	 * nothing more of that update.  device_stop during an update implies
	 * fw_abort. */
	int (*fw_open)(void *device_ctx, const struct gwd_fw_info *info, struct gwd_op *op);
	int (*fw_write)(void *device_ctx, uint64_t offset, const void *data, size_t len,
			struct gwd_op *op);
	int (*fw_close)(void *device_ctx, struct gwd_op *op);
	int (*fw_apply)(void *device_ctx, struct gwd_op *op);
	void (*fw_abort)(void *device_ctx);

	/* ---- ABI 1.4 ---- */

	/* Optional (NULL, and absent from adapters built before 1.4): how the adapter
	 * reads this device, for `gatewayctl plan`, e.g. the requests of one Modbus poll
	 * cycle.  Plain text, one line per request or step, written into buf (len bytes,
	 * owned by the caller) and NUL-terminated, cut at len - 1.  Returns the length it
	 * wanted, or a negative errno (-EAGAIN: no plan yet).  Loop thread; no I/O. */
	int (*describe_plan)(void *device_ctx, char *buf, size_t len);

	/* ---- ABI 1.5 ---- */

	/* Can this device be updated, and how?  Called after channel_new, on
	 * the loop thread, no I/O.  0 with caps filled; -ENOTSUP: not this
	 * device (e.g. no firmware transport in its profile).  NULL or
	 * -ENOTSUP: the device gets no Object 5 unless a command hook is
	 * configured for it. */
	int (*fw_caps)(void *device_ctx, struct gwd_fw_caps *caps);
	/* Optional.  The daemon stopped while this device was applying info's
	 * package: find out how that ended (e.g. read the version it runs).
	 * Completes op with 0 when the device runs the package, or a status
	 * of the table above; it may wait for the device to come back.  NULL:
	 * the host compares the version the adapter reports (set_identity)
	 * with info->version, and judges a failure after the apply timeout. */
	int (*fw_recover)(void *device_ctx, const struct gwd_fw_info *info, struct gwd_op *op);
};

/* ---- the exported descriptor -------------------------------------------- */

struct gwd_adapter_descriptor {
	uint16_t abi_major;
	uint16_t abi_minor;
	uint32_t size;        /* sizeof(struct gwd_adapter_descriptor) */
	const char *name;     /* must equal the file name without ".so" */
	const char *version;  /* the adapter's own version string */
	const struct gwd_adapter_ops *ops;
};

#define GWD_ADAPTER_DEFINE(name_, version_, ops_)                               \
	__attribute__((visibility("default")))                                  \
	const struct gwd_adapter_descriptor gwd_adapter_descriptor = {          \
		.abi_major = GWD_ADAPTER_ABI_MAJOR,                              \
		.abi_minor = GWD_ADAPTER_ABI_MINOR,                              \
		.size = sizeof(struct gwd_adapter_descriptor),                   \
		.name = (name_),                                                 \
		.version = (version_),                                           \
		.ops = (ops_),                                                   \
	}

#ifdef __cplusplus
}
#endif

#endif /* GATEWAYD_ADAPTER_H */
