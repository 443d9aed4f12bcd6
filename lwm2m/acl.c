#include "acl.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "client_internal.h"

static bool get_int(const struct lwm_model *m, const struct lwm_path *p, int64_t *out)
{
	const struct lwm_value *v = lwm_model_get(m, p);

	if (!v || v->type != LWM_T_INTEGER)
		return false;
	*out = v->v.i;
	return true;
}

bool lwm_acl_enforced(const struct lwm_model *m)
{
	int first = lwm_model_next_instance(m, 1, -1);

	return first >= 0 && lwm_model_next_instance(m, 1, first) >= 0;
}

int lwm_acl_find(const struct lwm_model *m, uint16_t oid, uint16_t iid)
{
	for (int ac = lwm_model_next_instance(m, 2, -1); ac >= 0;
	     ac = lwm_model_next_instance(m, 2, ac)) {
		struct lwm_path po = lwm_path_make(3, 2, (uint16_t)ac, 0, 0);
		struct lwm_path pi = lwm_path_make(3, 2, (uint16_t)ac, 1, 0);
		int64_t o, i;
		if (get_int(m, &po, &o) && get_int(m, &pi, &i) && o == oid && i == iid)
			return ac;
	}
	return -ENOENT;
}

static int64_t owner_of(const struct lwm_model *m, uint16_t ac)
{
	struct lwm_path p = lwm_path_make(3, 2, ac, 3, 0);
	int64_t owner;

	return get_int(m, &p, &owner) ? owner : -1;
}

unsigned lwm_acl_rights(const struct lwm_model *m, uint16_t ssid, uint16_t oid, uint16_t iid)
{
	struct lwm_path p;
	int64_t v;
	int ac;

	if (oid == 0)
		return 0;
	if (!lwm_acl_enforced(m))
		return LWM_ACL_ALL;
	if (oid == 2) {
		/* Object 2 itself: readable by all, managed by its owner. */
		if (iid == LWM_ACL_OBJECT)
			return LWM_ACL_READ;
		return LWM_ACL_READ | (owner_of(m, iid) == ssid && ssid != LWM_ACL_OBJECT
					       ? LWM_ACL_WRITE : 0);
	}
	ac = lwm_acl_find(m, oid, iid);
	if (ac < 0) {
		/* A server's own account needs no Access Control instance:
		 * it must be able to trigger its Update, Disable, retime. */
		p = lwm_path_make(3, 1, iid, 0, 0);
		if (oid == 1 && iid != LWM_ACL_OBJECT && get_int(m, &p, &v) && v == ssid)
			return LWM_ACL_READ | LWM_ACL_WRITE | LWM_ACL_EXECUTE;
		return 0;
	}
	p = lwm_path_make(4, 2, (uint16_t)ac, 2, ssid);
	if (get_int(m, &p, &v))
		return (unsigned)v & LWM_ACL_ALL;
	if (owner_of(m, (uint16_t)ac) == ssid)
		return iid == LWM_ACL_OBJECT ? LWM_ACL_CREATE
					     : LWM_ACL_ALL & ~LWM_ACL_CREATE;
	p = lwm_path_make(4, 2, (uint16_t)ac, 2, 0);
	if (get_int(m, &p, &v))
		return (unsigned)v & LWM_ACL_ALL;
	return 0;
}

int lwm_acl_add(struct lwm_model *m, uint16_t ac_iid, uint16_t oid, uint16_t iid,
		uint16_t owner)
{
	struct lwm_value v = {.type = LWM_T_INTEGER};
	struct lwm_path p;
	int r = lwm_model_add_instance(m, 2, ac_iid);

	if (r < 0)
		return r;
	p = lwm_path_make(3, 2, ac_iid, 0, 0);
	v.v.i = oid;
	r = lwm_model_set(m, &p, &v);
	p = lwm_path_make(3, 2, ac_iid, 1, 0);
	v.v.i = iid;
	if (r >= 0)
		r = lwm_model_set(m, &p, &v);
	p = lwm_path_make(3, 2, ac_iid, 3, 0);
	v.v.i = owner;
	if (r >= 0)
		r = lwm_model_set(m, &p, &v);
	/* The ACL resource is there even while it has no entries. */
	p = lwm_path_make(3, 2, ac_iid, 2, 0);
	if (r >= 0)
		r = lwm_model_add_resource(m, &p);
	if (r < 0) {
		lwm_model_remove_instance(m, 2, ac_iid);
		return r;
	}
	return 0;
}

int lwm_acl_set(struct lwm_model *m, uint16_t ac_iid, uint16_t ssid, unsigned rights)
{
	struct lwm_path p = lwm_path_make(4, 2, ac_iid, 2, ssid);
	struct lwm_value v = {.type = LWM_T_INTEGER};
	int r;

	v.v.i = rights & LWM_ACL_ALL;
	r = lwm_model_set(m, &p, &v);
	return r < 0 ? r : 0;
}

int lwm_acl_parse(const char *s, unsigned *out)
{
	static const char letters[] = "RWEDC";
	unsigned bits = 0;

	for (; *s; s++) {
		const char *at = strchr(letters, *s);
		unsigned bit;
		if (!at || !*s)
			return -EINVAL;
		bit = 1u << (at - letters);
		if (bits & bit)
			return -EINVAL;
		bits |= bit;
	}
	*out = bits;
	return 0;
}

/* ---- a registration's view ---------------------------------------------------- */

unsigned lwm_client_rights(const struct lwm_client *c, uint16_t oid, uint16_t iid)
{
	return lwm_acl_rights(c->model, c->short_server_id, oid, iid);
}

bool lwm_client_visible(const struct lwm_path *inst, void *ud)
{
	const struct lwm_client *c = ud;

	return lwm_client_rights(c, LWM_PATH_OID(inst), LWM_PATH_IID(inst)) & LWM_ACL_READ;
}

bool lwm_client_may(const struct lwm_client *c, const struct lwm_path *p, unsigned right)
{
	uint16_t oid = LWM_PATH_OID(p);

	if (p->len == 0)
		return true; /* the operations on "/" check their paths themselves */
	if (p->len >= 2)
		return lwm_client_rights(c, oid, LWM_PATH_IID(p)) & right;
	if (right == LWM_ACL_CREATE)
		return lwm_client_rights(c, oid, LWM_ACL_OBJECT) & right;
	/* An object as a whole: the right on at least one of its instances.
	 * An object without instances has nothing to deny (the object-level
	 * instance carries only Create): a Read of it is an empty 2.05. */
	if (lwm_model_next_instance(c->model, oid, -1) < 0)
		return oid != 0;
	for (int i = lwm_model_next_instance(c->model, oid, -1); i >= 0;
	     i = lwm_model_next_instance(c->model, oid, i))
		if (lwm_client_rights(c, oid, (uint16_t)i) & right)
			return true;
	return false;
}

int lwm_client_read(struct lwm_client *c, const struct lwm_path *p,
		    const struct lwm_record **recs, size_t *n)
{
	struct lwm_engine *e = c->engine;
	const struct lwm_record *all;
	size_t count, w = 0;
	int last_iid = -1;
	bool last_ok = false;
	int r;

	*recs = NULL;
	*n = 0;
	if (p->len >= 2 && LWM_PATH_OID(p) != 0 && lwm_model_exists(c->model, p) &&
	    !lwm_client_may(c, p, LWM_ACL_READ))
		return -EACCES;
	r = lwm_model_read(c->model, p, &all, &count);
	if (r < 0 || p->len != 1 || !lwm_acl_enforced(c->model)) {
		*recs = all;
		*n = count;
		return r;
	}
	/* An object: the instances this server may not read are left out;
	 * when that is all of them, the answer is 4.01. */
	if (!lwm_client_may(c, p, LWM_ACL_READ))
		return -EACCES;
	if (count > e->acl_cap) {
		struct lwm_record *nr = realloc(e->acl_recs, count * sizeof(*nr));
		if (!nr)
			return -ENOMEM;
		e->acl_recs = nr;
		e->acl_cap = count;
	}
	for (size_t i = 0; i < count; i++) {
		int iid = LWM_PATH_IID(&all[i].path);
		if (iid != last_iid) {
			last_iid = iid;
			last_ok = lwm_client_rights(c, LWM_PATH_OID(p), (uint16_t)iid) & LWM_ACL_READ;
		}
		if (last_ok)
			e->acl_recs[w++] = all[i];
	}
	*recs = e->acl_recs;
	*n = w;
	return 0;
}
