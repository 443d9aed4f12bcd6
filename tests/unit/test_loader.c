/* The adapter loader against the fixture adapters in $GW_FIXTURE_ADAPTER_DIR
 * (built from tests/fixtures/adapters/): each refusal's errno and its one
 * log line, and a good adapter's load, init, ops and fini. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "gatewayd/loader.h"

/* ---- a fake host that only logs, into memory ---------------------------- */

#define MAX_LINES 16

static struct {
	int prio[MAX_LINES];
	char text[MAX_LINES][512];
	size_t n;
} logged;

static void fake_log(struct gwd_device *dev, int priority, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void fake_log(struct gwd_device *dev, int priority, const char *fmt, ...)
{
	va_list ap;

	assert_null(dev);
	assert_true(logged.n < MAX_LINES);
	logged.prio[logged.n] = priority;
	va_start(ap, fmt);
	vsnprintf(logged.text[logged.n], sizeof(logged.text[0]), fmt, ap);
	va_end(ap);
	logged.n++;
}

static const struct gwd_host host = {
	.size = sizeof(struct gwd_host),
	.abi_major = GWD_ADAPTER_ABI_MAJOR,
	.abi_minor = GWD_ADAPTER_ABI_MINOR,
	.log = fake_log,
};

static const char *dir;

static int setup(void **state)
{
	memset(&logged, 0, sizeof(logged));
	return 0;
}

/* The one line a refusal logged must be an error and read exactly `want`. */
static void assert_one_line(const char *want)
{
	assert_int_equal(logged.n, 1);
	assert_int_equal(logged.prio[0], GWD_LOG_ERR);
	assert_string_equal(logged.text[0], want);
}

/* Loading name must fail with err and log "adapter DIR/NAME.so: " + the rest. */
static void refuse(const char *name, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void refuse(const char *name, int err, const char *fmt, ...)
{
	struct gw_adapter *a = (struct gw_adapter *)&a; /* must be reset to NULL */
	char want[512], tail[256];
	va_list ap;

	assert_int_equal(loader_open(dir, name, &host, &a), err);
	assert_null(a);
	va_start(ap, fmt);
	vsnprintf(tail, sizeof(tail), fmt, ap);
	va_end(ap);
	snprintf(want, sizeof(want), "adapter %s/%s.so: %s", dir, name, tail);
	assert_one_line(want);
}

/* ---- refusals ------------------------------------------------------------ */

static void test_missing_file(void **state)
{
	refuse("nope", -ENOENT, "No such file or directory");
}

static void test_missing_symbol(void **state)
{
	refuse("nosym", -ENOEXEC, "not a gatewayd adapter (no gwd_adapter_descriptor symbol)");
}

static void test_wrong_major(void **state)
{
	refuse("major2", -EPROTO, "ABI 2.0 not supported by gatewayd (ABI %d.%d)",
	       GWD_ADAPTER_ABI_MAJOR, GWD_ADAPTER_ABI_MINOR);
}

static void test_newer_minor(void **state)
{
	refuse("minor99", -EPROTO,
	       "ABI 1.99 not supported by gatewayd (ABI %d.%d): built for a newer gatewayd",
	       GWD_ADAPTER_ABI_MAJOR, GWD_ADAPTER_ABI_MINOR);
}

static void test_name_mismatch(void **state)
{
	refuse("badname", -EINVAL, "descriptor is named \"other\", expected \"badname\"");
}

static void test_mandatory_op_missing(void **state)
{
	refuse("noread", -EINVAL, "mandatory operation read is missing");
}

static void test_ops_too_small(void **state)
{
	refuse("tinyops", -EINVAL, "ops table size %zu is smaller than ABI 1.0's (%zu)",
	       offsetof(struct gwd_adapter_ops, execute), LOADER_OPS_SIZE_V1_0);
}

static void test_null_version(void **state)
{
	refuse("nullver", -EINVAL, "descriptor has no version");
}

static void test_init_fails(void **state)
{
	refuse("initfail", -EIO, "init failed: Input/output error");
}

static void test_not_elf(void **state)
{
	char tmp[] = "/tmp/test_loader.XXXXXX", path[64], want[256];
	struct gw_adapter *a;
	FILE *f;

	assert_non_null(mkdtemp(tmp));
	snprintf(path, sizeof(path), "%s/junk.so", tmp);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("not an ELF file\n", f);
	fclose(f);

	assert_int_equal(loader_open(tmp, "junk", &host, &a), -ENOEXEC);
	assert_null(a);
	assert_int_equal(logged.n, 1);
	snprintf(want, sizeof(want), "adapter %s: cannot load: ", path);
	assert_memory_equal(logged.text[0], want, strlen(want));

	unlink(path);
	rmdir(tmp);
}

static void test_name_with_slash(void **state)
{
	struct gw_adapter *a;

	assert_int_equal(loader_open(dir, "../adapters/good", &host, &a), -EINVAL);
	assert_one_line("adapter name \"../adapters/good\" is not a plain file name");
	logged.n = 0;
	assert_int_equal(loader_open(dir, "", &host, &a), -EINVAL);
	assert_int_equal(logged.n, 1);
}

/* ---- the good one ---------------------------------------------------------- */

static void test_good(void **state)
{
	const struct gwd_adapter_descriptor *raw;
	const struct gwd_adapter_ops *ops;
	struct gw_adapter *a = NULL;
	char path[512], want[600];
	void *h;

	assert_int_equal(loader_open(dir, "good", &host, &a), 0);
	assert_non_null(a);
	assert_string_equal(loader_name(a), "good");
	assert_string_equal(loader_version(a), "1.2.3");
	snprintf(path, sizeof(path), "%s/good.so", dir);
	assert_string_equal(loader_path(a), path);
	assert_int_equal(*(int *)loader_ctx(a), 42);

	/* init ran, then the loader said what it loaded. */
	assert_int_equal(logged.n, 2);
	assert_string_equal(logged.text[0], "good: init");
	assert_int_equal(logged.prio[1], GWD_LOG_INFO);
	snprintf(want, sizeof(want), "adapter good 1.2.3 loaded from %s (ABI %d.%d)", path,
		 GWD_ADAPTER_ABI_MAJOR, GWD_ADAPTER_ABI_MINOR);
	assert_string_equal(logged.text[1], want);

	/* The adapter's table ends at execute: fw_open is there in memory but
	 * not in the table, so it must read as NULL both ways. */
	ops = loader_ops(a);
	assert_int_equal(ops->size, LOADER_OPS_SIZE_V1_0);
	assert_non_null(ops->read);
	assert_non_null(ops->device_new);
	assert_null(ops->write);
	assert_null(ops->fw_open);
	assert_null(ops->fw_abort);
	assert_non_null(LOADER_OP(ops, read));
	assert_null(LOADER_OP(ops, fw_open));

	h = dlopen(path, RTLD_NOW | RTLD_LOCAL | RTLD_NOLOAD);
	assert_non_null(h);
	raw = dlsym(h, GWD_ADAPTER_SYMBOL);
	assert_non_null(raw);
	assert_non_null(raw->ops->fw_open);
	assert_null(LOADER_OP(raw->ops, fw_open));
	assert_ptr_equal(LOADER_OP(raw->ops, read), ops->read);
	dlclose(h);

	logged.n = 0;
	loader_close(a);
	assert_int_equal(logged.n, 1);
	assert_string_equal(logged.text[0], "good: fini 42");

	loader_close(NULL);
}

static void some_fw_abort(void *dctx)
{
}

static void test_op_accessor_full_table(void **state)
{
	static const struct gwd_adapter_ops full = {
		.size = sizeof(struct gwd_adapter_ops),
		.fw_abort = some_fw_abort,
	};
	struct gwd_adapter_ops cut = full;

	assert_non_null(LOADER_OP(&full, fw_abort));
	cut.size = offsetof(struct gwd_adapter_ops, fw_abort);
	assert_null(LOADER_OP(&cut, fw_abort));
	cut.size = offsetof(struct gwd_adapter_ops, fw_abort) + sizeof(cut.fw_abort);
	assert_non_null(LOADER_OP(&cut, fw_abort));
}

/* The real sim adapter, from $GW_ADAPTER_DIR, passes every check. */
static void test_sim_adapter(void **state)
{
	const char *adir = getenv("GW_ADAPTER_DIR");
	struct gw_adapter *a;
	char path[512];

	/* Not there when the build was configured with --disable-sim. */
	snprintf(path, sizeof(path), "%s/sim.so", adir ? adir : "");
	if (!adir || !*adir || access(path, F_OK) != 0) {
		skip();
		return;
	}
	/* sim's init checks the host table's size, not its contents. */
	assert_int_equal(loader_open(adir, "sim", &host, &a), 0);
	assert_string_equal(loader_name(a), "sim");
	assert_int_equal(loader_ops(a)->size, sizeof(struct gwd_adapter_ops));
	assert_non_null(loader_ops(a)->write);
	/* ABI 1.5: sim has a firmware slot (for devices with firmware = true). */
	assert_non_null(loader_ops(a)->fw_open);
	assert_non_null(loader_ops(a)->fw_caps);
	loader_close(a);
}

/* ---- the set ---------------------------------------------------------------- */

static void test_set(void **state)
{
	struct loader_set *set;
	struct gw_adapter *a, *b, *bad;

	assert_int_equal(loader_set_new(dir, &host, &set), 0);
	assert_int_equal(loader_set_get(set, "good", &a), 0);
	assert_int_equal(loader_set_get(set, "good", &b), 0);
	assert_ptr_equal(a, b);
	assert_int_equal(logged.n, 2); /* one init, one "loaded" */

	/* A refusal is logged once, however often asked. */
	logged.n = 0;
	assert_int_equal(loader_set_get(set, "major2", &bad), -EPROTO);
	assert_null(bad);
	assert_int_equal(loader_set_get(set, "major2", &bad), -EPROTO);
	assert_null(bad);
	assert_int_equal(loader_set_get(set, "nope", &bad), -ENOENT);
	assert_int_equal(logged.n, 2);

	logged.n = 0;
	loader_set_free(set);
	assert_int_equal(logged.n, 1);
	assert_string_equal(logged.text[0], "good: fini 42");
	loader_set_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_missing_file, setup),
		cmocka_unit_test_setup(test_missing_symbol, setup),
		cmocka_unit_test_setup(test_wrong_major, setup),
		cmocka_unit_test_setup(test_newer_minor, setup),
		cmocka_unit_test_setup(test_name_mismatch, setup),
		cmocka_unit_test_setup(test_mandatory_op_missing, setup),
		cmocka_unit_test_setup(test_ops_too_small, setup),
		cmocka_unit_test_setup(test_null_version, setup),
		cmocka_unit_test_setup(test_init_fails, setup),
		cmocka_unit_test_setup(test_not_elf, setup),
		cmocka_unit_test_setup(test_name_with_slash, setup),
		cmocka_unit_test_setup(test_good, setup),
		cmocka_unit_test_setup(test_op_accessor_full_table, setup),
		cmocka_unit_test_setup(test_sim_adapter, setup),
		cmocka_unit_test_setup(test_set, setup),
	};

	dir = getenv("GW_FIXTURE_ADAPTER_DIR");
	if (!dir || !*dir) {
		fprintf(stderr, "GW_FIXTURE_ADAPTER_DIR is not set\n");
		return 77; /* automake: skipped */
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
