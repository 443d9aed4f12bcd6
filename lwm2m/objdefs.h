/* Object and resource definitions, from the table generated out of the OMA
 * registry's DDF files by lwm2m/gen-objdefs.py. */
#ifndef LWM_OBJDEFS_H
#define LWM_OBJDEFS_H

#include "lwm_types.h"

enum lwm_ops {
	LWM_OP_R = 1,
	LWM_OP_W = 2,
	LWM_OP_E = 4,
};

struct lwm_res_def {
	uint16_t id;
	uint8_t type;      /* enum lwm_type; LWM_T_NONE for executables */
	uint8_t ops;       /* enum lwm_ops bits */
	bool multiple;     /* multiple-instance resource */
	bool mandatory;
	const char *name;
	const char *units; /* "" when none */
	/* Range from <RangeEnumeration> when numeric "a..b"; has_range false otherwise. */
	bool has_range;
	double range_min, range_max;
};

struct lwm_obj_def {
	uint16_t id;
	const char *name;
	const char *version; /* "1.0", "1.1", ... */
	const char *urn;
	bool multiple;       /* multiple-instance object */
	bool mandatory;
	uint16_t nres;
	const struct lwm_res_def *res; /* sorted by id */
};

/* Built-in table (generated).  It leaves out OMA's test objects (3441,
 * 3442); see DEFAULT_EXCLUDE in gen-objdefs.py. */
extern const struct lwm_obj_def lwm_builtin_objdefs[];
extern const size_t lwm_builtin_objdefs_count;

/* Lookup; NULL when unknown.  lwm_objdef_find looks in the built-in table,
 * then among the objects loaded at run time (lwm_objdefs_load_*); the other
 * two look in one of them only.  All are O(log n).
 *
 * Threads: loading and unloading happen on the event loop thread only (at
 * start-up, or on a reload once nothing holds a definition), never while
 * another thread may look up; lookups from any thread are safe between. */
const struct lwm_obj_def *lwm_objdef_find(uint16_t oid);
const struct lwm_obj_def *lwm_objdef_find_builtin(uint16_t oid);
const struct lwm_obj_def *lwm_objdef_find_loaded(uint16_t oid);
const struct lwm_res_def *lwm_resdef_find(const struct lwm_obj_def *obj, uint16_t rid);

/* Run-time objects from DDF XML files (objdefs_ddf.c), e.g. vendor objects
 * in gatewayd's models directory.  A file holds one <Object>; it is refused
 * when it is larger than LWM_DDF_MAX_SIZE, is not well-formed, has a DOCTYPE
 * (no DTDs, hence no entities), or fails validation: object id 0..65534,
 * resource ids 0..65534 and unique, known type names, operations "", R, W,
 * RW or E (E exactly when the type is empty), Single/Multiple,
 * Mandatory/Optional, version "x.y", short names and units.  An object
 * whose id is built in is refused (a vendor cannot redefine an OMA object),
 * as is an id already loaded from another file.
 *
 * Loaded definitions stay valid until lwm_objdefs_unload_all: unload only
 * when nothing (data model, device points) refers to them any more. */
#define LWM_DDF_MAX_SIZE (1024 * 1024)

/* 0, or a negative errno with a one-line reason in err (without the path;
 * "line N: " in front when the problem has a line):
 * -EINVAL  not a valid DDF file      -EEXIST  object id built in or loaded
 * -EFBIG   larger than the limit     -ENOMEM, or open/read errors. */
int lwm_objdefs_load_file(const char *path, char *err, size_t errlen);
/* Loads every *.xml in dir (names starting with '.' skipped), in name order;
 * calls report (when not NULL) for each file refused, and carries on.
 * Returns the number of objects loaded, or a negative errno when dir cannot
 * be read (-ENOENT when it does not exist). */
int lwm_objdefs_load_dir(const char *dir,
			 void (*report)(const char *file, const char *msg, void *ud), void *ud);
/* Forget every run-time object and free them. */
void lwm_objdefs_unload_all(void);

#endif
