/* The firmware command hook: an external program (a vendor's flasher, a
 * script) delivers a package to a field device, for any adapter.  It is
 * started with the spool file's path and the device's parameters, watched
 * by the loop (a pidfd or SIGCHLD through sd-event: never a blocking wait),
 * its stdout read line by line ("progress N", "version X"), its exit status
 * mapped onto the firmware ABI's completion statuses, and it is killed on
 * cancel or after its timeout. */
#ifndef GW_FW_HOOK_H
#define GW_FW_HOOK_H

#include <stdint.h>

struct gw_loop;
struct fw_hook;

struct fw_hook_params {
	/* The configured command line (firmware_command), with %
	 * substitutions still in it; split and substituted by fw_hook, never
	 * passed to a shell (the rules, the environment and the exit codes:
	 * gatewayd.conf(5), FIRMWARE COMMAND HOOK).  Borrowed for the call,
	 * like every string here. */
	const char *command;
	const char *image_path;  /* the verified package (spool file) */
	const char *device_name;
	const char *endpoint;    /* the device's LwM2M endpoint name */
	const char *pkg_name;    /* may be NULL */
	const char *pkg_version; /* may be NULL */
	const char *sha256_hex;  /* 64 hex digits */
	uint64_t size;
	uint32_t timeout_ms;     /* 0: 10 minutes */
	/* The device's own configuration keys (address, unit...), for %{key}
	 * substitutions and environment variables: returns the value as text,
	 * or NULL when the device has no such key.  May be NULL. */
	const char *(*lookup)(void *lookup_ud, const char *key);
	void *lookup_ud;
	/* Appended by the implementation: how long a program told to stop
	 * (SIGTERM, on timeout or cancel) has before SIGKILL.  0: 5 s. */
	uint32_t kill_grace_ms;
};

struct fw_hook_ops {
	void (*progress)(void *ud, unsigned percent);  /* "progress N" */
	void (*version)(void *ud, const char *version); /* "version X" */
	/* The program ended (or was killed by its timeout): a status of the
	 * firmware ABI's table (0, -ENOSPC, -ENOMEM, -EBADMSG, -ENOTSUP,
	 * -ETIMEDOUT, -EIO).  Never called from inside fw_hook_start or
	 * fw_hook_cancel; the hook is freed after done returns. */
	void (*done)(void *ud, int status);
};

/* Start the program; 0 and *out, or a negative errno (bad command line,
 * fork failure: nothing will be called). */
int fw_hook_start(struct gw_loop *loop, const struct fw_hook_params *p,
		  const struct fw_hook_ops *ops, void *ud, struct fw_hook **out);
/* The program's PID (its process group's ID too), for logs and tests. */
int fw_hook_pid(const struct fw_hook *h);
/* Kill the program (SIGTERM, SIGKILL after a grace period, reaped by the
 * loop); done() is not called.  Also safe from inside progress() and
 * version(); a no-op from inside done().  Cancel a hook before freeing its
 * loop: a program still running when the loop is freed is killed (SIGKILL)
 * and reaped then, its done() never called, and *h freed. */
void fw_hook_cancel(struct fw_hook *h);

#endif
