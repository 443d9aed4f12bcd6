/* Lookups in the generated object table (objdefs_table.c) and, after it,
 * among the objects loaded at run time (objdefs_ddf.c). */
#include "objdefs.h"

#include <stddef.h>

const struct lwm_obj_def *lwm_objdef_find_builtin(uint16_t oid)
{
	size_t lo = 0, hi = lwm_builtin_objdefs_count;

	/* The generator sorts the table by id. */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		uint16_t id = lwm_builtin_objdefs[mid].id;

		if (id == oid)
			return &lwm_builtin_objdefs[mid];
		if (id < oid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

const struct lwm_obj_def *lwm_objdef_find(uint16_t oid)
{
	const struct lwm_obj_def *o = lwm_objdef_find_builtin(oid);

	/* The loader refuses built-in ids, so the order only saves time for
	 * the common case: OMA objects. */
	return o ? o : lwm_objdef_find_loaded(oid);
}

const struct lwm_res_def *lwm_resdef_find(const struct lwm_obj_def *obj, uint16_t rid)
{
	size_t lo = 0, hi;

	if (!obj || !obj->res)
		return NULL;
	hi = obj->nres;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		uint16_t id = obj->res[mid].id;

		if (id == rid)
			return &obj->res[mid];
		if (id < rid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}
