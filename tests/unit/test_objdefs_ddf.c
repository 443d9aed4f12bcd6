/* Object definitions loaded at run time from DDF files
 * (lwm2m/objdefs_ddf.c), against the fixtures in tests/fixtures/ddf: the
 * OMA's 3442.xml, which the built-in table leaves out, a hand-written vendor
 * object and one broken file per kind of refusal. */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "lwm2m/objdefs.h"

static char fixdir[PATH_MAX + 32];

/* $top_srcdir/tests/fixtures/ddf, else relative to this binary
 * (tests/unit/test_objdefs_ddf -> tests/fixtures/ddf). */
static void fixdir_init(void)
{
	const char *top = getenv("top_srcdir");
	char exe[PATH_MAX];
	ssize_t n;
	char *slash;

	if (top && *top) {
		snprintf(fixdir, sizeof(fixdir), "%s/tests/fixtures/ddf", top);
		return;
	}
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0) {
		snprintf(fixdir, sizeof(fixdir), "tests/fixtures/ddf");
		return;
	}
	exe[n] = '\0';
	slash = strrchr(exe, '/');
	if (slash)
		*slash = '\0';
	snprintf(fixdir, sizeof(fixdir), "%s/../fixtures/ddf", exe);
}

static const char *fix(const char *name)
{
	static char path[sizeof(fixdir) + 64];

	snprintf(path, sizeof(path), "%s/%s", fixdir, name);
	return path;
}

static int teardown(void **state)
{
	lwm_objdefs_unload_all();
	return 0;
}

static void load_ok(const char *name)
{
	char err[256] = "x";
	int rc = lwm_objdefs_load_file(fix(name), err, sizeof(err));

	if (rc != 0)
		fail_msg("%s: %d %s", name, rc, err);
	assert_string_equal(err, "");
}

/* Refused with rc, and the message holds want. */
static void load_bad(const char *name, int rc, const char *want)
{
	char err[256] = "";
	int got = lwm_objdefs_load_file(fix(name), err, sizeof(err));

	if (got != rc || !strstr(err, want))
		fail_msg("%s: got %d \"%s\", want %d \"...%s...\"", name, got, err, rc, want);
}

static const struct lwm_res_def *res(uint16_t oid, uint16_t rid)
{
	const struct lwm_obj_def *o = lwm_objdef_find(oid);

	assert_non_null(o);
	return lwm_resdef_find(o, rid);
}

static void check_res(uint16_t oid, uint16_t rid, const char *name, enum lwm_type type, uint8_t ops,
		      bool multiple)
{
	const struct lwm_res_def *r = res(oid, rid);

	assert_non_null(r);
	assert_int_equal(r->id, rid);
	assert_string_equal(r->name, name);
	assert_int_equal(r->type, type);
	assert_int_equal(r->ops, ops);
	assert_int_equal(r->multiple, multiple);
	assert_false(r->mandatory);
	assert_string_equal(r->units, "");
	assert_false(r->has_range);
}

/* Every resource of 3442.xml, as the file has it. */
static void test_load_3442(void **state)
{
	const struct lwm_obj_def *o;
	static const uint16_t ids[] = {
		0, 1, 2, 3, 4, 5, 6, 110, 120, 125, 130, 140, 150, 160, 170, 180,
		1110, 1120, 1125, 1130, 1140, 1150, 1160, 1170, 1180,
	};

	/* the built-in table leaves it out... */
	assert_null(lwm_objdef_find(3442));
	assert_null(lwm_objdef_find_builtin(3442));
	assert_null(lwm_objdef_find(3441));
	load_ok("3442.xml");
	/* ...and a loaded one is found by the ordinary lookup */
	o = lwm_objdef_find(3442);
	assert_non_null(o);
	assert_ptr_equal(o, lwm_objdef_find_loaded(3442));
	assert_int_equal(o->id, 3442);
	assert_string_equal(o->name, "LwM2M v1.1 Test Object");
	assert_string_equal(o->version, "1.0");
	assert_string_equal(o->urn, "urn:oma:lwm2m:ext:3442");
	assert_true(o->multiple);
	assert_false(o->mandatory);
	assert_int_equal(o->nres, sizeof(ids) / sizeof(ids[0]));
	for (size_t i = 0; i < o->nres; i++)
		assert_int_equal(o->res[i].id, ids[i]); /* sorted */

	check_res(3442, 0, "Reset values", LWM_T_NONE, LWM_OP_E, false);
	check_res(3442, 1, "Randomize values", LWM_T_NONE, LWM_OP_E, false);
	check_res(3442, 2, "Clear values", LWM_T_NONE, LWM_OP_E, false);
	check_res(3442, 3, "Exec With Arguments", LWM_T_NONE, LWM_OP_E, false);
	check_res(3442, 4, "Arguments List", LWM_T_STRING, LWM_OP_R, true);
	check_res(3442, 5, "Send Data", LWM_T_NONE, LWM_OP_E, false);
	check_res(3442, 6, "Resources to Send", LWM_T_STRING, LWM_OP_R | LWM_OP_W, true);
	check_res(3442, 110, "String Value", LWM_T_STRING, LWM_OP_R | LWM_OP_W, false);
	check_res(3442, 120, "Integer Value", LWM_T_INTEGER, LWM_OP_R | LWM_OP_W, false);
	check_res(3442, 125, "Unsigned Integer Value", LWM_T_UNSIGNED, LWM_OP_R | LWM_OP_W, false);
	check_res(3442, 130, "Float Value", LWM_T_FLOAT, LWM_OP_R | LWM_OP_W, false);
	check_res(3442, 140, "Boolean Value", LWM_T_BOOLEAN, LWM_OP_R | LWM_OP_W, false);
	check_res(3442, 150, "Opaque Value", LWM_T_OPAQUE, LWM_OP_R | LWM_OP_W, false);
	check_res(3442, 160, "Time Value", LWM_T_TIME, LWM_OP_R | LWM_OP_W, false);
	check_res(3442, 170, "ObjLink Value", LWM_T_OBJLNK, LWM_OP_R | LWM_OP_W, false);
	check_res(3442, 180, "CoreLnk Value", LWM_T_CORELNK, LWM_OP_R | LWM_OP_W, false);
	check_res(3442, 1110, "Multiple String Value", LWM_T_STRING, LWM_OP_R | LWM_OP_W, true);
	check_res(3442, 1120, "Multiple Integer Value", LWM_T_INTEGER, LWM_OP_R | LWM_OP_W, true);
	check_res(3442, 1125, "Multiple Unsigned Integer Value", LWM_T_UNSIGNED, LWM_OP_R | LWM_OP_W,
		  true);
	check_res(3442, 1130, "Multiple Float Value", LWM_T_FLOAT, LWM_OP_R | LWM_OP_W, true);
	check_res(3442, 1140, "Multiple Boolean Value", LWM_T_BOOLEAN, LWM_OP_R | LWM_OP_W, true);
	check_res(3442, 1150, "Multiple Opaque Value", LWM_T_OPAQUE, LWM_OP_R | LWM_OP_W, true);
	check_res(3442, 1160, "Multiple Time Value", LWM_T_TIME, LWM_OP_R | LWM_OP_W, true);
	check_res(3442, 1170, "Multiple ObjLink Value", LWM_T_OBJLNK, LWM_OP_R | LWM_OP_W, true);
	check_res(3442, 1180, "Multiple CoreLnk Value", LWM_T_CORELNK, LWM_OP_R | LWM_OP_W, true);
	assert_null(lwm_resdef_find(o, 7));
	assert_null(lwm_resdef_find(o, 1181));

	/* built-in objects are still found, and first */
	assert_non_null(lwm_objdef_find(3303));
	assert_null(lwm_objdef_find_loaded(3303));

	/* the same id twice */
	load_bad("3442.xml", -EEXIST, "object 3442 is already loaded from ");

	lwm_objdefs_unload_all();
	assert_null(lwm_objdef_find(3442));
	assert_null(lwm_objdef_find_loaded(3442));
	/* and it can come back */
	load_ok("3442.xml");
	assert_non_null(lwm_objdef_find(3442));
}

static void test_load_vendor(void **state)
{
	const struct lwm_obj_def *o;
	const struct lwm_res_def *r;

	load_ok("vendor-10300.xml");
	o = lwm_objdef_find(10300);
	assert_non_null(o);
	assert_string_equal(o->name, "Example Flow Meter"); /* whitespace tidied */
	assert_string_equal(o->version, "2.1");
	assert_string_equal(o->urn, "urn:oma:lwm2m:x:10300:2.1");
	assert_false(o->multiple);
	assert_int_equal(o->nres, 4);
	/* the file lists 7 first: the table is sorted */
	assert_int_equal(o->res[0].id, 1);
	assert_int_equal(o->res[3].id, 7);
	r = lwm_resdef_find(o, 1);
	assert_string_equal(r->name, "Flow Rate");
	assert_int_equal(r->type, LWM_T_FLOAT);
	assert_true(r->mandatory);
	assert_string_equal(r->units, "m3/h");
	assert_true(r->has_range);
	assert_true(r->range_min == -10.5);
	assert_true(r->range_max == 250.0);
	r = lwm_resdef_find(o, 2);
	assert_int_equal(r->type, LWM_T_UNSIGNED);
	assert_int_equal(r->ops, LWM_OP_R | LWM_OP_W);
	assert_true(r->multiple);
	assert_string_equal(r->units, "%");
	assert_true(r->has_range);
	assert_true(r->range_min == 0.0);
	assert_true(r->range_max == 100.0);
	r = lwm_resdef_find(o, 3);
	assert_int_equal(r->ops, LWM_OP_W);
	assert_false(r->has_range); /* a string's length is not a value range */
	r = lwm_resdef_find(o, 7);
	assert_int_equal(r->type, LWM_T_NONE);
	assert_int_equal(r->ops, LWM_OP_E);

	/* two loaded objects: both reachable by the bisection */
	load_ok("3442.xml");
	assert_ptr_equal(lwm_objdef_find(10300), o);
	assert_non_null(lwm_objdef_find(3442));
	assert_null(lwm_objdef_find(10299));
	assert_null(lwm_objdef_find(65535));
}

static void test_bad_files(void **state)
{
	load_bad("bad-malformed.xml", -EINVAL, "line ");
	load_bad("bad-no-objectid.xml", -EINVAL, "<ObjectID> missing");
	load_bad("bad-type.xml", -EINVAL, "resource 0: unknown <Type> \"Strng\"");
	load_bad("bad-type.xml", -EINVAL, "line 15: ");
	load_bad("bad-dup-resource.xml", -EINVAL, "resource 5 defined twice (lines 10 and 24)");
	load_bad("bad-id-range.xml", -EINVAL, "bad <ObjectID> \"65535\"");
	load_bad("bad-res-range.xml", -EINVAL, "bad resource ID \"70000\"");
	load_bad("bad-ops.xml", -EINVAL, "bad <Operations> \"RE\"");
	load_bad("bad-oma-3303.xml", -EEXIST, "object 3303 is built in (Temperature)");
	load_bad("bad-external-entity.xml", -EINVAL, "DOCTYPE");
	load_bad("no-such-file.xml", -ENOENT, "cannot open");
	/* a directory is not a model */
	{
		char err[128];

		assert_int_equal(lwm_objdefs_load_file(fixdir, err, sizeof(err)), -EINVAL);
		assert_string_equal(err, "not a regular file");
	}
	/* nothing of them stayed behind, and the built-in 3303 is untouched */
	for (uint16_t id = 10300; id <= 10310; id++)
		assert_null(lwm_objdef_find(id));
	assert_null(lwm_objdef_find_loaded(3303));
	assert_int_equal(res(3303, 5700)->type, LWM_T_FLOAT);
	/* err may be left out */
	assert_int_equal(lwm_objdefs_load_file(fix("bad-type.xml"), NULL, 0), -EINVAL);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Refused at its DOCTYPE, before any entity is declared, let alone
 * expanded: fast, and nothing is allocated for the expansion. */
static void test_entity_bomb(void **state)
{
	double t0 = now();

	load_bad("bad-entity-bomb.xml", -EINVAL, "has a DOCTYPE: DTDs and entities are not allowed");
	assert_true(now() - t0 < 0.5);
	assert_null(lwm_objdef_find(10306));
}

/* Files are written at run time: a fixture of a megabyte is not worth
 * shipping. */
static void test_size_limit(void **state)
{
	char dir[] = "/tmp/test_objdefs_ddf.XXXXXX", path[64], err[128];
	FILE *f;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/big.xml", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("<?xml version=\"1.0\"?>\n<LWM2M>", f);
	for (int i = 0; i < LWM_DDF_MAX_SIZE / 16; i++)
		fputs("<!-- padding -->", f);
	fputs("</LWM2M>\n", f);
	fclose(f);
	assert_int_equal(lwm_objdefs_load_file(path, err, sizeof(err)), -EFBIG);
	assert_non_null(strstr(err, "larger than 1048576 bytes"));
	unlink(path);

	/* empty */
	f = fopen(path, "w");
	assert_non_null(f);
	fclose(f);
	assert_int_equal(lwm_objdefs_load_file(path, err, sizeof(err)), -EINVAL);
	unlink(path);
	rmdir(dir);
}

/* One object with one resource, the parts given; written to a temporary
 * file and loaded.  Returns the loader's result, its message in err. */
static int load_text(const char *obj_extra, const char *item, char *err, size_t errlen)
{
	char dir[] = "/tmp/test_objdefs_ddf.XXXXXX", path[64];
	FILE *f;
	int rc;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/t.xml", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fprintf(f, "<?xml version=\"1.0\"?>\n<LWM2M><Object>\n%s\n<Resources>\n%s\n</Resources>"
		   "</Object></LWM2M>\n",
		obj_extra, item);
	fclose(f);
	rc = lwm_objdefs_load_file(path, err, errlen);
	unlink(path);
	rmdir(dir);
	return rc;
}

#define OBJ_OK                                                                                    \
	"<Name>T</Name><ObjectID>10310</ObjectID><MultipleInstances>Single</MultipleInstances>"    \
	"<Mandatory>Optional</Mandatory>"
#define ITEM(id, ops, type, mult, mand, more)                                                      \
	"<Item ID=\"" id "\"><Name>R</Name><Operations>" ops "</Operations><MultipleInstances>" mult \
	"</MultipleInstances><Mandatory>" mand "</Mandatory><Type>" type "</Type>" more "</Item>"
#define ITEM_OK ITEM("1", "R", "Integer", "Single", "Optional", "")

/* The checks one at a time, each against an otherwise valid object. */
static void test_validation(void **state)
{
	static const struct {
		const char *obj, *item, *want;
	} bad[] = {
		{OBJ_OK "<ObjectVersion>1</ObjectVersion>", ITEM_OK, "bad <ObjectVersion> \"1\""},
		{OBJ_OK "<ObjectVersion>1.0.1</ObjectVersion>", ITEM_OK, "bad <ObjectVersion>"},
		{OBJ_OK "<ObjectURN>urn:x:1</ObjectURN>", ITEM_OK, "bad <ObjectURN>"},
		{OBJ_OK "<Name>U</Name>", ITEM_OK, "<Name> given twice in <Object>"},
		{"<Name>T</Name><ObjectID>-1</ObjectID><MultipleInstances>Single</MultipleInstances>"
		 "<Mandatory>Optional</Mandatory>",
		 ITEM_OK, "bad <ObjectID> \"-1\""},
		{"<Name>T</Name><ObjectID>0x10</ObjectID><MultipleInstances>Single</MultipleInstances>"
		 "<Mandatory>Optional</Mandatory>",
		 ITEM_OK, "bad <ObjectID> \"0x10\""},
		{"<Name> </Name><ObjectID>10310</ObjectID><MultipleInstances>Single</MultipleInstances>"
		 "<Mandatory>Optional</Mandatory>",
		 ITEM_OK, "<Name> empty"},
		{"<Name>T</Name><ObjectID>10310</ObjectID><MultipleInstances>Many</MultipleInstances>"
		 "<Mandatory>Optional</Mandatory>",
		 ITEM_OK, "bad <MultipleInstances> \"Many\""},
		{"<Name>T</Name><ObjectID>10310</ObjectID><MultipleInstances>Single</MultipleInstances>",
		 ITEM_OK, "<Mandatory> missing"},
		{OBJ_OK, ITEM("1", "E", "Integer", "Single", "Optional", ""),
		 "resource 1: executable with a <Type>"},
		{OBJ_OK, ITEM("1", "R", "", "Single", "Optional", ""),
		 "resource 1: <Type> empty but not executable"},
		{OBJ_OK, ITEM("1", "RWE", "", "Single", "Optional", ""), "bad <Operations> \"RWE\""},
		{OBJ_OK, ITEM("1", "R", "Integer", "single-ish", "Optional", ""),
		 "bad <MultipleInstances>"},
		{OBJ_OK, ITEM("1", "R", "Integer", "Single", "Maybe", ""), "bad <Mandatory> \"Maybe\""},
		{OBJ_OK, ITEM("1", "R", "Integer", "Single", "Optional", "<Type>Float</Type>"),
		 "<Type> given twice in <Item>"},
		{OBJ_OK, ITEM(" 1", "R", "Integer", "Single", "Optional", ""),
		 "bad resource ID \" 1\""},
		{OBJ_OK, ITEM("65535", "R", "Integer", "Single", "Optional", ""),
		 "bad resource ID \"65535\""},
		{OBJ_OK, ITEM("1", "R", "Integer", "Single", "Optional",
			      "<RangeEnumeration>10..1</RangeEnumeration>"),
		 "minimum above maximum"},
		{OBJ_OK, ITEM("1", "R", "Integer", "Single", "Optional",
			      "<Units>a unit name that is far too long for anyone</Units>"),
		 "<Units> longer than 32 bytes"},
		{OBJ_OK, "<Item><Name>R</Name></Item>", "<Item> without an ID"},
		{OBJ_OK, "<Thing/>", "unexpected <Thing> in <Resources>"},
	};
	char err[256];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = load_text(bad[i].obj, bad[i].item, err, sizeof(err));

		if (rc != -EINVAL || !strstr(err, bad[i].want))
			fail_msg("case %zu: got %d \"%s\", want \"...%s...\"", i, rc, err, bad[i].want);
		assert_null(lwm_objdef_find(10310));
	}

	/* the template itself is fine, including a range left as text */
	assert_int_equal(load_text(OBJ_OK, ITEM("1", "R", "Integer", "Single", "Optional",
						"<RangeEnumeration>1,2,3</RangeEnumeration>"),
				   err, sizeof(err)),
			 0);
	assert_false(res(10310, 1)->has_range);
	assert_string_equal(lwm_objdef_find(10310)->version, "1.0"); /* absent: 1.0 */
	assert_string_equal(lwm_objdef_find(10310)->urn, "");
}

struct reports {
	int n;
	char text[16][320];
};

static void collect(const char *file, const char *msg, void *ud)
{
	struct reports *r = ud;
	const char *base = strrchr(file, '/');

	if (r->n < 16)
		snprintf(r->text[r->n], sizeof(r->text[0]), "%s: %s", base ? base + 1 : file, msg);
	r->n++;
}

static bool reported(const struct reports *r, const char *prefix)
{
	for (int i = 0; i < r->n && i < 16; i++)
		if (strncmp(r->text[i], prefix, strlen(prefix)) == 0)
			return true;
	return false;
}

/* The whole fixture directory: the good files load, each bad one is
 * reported by name and does not stop the rest. */
static void test_load_dir(void **state)
{
	struct reports r = {0};
	int n = lwm_objdefs_load_dir(fixdir, collect, &r);

	for (int i = 0; i < r.n && i < 16; i++)
		printf("# %s\n", r.text[i]);
	assert_int_equal(n, 2);
	assert_non_null(lwm_objdef_find(3442));
	assert_non_null(lwm_objdef_find(10300));
	assert_int_equal(r.n, 10);
	assert_true(reported(&r, "bad-dup-resource.xml: "));
	assert_true(reported(&r, "bad-entity-bomb.xml: line 4: has a DOCTYPE"));
	assert_true(reported(&r, "bad-external-entity.xml: line 4: has a DOCTYPE"));
	assert_true(reported(&r, "bad-id-range.xml: "));
	assert_true(reported(&r, "bad-malformed.xml: line "));
	assert_true(reported(&r, "bad-no-objectid.xml: "));
	assert_true(reported(&r, "bad-oma-3303.xml: object 3303 is built in"));
	assert_true(reported(&r, "bad-ops.xml: "));
	assert_true(reported(&r, "bad-res-range.xml: "));
	assert_true(reported(&r, "bad-type.xml: line 15: "));

	/* a second pass finds everything loaded already */
	r.n = 0;
	assert_int_equal(lwm_objdefs_load_dir(fixdir, NULL, NULL), 0);
	assert_int_equal(lwm_objdefs_load_dir("/nonexistent/models", collect, &r), -ENOENT);
	assert_int_equal(r.n, 0);

	lwm_objdefs_unload_all();
	assert_null(lwm_objdef_find(3442));
	assert_null(lwm_objdef_find(10300));
	lwm_objdefs_unload_all(); /* twice is harmless */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_load_3442, teardown),
		cmocka_unit_test_teardown(test_load_vendor, teardown),
		cmocka_unit_test_teardown(test_bad_files, teardown),
		cmocka_unit_test_teardown(test_entity_bomb, teardown),
		cmocka_unit_test_teardown(test_size_limit, teardown),
		cmocka_unit_test_teardown(test_validation, teardown),
		cmocka_unit_test_teardown(test_load_dir, teardown),
	};

	fixdir_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
