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

/* Built-in table (generated). */
extern const struct lwm_obj_def lwm_builtin_objdefs[];
extern const size_t lwm_builtin_objdefs_count;

/* Lookup; NULL when unknown. */
const struct lwm_obj_def *lwm_objdef_find(uint16_t oid);
const struct lwm_res_def *lwm_resdef_find(const struct lwm_obj_def *obj, uint16_t rid);

#endif
