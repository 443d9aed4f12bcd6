/* The adapter loader: dlopen an adapter plugin, check its descriptor against
 * the ABI this daemon was built with, and hand it the host table.  Every
 * refusal is one log line (through host->log) naming the file and, for
 * version problems, both versions. */
#ifndef GW_LOADER_H
#define GW_LOADER_H

#include <stdbool.h>
#include <stddef.h>

#include "gatewayd/adapter.h"

/* The smallest tables a v1.0 adapter may export.  The ops table's mandatory
 * part ends with execute; members after it (firmware) are optional, and an
 * adapter built before they existed has a smaller ops->size. */
#define LOADER_DESC_SIZE_V1_0 \
	(offsetof(struct gwd_adapter_descriptor, ops) + sizeof(const struct gwd_adapter_ops *))
#define LOADER_OPS_SIZE_V1_0 \
	(offsetof(struct gwd_adapter_ops, execute) + sizeof(((struct gwd_adapter_ops *)0)->execute))

/* An ops member, or NULL when the adapter's table (ops->size) ends before it.
 * Use this on any ops table an adapter handed over; loader_ops() already
 * returns a table where such members are NULL. */
#define LOADER_OP(ops, member)                                                  \
	((offsetof(struct gwd_adapter_ops, member) +                            \
	  sizeof(((struct gwd_adapter_ops *)0)->member) <= (ops)->size)         \
		 ? (ops)->member                                                \
		 : NULL)

struct gw_adapter;

/* Load dir/name.so, check it and call its init.  host is borrowed for the
 * adapter's lifetime.  Returns 0 and sets *out, or:
 *   -ENOENT  no such file
 *   -ENOEXEC dlopen failed, or the file does not export GWD_ADAPTER_SYMBOL
 *   -EPROTO  ABI major differs, or minor newer than the daemon's
 *   -EINVAL  bad descriptor or ops table, or its name is not `name`
 *   -ENOMEM, or whatever the adapter's init returned.
 * name must be a plain file name stem (no '/'). */
int loader_open(const char *dir, const char *name, const struct gwd_host *host,
		struct gw_adapter **out);
/* Call the adapter's fini, drop what it posted to the loop and has not run
 * yet (host_adapter_unloading), and unload it.  NULL is a no-op. */
void loader_close(struct gw_adapter *a);
/* Whether addr (code or data) lies in the adapter's own object, not in a
 * library it uses. */
bool loader_has_code(const struct gw_adapter *a, const void *addr);

/* Borrowed for the adapter's lifetime. */
const char *loader_name(const struct gw_adapter *a);
const char *loader_version(const struct gw_adapter *a);
const char *loader_path(const struct gw_adapter *a);
/* A full-size copy of the adapter's ops: members beyond the adapter's
 * ops->size are NULL, size keeps the adapter's value. */
const struct gwd_adapter_ops *loader_ops(const struct gw_adapter *a);
/* What init stored in its adapter_ctx (pass it to the ops). */
void *loader_ctx(const struct gw_adapter *a);

/* Adapters by name, each loaded once, on first use.  A failed load is
 * remembered too, so it is logged once however many devices ask. */
struct loader_set;

/* dir is copied; host is borrowed for the set's lifetime. */
int loader_set_new(const char *dir, const struct gwd_host *host, struct loader_set **out);
/* The adapter called name, loading it when first asked.  *out is borrowed
 * until loader_set_free.  Errors are loader_open's. */
int loader_set_get(struct loader_set *set, const char *name, struct gw_adapter **out);
/* The set's directory and host table; borrowed for the set's lifetime. */
const char *loader_set_dir(const struct loader_set *set);
const struct gwd_host *loader_set_host(const struct loader_set *set);
/* Unload every adapter, last loaded first.  NULL is a no-op.  A second set
 * may load the same adapters beside the first (fresh instances: init is
 * called again), as a reload's check does. */
void loader_set_free(struct loader_set *set);

#endif
