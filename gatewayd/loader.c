#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* asprintf, dladdr1, dlinfo */
#endif
#include "loader.h"
#include "host.h"

#include <dlfcn.h>
#include <errno.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct gw_adapter {
	void *handle;
	char *path;
	const struct gwd_adapter_descriptor *desc;
	struct gwd_adapter_ops ops; /* normalized copy, see loader_ops() */
	void *ctx;
	const struct gwd_host *host;
};

/* Checked in this order; the first one missing is the one reported. */
static const struct {
	const char *name;
	size_t offset;
} mandatory_ops[] = {
	{"device_new", offsetof(struct gwd_adapter_ops, device_new)},
	{"channel_new", offsetof(struct gwd_adapter_ops, channel_new)},
	{"device_start", offsetof(struct gwd_adapter_ops, device_start)},
	{"device_stop", offsetof(struct gwd_adapter_ops, device_stop)},
	{"device_free", offsetof(struct gwd_adapter_ops, device_free)},
	{"read", offsetof(struct gwd_adapter_ops, read)},
};

static bool op_present(const struct gwd_adapter_ops *ops, size_t offset)
{
	void (*fn)(void);

	/* Every op is a function pointer of the same size; read it as one. */
	memcpy(&fn, (const char *)ops + offset, sizeof(fn));
	return fn != NULL;
}

/* Whether sym lives in the object behind handle itself, and not in one of
 * its dependencies (dlsym on a handle searches those too). */
static bool symbol_is_own(void *handle, const void *sym)
{
	struct link_map *own = NULL, *where = NULL;
	Dl_info info;

	if (dlinfo(handle, RTLD_DI_LINKMAP, &own) != 0)
		return false;
	if (!dladdr1(sym, &info, (void **)&where, RTLD_DL_LINKMAP))
		return false;
	return own == where;
}

/* Every check that can refuse the file.  Returns 0 or the errno to refuse
 * with, having logged why. */
static int check_descriptor(const struct gwd_host *host, const char *path, const char *name,
			    const struct gwd_adapter_descriptor *d)
{
	const struct gwd_adapter_ops *ops;

	/* Version first: in another major, nothing after it can be trusted. */
	if (d->abi_major != GWD_ADAPTER_ABI_MAJOR) {
		host->log(NULL, GWD_LOG_ERR,
			  "adapter %s: ABI %u.%u not supported by gatewayd (ABI %u.%u)", path,
			  d->abi_major, d->abi_minor, GWD_ADAPTER_ABI_MAJOR, GWD_ADAPTER_ABI_MINOR);
		return -EPROTO;
	}
	if (d->abi_minor > GWD_ADAPTER_ABI_MINOR) {
		host->log(NULL, GWD_LOG_ERR,
			  "adapter %s: ABI %u.%u not supported by gatewayd (ABI %u.%u): "
			  "built for a newer gatewayd",
			  path, d->abi_major, d->abi_minor, GWD_ADAPTER_ABI_MAJOR,
			  GWD_ADAPTER_ABI_MINOR);
		return -EPROTO;
	}
	if (d->size < LOADER_DESC_SIZE_V1_0) {
		host->log(NULL, GWD_LOG_ERR,
			  "adapter %s: descriptor size %u is smaller than ABI 1.0's (%zu)", path,
			  d->size, LOADER_DESC_SIZE_V1_0);
		return -EINVAL;
	}
	if (!d->name || !d->version || !d->ops) {
		host->log(NULL, GWD_LOG_ERR, "adapter %s: descriptor has no %s", path,
			  !d->name ? "name" : !d->version ? "version" : "ops table");
		return -EINVAL;
	}
	ops = d->ops;
	if (ops->size < LOADER_OPS_SIZE_V1_0) {
		host->log(NULL, GWD_LOG_ERR,
			  "adapter %s: ops table size %u is smaller than ABI 1.0's (%zu)", path,
			  ops->size, LOADER_OPS_SIZE_V1_0);
		return -EINVAL;
	}
	for (size_t i = 0; i < sizeof(mandatory_ops) / sizeof(mandatory_ops[0]); i++) {
		if (!op_present(ops, mandatory_ops[i].offset)) {
			host->log(NULL, GWD_LOG_ERR,
				  "adapter %s: mandatory operation %s is missing", path,
				  mandatory_ops[i].name);
			return -EINVAL;
		}
	}
	if (strcmp(d->name, name) != 0) {
		host->log(NULL, GWD_LOG_ERR,
			  "adapter %s: descriptor is named \"%s\", expected \"%s\"", path,
			  d->name, name);
		return -EINVAL;
	}
	return 0;
}

/* Instances open per shared object (dlopen hands the same handle to each):
 * a reload checks the new file with instances of its own, beside the
 * running ones.  Only the loop thread loads and unloads. */
struct open_handle {
	void *handle;
	unsigned n;
	struct open_handle *next;
};
static struct open_handle *open_handles;

static int handle_ref(void *handle)
{
	struct open_handle *h;

	for (h = open_handles; h; h = h->next)
		if (h->handle == handle) {
			h->n++;
			return 0;
		}
	h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	h->handle = handle;
	h->n = 1;
	h->next = open_handles;
	open_handles = h;
	return 0;
}

/* Whether this was the handle's last instance. */
static bool handle_unref(void *handle)
{
	for (struct open_handle **pp = &open_handles; *pp; pp = &(*pp)->next) {
		struct open_handle *h = *pp;

		if (h->handle != handle)
			continue;
		if (--h->n > 0)
			return false;
		*pp = h->next;
		free(h);
		return true;
	}
	return true;
}

int loader_open(const char *dir, const char *name, const struct gwd_host *host,
		struct gw_adapter **out)
{
	struct gw_adapter *a;
	struct stat st;
	void *sym;
	size_t n;
	int r;

	*out = NULL;
	/* The name comes from the config: never let it leave dir. */
	if (!name || !*name || strchr(name, '/')) {
		host->log(NULL, GWD_LOG_ERR, "adapter name \"%s\" is not a plain file name",
			  name ? name : "(null)");
		return -EINVAL;
	}
	a = calloc(1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	a->host = host;
	if (asprintf(&a->path, "%s/%s.so", dir, name) < 0) {
		free(a);
		return -ENOMEM;
	}
	/* dlopen's error is a string; ask the file system for the common case. */
	if (stat(a->path, &st) != 0) {
		r = -errno;
		host->log(NULL, GWD_LOG_ERR, "adapter %s: %s", a->path, strerror(-r));
		goto fail;
	}
	a->handle = dlopen(a->path, RTLD_NOW | RTLD_LOCAL);
	if (!a->handle) {
		const char *e = dlerror();

		host->log(NULL, GWD_LOG_ERR, "adapter %s: cannot load: %s", a->path,
			  e ? e : "unknown error");
		r = -ENOEXEC;
		goto fail;
	}
	dlerror();
	sym = dlsym(a->handle, GWD_ADAPTER_SYMBOL);
	if (!sym || !symbol_is_own(a->handle, sym)) {
		host->log(NULL, GWD_LOG_ERR, "adapter %s: not a gatewayd adapter (no %s symbol)",
			  a->path, GWD_ADAPTER_SYMBOL);
		r = -ENOEXEC;
		goto fail;
	}
	a->desc = sym;
	r = check_descriptor(host, a->path, name, a->desc);
	if (r < 0)
		goto fail;

	/* Members the adapter's table does not have read as NULL. */
	n = a->desc->ops->size < sizeof(a->ops) ? a->desc->ops->size : sizeof(a->ops);
	memcpy(&a->ops, a->desc->ops, n);
	a->ops.size = a->desc->ops->size;

	if (a->ops.init) {
		r = a->ops.init(host, &a->ctx);
		if (r < 0) {
			host->log(NULL, GWD_LOG_ERR, "adapter %s: init failed: %s", a->path,
				  strerror(-r));
			goto fail;
		}
	}
	r = handle_ref(a->handle);
	if (r < 0) {
		if (a->ops.fini)
			a->ops.fini(a->ctx);
		goto fail;
	}
	host->log(NULL, GWD_LOG_INFO, "adapter %s %s loaded from %s (ABI %u.%u)", a->desc->name,
		  a->desc->version, a->path, a->desc->abi_major, a->desc->abi_minor);
	*out = a;
	return 0;

fail:
	if (a->handle)
		dlclose(a->handle);
	free(a->path);
	free(a);
	return r;
}

void loader_close(struct gw_adapter *a)
{
	if (!a)
		return;
	if (a->ops.fini)
		a->ops.fini(a->ctx);
	/* fini has stopped its threads: nothing posts any more.  What they
	 * posted must not run once the code is unmapped.  While another
	 * instance keeps the code mapped, what is queued may be that
	 * instance's: it stays (this one, a reload's check, posts nothing). */
	if (handle_unref(a->handle))
		host_adapter_unloading(a);
	dlclose(a->handle);
	free(a->path);
	free(a);
}

bool loader_has_code(const struct gw_adapter *a, const void *addr)
{
	return symbol_is_own(a->handle, addr);
}

const char *loader_name(const struct gw_adapter *a)
{
	return a->desc->name;
}

const char *loader_version(const struct gw_adapter *a)
{
	return a->desc->version;
}

const char *loader_path(const struct gw_adapter *a)
{
	return a->path;
}

const struct gwd_adapter_ops *loader_ops(const struct gw_adapter *a)
{
	return &a->ops;
}

void *loader_ctx(const struct gw_adapter *a)
{
	return a->ctx;
}

/* ---- the set ------------------------------------------------------------ */

struct loader_entry {
	char *name;
	struct gw_adapter *adapter; /* NULL when loading failed */
	int err;                    /* loader_open's result */
};

struct loader_set {
	char *dir;
	const struct gwd_host *host;
	struct loader_entry *v;
	size_t n, cap;
};

const char *loader_set_dir(const struct loader_set *set)
{
	return set->dir;
}

const struct gwd_host *loader_set_host(const struct loader_set *set)
{
	return set->host;
}

int loader_set_new(const char *dir, const struct gwd_host *host, struct loader_set **out)
{
	struct loader_set *set = calloc(1, sizeof(*set));

	*out = NULL;
	if (!set)
		return -ENOMEM;
	set->dir = strdup(dir);
	if (!set->dir) {
		free(set);
		return -ENOMEM;
	}
	set->host = host;
	*out = set;
	return 0;
}

int loader_set_get(struct loader_set *set, const char *name, struct gw_adapter **out)
{
	struct loader_entry *e;
	int r;

	*out = NULL;
	for (size_t i = 0; i < set->n; i++) {
		e = &set->v[i];
		if (strcmp(e->name, name) == 0) {
			*out = e->adapter;
			return e->err;
		}
	}
	if (set->n == set->cap) {
		size_t cap = set->cap ? set->cap * 2 : 4;
		struct loader_entry *v = realloc(set->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		set->v = v;
		set->cap = cap;
	}
	e = &set->v[set->n];
	e->name = strdup(name);
	if (!e->name)
		return -ENOMEM;
	r = loader_open(set->dir, name, set->host, &e->adapter);
	/* Out of memory is not a property of the file: let a later call retry. */
	if (r == -ENOMEM) {
		free(e->name);
		return r;
	}
	e->err = r;
	set->n++;
	*out = e->adapter;
	return r;
}

void loader_set_free(struct loader_set *set)
{
	if (!set)
		return;
	for (size_t i = set->n; i-- > 0;) {
		loader_close(set->v[i].adapter);
		free(set->v[i].name);
	}
	free(set->v);
	free(set->dir);
	free(set);
}
