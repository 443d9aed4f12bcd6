/* A client's LwM2M data model: the object instances it has and the current
 * value of each resource, kept in one sorted array.  The device layer writes
 * values in as readings arrive; the engine answers Read and Discover from it
 * and builds the registration payload from it. */
#ifndef LWM_MODEL_H
#define LWM_MODEL_H

#include "codec.h"
#include "lwm_types.h"
#include "objdefs.h"

struct lwm_model;

/* One entry: an object instance (path len 2), a resource (len 3) or a
 * resource instance (len 4).  A resource entry of a multiple resource holds
 * no value itself; its instances do.  A single resource whose value is not
 * known yet has value.type LWM_T_NONE. */
struct lwm_entry {
	struct lwm_path path;
	struct lwm_value value; /* STRING/OPAQUE/CORELNK bytes owned by the model */
	const struct lwm_res_def *def; /* NULL for instances */
};

struct lwm_model *lwm_model_new(void);
void lwm_model_free(struct lwm_model *m);

/* Add an object instance; -EEXIST if present, -ENOENT if the object is not
 * in the object table. */
int lwm_model_add_instance(struct lwm_model *m, uint16_t oid, uint16_t iid);
/* Remove an object instance and everything under it; -ENOENT if absent. */
int lwm_model_remove_instance(struct lwm_model *m, uint16_t oid, uint16_t iid);
/* Declare a resource (len 3) of an existing instance, with no value yet.
 * -ENOENT: instance or resource definition missing.  Idempotent. */
int lwm_model_add_resource(struct lwm_model *m, const struct lwm_path *p);
/* Set a resource (len 3, single) or resource instance (len 4, multiple)
 * value, declaring it when needed; the value is converted to the resource's
 * type when that is lossless (e.g. FLOAT 2.0 into INTEGER) and refused with
 * -EINVAL otherwise.  Bytes are copied.  Returns 1 when the stored value
 * changed, 0 when it was equal, or a negative errno. */
int lwm_model_set(struct lwm_model *m, const struct lwm_path *p, const struct lwm_value *v);
/* Forget the value of a single resource (len 3), which stays declared:
 * a Read of it answers as for one not delivered yet.  Returns 1 when
 * there was a value, 0 when there was none, -ENOENT when not declared. */
int lwm_model_unset(struct lwm_model *m, const struct lwm_path *p);
/* Stored value or NULL. */
const struct lwm_value *lwm_model_get(const struct lwm_model *m, const struct lwm_path *p);
bool lwm_model_exists(const struct lwm_model *m, const struct lwm_path *p);

/* Collect the readable records at or under p (readable: the definition has
 * R; object 0 is never readable by a management server).  *recs points into
 * a buffer the model reuses (valid until the next call or change).
 * Returns 0, -ENOENT (path absent), -EPERM (resource not readable) or
 * -ENODATA (a single resource addressed directly has no value yet). */
int lwm_model_read(struct lwm_model *m, const struct lwm_path *p,
		   const struct lwm_record **recs, size_t *n);

/* Append the registration links ("</1/0>,</3/0>,...", object 0 left out,
 * ";ver=X" on an object link when its definition's version is not 1.0 and
 * lwm2m_version is not "1.0"). */
int lwm_model_reg_links(const struct lwm_model *m, const char *lwm2m_version,
			struct lwm_buf *out);
/* The same, leaving out the instances (path len 2) visible() refuses. */
int lwm_model_reg_links_visible(const struct lwm_model *m, const char *lwm2m_version,
				bool (*visible)(const struct lwm_path *inst, void *ud), void *ud,
				struct lwm_buf *out);
/* Append Discover links for p (object, instance or resource); attrs (may
 * be NULL) appends the attributes attached to each listed path. */
int lwm_model_discover(const struct lwm_model *m, const struct lwm_path *p,
		       void (*attrs)(const struct lwm_path *p, struct lwm_buf *out, void *ud),
		       void *ud, struct lwm_buf *out);
/* The same; for an object (p len 1), the instances visible() refuses (and
 * all under them) are left out. */
int lwm_model_discover_visible(const struct lwm_model *m, const struct lwm_path *p,
			       void (*attrs)(const struct lwm_path *p, struct lwm_buf *out,
					     void *ud),
			       bool (*visible)(const struct lwm_path *inst, void *ud), void *ud,
			       struct lwm_buf *out);
/* The first instance id of object oid above `after` (-1: the first of
 * all), or -ENOENT.  Walks the model without touching the read buffer. */
int lwm_model_next_instance(const struct lwm_model *m, uint16_t oid, int after);
/* The first object id above `after` with an instance, or -ENOENT. */
int lwm_model_next_object(const struct lwm_model *m, int after);
/* Check that lwm_model_set(m, p, v) would succeed, without changing m. */
int lwm_model_check(const struct lwm_model *m, const struct lwm_path *p,
		    const struct lwm_value *v);
/* Remove every instance of the multiple resource p (len 3). */
void lwm_model_clear_instances(struct lwm_model *m, const struct lwm_path *p);

size_t lwm_model_entry_count(const struct lwm_model *m);

/* Every record holding a value at or under p, whatever the resource's
 * operations and including the Security object: for the client's own use
 * (bootstrap, persistence), never for a server's Read.  Same buffer rules
 * as lwm_model_read; 0 or -ENOMEM. */
int lwm_model_records(struct lwm_model *m, const struct lwm_path *p,
		      const struct lwm_record **recs, size_t *n);
/* The instance ids of object oid in ascending order: up to max written to
 * iids; returns how many there are. */
int lwm_model_instances(const struct lwm_model *m, uint16_t oid, uint16_t *iids, size_t max);

#endif
