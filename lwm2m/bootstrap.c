/* Client-initiated bootstrap: see bootstrap.h. */
#include "bootstrap.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "client_internal.h"
#include "codec.h"
#include "gatewayd/clock.h"
#include "gatewayd/file.h"
#include "gatewayd/log.h"
#include "uri.h"

/* The wait before a Bootstrap-Request other than the first since the last
 * successful registration: exponential from RETRY_MIN_S to RETRY_MAX_S with
 * +-25% jitter, so that a bootstrap server coming back is not hit by every
 * device at once, and a bootstrap whose accounts are refused is not
 * repeated in a loop (the bootstrap server has no Server instance whose
 * /1/x/17..20 could say otherwise). */
#define RETRY_MIN_S 2u
#define RETRY_MAX_S 300u
/* Largest state file we read back. */
#define STATE_MAX (64 * 1024)
/* Every instance of object oid, in ascending order; the current one may
 * be removed in the body. */
#define FOR_EACH_INSTANCE(m, oid, iid)                                      \
	for (int iid = lwm_model_next_instance((m), (oid), -1); iid >= 0;    \
	     iid = lwm_model_next_instance((m), (oid), iid))

/* The records a payload of len bytes can hold at most, in any format (a
 * record takes 2 bytes at least): no silent cap on a big write or file. */
static size_t max_records(size_t len)
{
	return len / 2 + 1;
}

enum bs_state {
	BS_IDLE = 0,
	BS_REQUESTING, /* POST /bs sent, no answer yet */
	BS_PACKING,    /* GET /bspack sent (1.2), no answer yet */
	BS_SERVING,    /* 2.04 received: the server is provisioning us */
	BS_BACKOFF,
	BS_DONE,
	BS_STOPPED,
};

struct lwm_bootstrap {
	struct lwm_owner owner; /* first: the session's app data */
	struct lwm_engine *engine;
	struct lwm_model *model; /* borrowed */
	char *name, *endpoint, *server_uri, *state_file;
	char version[4];
	uint32_t finish_timeout_s;
	struct lwm_security *security; /* owned copy; NULL: NoSec */
	const struct lwm_bootstrap_ops *ops;
	void *ud;

	coap_address_t server_addr;
	bool server_named;      /* a host name, resolved at each attempt */
	void *resolving;        /* the resolver's handle while a look-up runs */
	coap_session_t *session;
	enum bs_state state;
	uint8_t token[LWM_TOKEN_MAX];
	size_t token_len;
	bool request_pending;
	bool no_pack;          /* the server answered Bootstrap-Pack with an error */
	unsigned failures;     /* failed attempts of this bootstrap (for the log) */
	/* Attempts since a registration last succeeded: every path to a
	 * Bootstrap-Request (start, retry, failure) waits what they earned,
	 * and only lwm_bootstrap_registered resets them, so no bootstrap and
	 * refused registration can follow each other in a loop. */
	unsigned attempts;
	struct gw_timer timer;  /* retry, Finish timeout */
	struct gw_timer notify; /* delivers `finished` outside libcoap's handlers */
	char failure[256];      /* why the attempt failed (for the retry log) */
	bool refused;           /* a Finish of this session was answered 4.06 */
	/* The bootstrap account as it was when this attempt began (SenML
	 * CBOR, holds keys) and its instance (-1: none): a failed bootstrap
	 * leaves it as it was. */
	struct lwm_buf account_snap;
	int account_iid;
	/* A Bootstrap-Pack coming block-wise (Block2): libcoap hands us each
	 * block; they are put together here, bounded like a request body. */
	struct lwm_buf pack;
};

static const char *const state_names[] = {"idle", "requesting", "packing", "serving",
					  "backoff", "done", "stopped"};

/* ---- model helpers ------------------------------------------------------- */

static const struct lwm_value *get(struct lwm_model *m, uint16_t oid, uint16_t iid, uint16_t rid)
{
	struct lwm_path p = lwm_path_make(3, oid, iid, rid, 0);

	return lwm_model_get(m, &p);
}

static bool get_int(struct lwm_model *m, uint16_t oid, uint16_t iid, uint16_t rid, int64_t *out)
{
	const struct lwm_value *v = get(m, oid, iid, rid);

	if (!v)
		return false;
	switch (v->type) {
	case LWM_T_INTEGER:
	case LWM_T_TIME:
		*out = v->v.i;
		return true;
	case LWM_T_UNSIGNED:
		*out = v->v.u > INT64_MAX ? INT64_MAX : (int64_t)v->v.u;
		return true;
	default:
		return false;
	}
}

static bool is_bootstrap_account(struct lwm_model *m, uint16_t iid)
{
	const struct lwm_value *v = get(m, 0, iid, 1);

	return v && v->type == LWM_T_BOOLEAN && v->v.b;
}

static int set_value(struct lwm_model *m, uint16_t oid, uint16_t iid, uint16_t rid,
		     const struct lwm_value *v)
{
	struct lwm_path p = lwm_path_make(3, oid, iid, rid, 0);

	return lwm_model_set(m, &p, v);
}

/* Remove instance iid of oid (-1: all of them), but not the bootstrap
 * account. */
static void remove_instances(struct lwm_model *m, uint16_t oid, int iid)
{
	FOR_EACH_INSTANCE(m, oid, i)
		if ((iid < 0 || i == iid) && (oid != 0 || !is_bootstrap_account(m, (uint16_t)i)))
			lwm_model_remove_instance(m, oid, (uint16_t)i);
}

void lwm_bootstrap_clear(struct lwm_model *m)
{
	for (uint16_t oid = 0; oid <= 2; oid++)
		remove_instances(m, oid, -1);
}

/* The executable resources of a Server instance have no value and so are
 * neither written nor saved: declare them so that they can be executed. */
static void declare_server_executables(struct lwm_model *m)
{
	static const uint16_t rids[] = {4, 8, 9}; /* Disable, Update and Bootstrap Triggers */

	FOR_EACH_INSTANCE(m, 1, iid)
		for (size_t j = 0; j < sizeof(rids) / sizeof(rids[0]); j++) {
			struct lwm_path p = lwm_path_make(3, 1, (uint16_t)iid, rids[j], 0);
			lwm_model_add_resource(m, &p);
		}
}

/* ---- validation ---------------------------------------------------------- */

static int find_server_instance(struct lwm_model *m, uint16_t ssid)
{
	int64_t v;

	FOR_EACH_INSTANCE(m, 1, iid)
		if (get_int(m, 1, (uint16_t)iid, 0, &v) && v == ssid)
			return iid;
	return -ENOENT;
}

static const uint8_t *get_bytes(struct lwm_model *m, uint16_t iid, uint16_t rid, size_t *len)
{
	const struct lwm_value *v = get(m, 0, iid, rid);

	*len = v && v->type == LWM_T_OPAQUE ? v->v.bytes.len : 0;
	return *len ? v->v.bytes.ptr : NULL;
}

/* The credentials of Security instance /0/iid in mode. */
static int account_security(struct lwm_model *m, uint16_t iid, enum lwm_sec_mode mode,
			    struct lwm_security **out, char *err, size_t errlen)
{
	struct lwm_security_account sa = {.mode = mode, .pinned = true};
	const struct lwm_value *sni = get(m, 0, iid, 14);
	char name[256];
	int64_t usage = 3;

	*out = NULL;
	if (mode == LWM_SEC_NOSEC)
		return 0;
	sa.own = get_bytes(m, iid, 3, &sa.own_len);
	sa.server = get_bytes(m, iid, 4, &sa.server_len);
	sa.secret = get_bytes(m, iid, 5, &sa.secret_len);
	if (!sa.own || !sa.secret || (mode != LWM_SEC_PSK && !sa.server)) {
		snprintf(err, errlen, "%s credentials incomplete (%s missing)",
			 lwm_security_mode_name(mode),
			 !sa.own ? mode == LWM_SEC_PSK ? "PSK identity /0/x/3" : "/0/x/3"
			 : !sa.secret ? "key /0/x/5" : "server key /0/x/4");
		return -EINVAL;
	}
	if (mode == LWM_SEC_X509) {
		/* Certificate Usage (/0/x/15): 3 (the default) pins the server's
		 * certificate, 2 makes it the trust anchor; 0 and 1 need a
		 * system trust store, which a gateway does not assume. */
		get_int(m, 0, iid, 15, &usage);
		if (usage != 2 && usage != 3) {
			snprintf(err, errlen, "certificate usage %lld not supported", (long long)usage);
			return -EINVAL;
		}
		sa.pinned = usage == 3;
		if (sni && sni->type == LWM_T_STRING && sni->v.bytes.len &&
		    sni->v.bytes.len < sizeof(name)) {
			memcpy(name, sni->v.bytes.ptr, sni->v.bytes.len);
			name[sni->v.bytes.len] = '\0';
			sa.sni = name;
		}
	}
	return lwm_security_from_account(&sa, out, err, errlen);
}

static int check_account(struct lwm_model *m, uint16_t iid, const char *version,
			 struct lwm_account *a, char *why, size_t whylen)
{
	const struct lwm_value *uri = get(m, 0, iid, 0), *v;
	int64_t ssid, mode, lt;
	coap_uri_t u;
	int srv;

	*a = (struct lwm_account){.sec_iid = iid};
	if (!uri || uri->type != LWM_T_STRING || uri->v.bytes.len == 0 ||
	    uri->v.bytes.len >= sizeof(a->uri)) {
		snprintf(why, whylen, "/0/%u: no LwM2M Server URI", iid);
		return -EINVAL;
	}
	memcpy(a->uri, uri->v.bytes.ptr, uri->v.bytes.len);
	a->uri[uri->v.bytes.len] = '\0';
	if (coap_split_uri((const uint8_t *)a->uri, strlen(a->uri), &u) < 0 || u.host.length == 0 ||
	    (u.scheme != COAP_URI_SCHEME_COAP && u.scheme != COAP_URI_SCHEME_COAPS)) {
		snprintf(why, whylen, "/0/%u: server URI is not coap:// or coaps://", iid);
		return -EINVAL;
	}
	if (!get_int(m, 0, iid, 10, &ssid) || ssid < 1 || ssid > 65534) {
		snprintf(why, whylen, "/0/%u: no Short Server ID", iid);
		return -EINVAL;
	}
	a->ssid = (uint16_t)ssid;
	if (!get_int(m, 0, iid, 2, &mode)) {
		snprintf(why, whylen, "/0/%u: no Security Mode", iid);
		return -EINVAL;
	}
	if (mode < LWM_SEC_PSK || mode > LWM_SEC_NOSEC ||
	    !lwm_security_mode_supported((enum lwm_sec_mode)mode)) {
		snprintf(why, whylen, "/0/%u: security mode %lld not supported", iid, (long long)mode);
		return -EINVAL;
	}
	a->mode = (enum lwm_sec_mode)mode;
	if ((u.scheme == COAP_URI_SCHEME_COAPS) != (mode != LWM_SEC_NOSEC)) {
		snprintf(why, whylen, "/0/%u: %s does not fit security mode %s", iid,
			 u.scheme == COAP_URI_SCHEME_COAPS ? "coaps://" : "coap://",
			 lwm_security_mode_name(a->mode));
		return -EINVAL;
	}
	if (mode != LWM_SEC_NOSEC) {
		/* The keys must make credentials: parse them now, not at the
		 * first handshake. */
		struct lwm_security *sec = NULL;
		char err[160];
		if (account_security(m, iid, a->mode, &sec, err, sizeof(err)) < 0) {
			snprintf(why, whylen, "/0/%u: %s", iid, err);
			return -EINVAL;
		}
		lwm_security_free(sec);
	}
	srv = find_server_instance(m, a->ssid);
	if (srv < 0) {
		snprintf(why, whylen, "/0/%u: no Server instance with Short Server ID %u", iid, a->ssid);
		return -EINVAL;
	}
	a->srv_iid = (uint16_t)srv;
	/* Lifetime 0 is no limit from LwM2M 1.2 on. */
	if (!get_int(m, 1, a->srv_iid, 1, &lt) || lt < 0 || lt > UINT32_MAX ||
	    (lt == 0 && !(version && strcmp(version, "1.2") >= 0))) {
		snprintf(why, whylen, "/1/%u: no valid Lifetime", a->srv_iid);
		return -EINVAL;
	}
	a->lifetime = (uint32_t)lt;
	v = get(m, 1, a->srv_iid, 7);
	if (v && v->type == LWM_T_STRING && v->v.bytes.len > 0 &&
	    v->v.bytes.len < sizeof(a->binding)) {
		memcpy(a->binding, v->v.bytes.ptr, v->v.bytes.len);
		a->binding[v->v.bytes.len] = '\0';
	} else {
		strcpy(a->binding, "U");
	}
	if (!strchr(a->binding, 'U')) {
		snprintf(why, whylen, "/1/%u: binding %s has no UDP", a->srv_iid, a->binding);
		return -EINVAL;
	}
	return 0;
}

/* The usable accounts (up to max into out) and how many Security
 * instances are not (*bad, the first one's reason in why). */
static int accounts(struct lwm_model *m, const char *version, struct lwm_account *out,
		    size_t max, unsigned *bad,
		    char *why, size_t whylen)
{
	int count = 0, first = -1;
	char reason[200];

	*bad = 0;
	/* A client has at most one bootstrap account. */
	FOR_EACH_INSTANCE(m, 0, iid) {
		if (!is_bootstrap_account(m, (uint16_t)iid))
			continue;
		if (first >= 0) {
			snprintf(why, whylen, "more than one bootstrap account (/0/%d and /0/%d)",
				 first, iid);
			return -EINVAL;
		}
		first = iid;
	}
	FOR_EACH_INSTANCE(m, 0, iid) {
		struct lwm_account a;
		if (is_bootstrap_account(m, (uint16_t)iid))
			continue;
		if (check_account(m, (uint16_t)iid, version, &a, reason, sizeof(reason)) < 0) {
			if ((*bad)++ == 0)
				snprintf(why, whylen, "%s", reason);
			continue;
		}
		if ((size_t)count < max)
			out[count] = a;
		count++;
	}
	if (count == 0 && *bad)
		snprintf(why, whylen, "no usable server account: %s", reason);
	else if (count == 0)
		snprintf(why, whylen, "no LwM2M server account (Security and Server instances)");
	return count ? count : -EINVAL;
}

int lwm_bootstrap_validate(struct lwm_model *m, const char *version, char *why, size_t whylen)
{
	unsigned bad;

	return accounts(m, version, NULL, 0, &bad, why, whylen);
}

/* Validate, and say which Security instances will not be used. */
static int validate_and_report(struct lwm_bootstrap *b, char *why, size_t whylen)
{
	unsigned bad;
	int n = accounts(b->model, b->version, NULL, 0, &bad, why, whylen);

	if (n > 0 && bad)
		log_warn(b->name, "%u bootstrapped account(s) left unused (%s)", bad, why);
	return n;
}

int lwm_bootstrap_accounts(struct lwm_model *m, const char *version, struct lwm_account *out,
			   size_t max)
{
	char why[200];
	unsigned bad;

	return accounts(m, version, out, max, &bad, why, sizeof(why));
}

int lwm_account_security(struct lwm_model *m, const struct lwm_account *a,
			 struct lwm_security **out, char *err, size_t errlen)
{
	return account_security(m, a->sec_iid, a->mode, out, err, errlen);
}

/* ---- Bootstrap-Discover ------------------------------------------------- */

/* The object version a link announces (NULL for 1.0), as registration
 * does: OMA's objects (below 1024) capped at the client's LwM2M version. */
static const char *object_version(uint16_t oid, const char *version)
{
	const struct lwm_obj_def *d = lwm_objdef_find(oid);
	const char *cap = version ? version : "1.0", *v;

	if (!d)
		return NULL;
	v = d->version;
	if (d->id < 1024 && strcmp(v, cap) > 0)
		v = cap;
	return strcmp(v, "1.0") == 0 ? NULL : v;
}

/* ;uri="..." with the quotes and backslashes in the URI escaped (a
 * quoted-string, RFC 6690). */
static void uri_attr(const struct lwm_value *u, char *out, size_t outlen)
{
	size_t o = 0;

	if (outlen < 8)
		return;
	o += (size_t)snprintf(out, outlen, ";uri=\"");
	for (size_t i = 0; i < u->v.bytes.len && o + 4 < outlen; i++) {
		char c = (char)u->v.bytes.ptr[i];
		if (c == '"' || c == '\\')
			out[o++] = '\\';
		out[o++] = c;
	}
	out[o++] = '"';
	out[o] = '\0';
}

/* An object's links: the object itself when it has a version to announce
 * or no instance, then its instances (accounts with the server they are
 * for). */
static void discover_object(struct lwm_model *m, uint16_t oid, const char *version,
			    struct lwm_buf *out)
{
	struct lwm_path op = lwm_path_make(1, oid, 0, 0, 0);
	const char *ver = object_version(oid, version);

	if (ver) {
		char attr[32];
		snprintf(attr, sizeof(attr), ";ver=%s", ver);
		lwm_link_append(out, &op, attr);
	} else if (lwm_model_next_instance(m, oid, -1) < 0) {
		lwm_link_append(out, &op, NULL);
	}
	FOR_EACH_INSTANCE(m, oid, i) {
		uint16_t iid = (uint16_t)i;
		struct lwm_path ip = lwm_path_make(2, oid, iid, 0, 0);
		char attr[600] = "";
		int64_t ssid;
		/* Server accounts say which server they are for. */
		if (oid == 0 && !is_bootstrap_account(m, iid) && get_int(m, 0, iid, 10, &ssid)) {
			const struct lwm_value *u = get(m, 0, iid, 0);
			int len = snprintf(attr, sizeof(attr), ";ssid=%lld", (long long)ssid);
			if (u && u->type == LWM_T_STRING && u->v.bytes.len < 256)
				uri_attr(u, attr + len, sizeof(attr) - (size_t)len);
		} else if (oid == 1 && get_int(m, 1, iid, 0, &ssid)) {
			snprintf(attr, sizeof(attr), ";ssid=%lld", (long long)ssid);
		}
		lwm_link_append(out, &ip, attr[0] ? attr : NULL);
	}
}

int lwm_bootstrap_discover(struct lwm_model *m, const struct lwm_path *p, const char *version,
			   struct lwm_buf *out)
{
	struct lwm_path root = {0};
	int prev = -1, next;

	if (p->len > 1)
		return -EINVAL;
	/* The objects this client supports: the bootstrap objects and those
	 * with instances (the device's). */
	if (p->len == 1 && LWM_PATH_OID(p) > 2 &&
	    lwm_model_next_instance(m, LWM_PATH_OID(p), -1) < 0)
		return -ENOENT;
	if (version && strcmp(version, "1.0") != 0) {
		char attr[24];
		snprintf(attr, sizeof(attr), ";lwm2m=%s", version);
		lwm_link_append(out, &root, attr);
	}
	if (p->len == 1) {
		discover_object(m, LWM_PATH_OID(p), version, out);
		return out->err;
	}
	for (;;) {
		next = lwm_model_next_object(m, prev);
		/* The bootstrap objects even without instances. */
		if (prev < 2 && (next < 0 || next > prev + 1))
			next = prev + 1;
		if (next < 0)
			break;
		discover_object(m, (uint16_t)next, version, out);
		prev = next;
	}
	return out->err;
}

/* ---- persistence -------------------------------------------------------- */

static enum lwm_type lookup_type(const struct lwm_path *p, void *ud)
{
	const struct lwm_obj_def *o = lwm_objdef_find(LWM_PATH_OID(p));
	const struct lwm_res_def *r = o ? lwm_resdef_find(o, LWM_PATH_RID(p)) : NULL;

	return r ? (enum lwm_type)r->type : LWM_T_NONE;
}

static int fsync_dir_of(const char *file)
{
	char *copy = strdup(file);
	int fd, r = 0;

	if (!copy)
		return -ENOMEM;
	fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || fsync(fd) < 0)
		r = -errno;
	if (fd >= 0)
		close(fd);
	free(copy);
	return r;
}

int lwm_bootstrap_save(struct lwm_model *m, const char *file, char *err, size_t errlen)
{
	struct lwm_record *all = NULL;
	size_t n_all = 0;
	struct lwm_buf out;
	char tmp[4200];
	struct lwm_path root = {0};
	int fd, r = 0;

	/* One record array for /0 (bootstrap accounts left out), /1 and /2. */
	for (uint16_t oid = 0; oid <= 2 && r == 0; oid++) {
		struct lwm_path op = lwm_path_make(1, oid, 0, 0, 0);
		const struct lwm_record *recs;
		size_t n;
		struct lwm_record *grown;
		r = lwm_model_records(m, &op, &recs, &n);
		if (r < 0 || n == 0)
			continue;
		grown = realloc(all, (n_all + n) * sizeof(*all));
		if (!grown) {
			r = -ENOMEM;
			break;
		}
		all = grown;
		for (size_t i = 0; i < n; i++)
			if (oid != 0 || !is_bootstrap_account(m, LWM_PATH_IID(&recs[i].path)))
				all[n_all++] = recs[i];
	}
	lwm_buf_init(&out, STATE_MAX);
	if (r == 0)
		r = lwm_senml_cbor_encode(&root, all, n_all, &out);
	free(all);
	if (r < 0) {
		snprintf(err, errlen, "cannot encode the bootstrap state: %s", strerror(-r));
		goto done;
	}
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", file) >= sizeof(tmp)) {
		r = -ENAMETOOLONG;
		snprintf(err, errlen, "%s: name too long", file);
		goto done;
	}
	/* 0600: the file holds the accounts' keys. */
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	/* Also when a stale temporary file had another mode. */
	if (fd >= 0 && fchmod(fd, 0600) < 0) {
		r = -errno;
		close(fd);
		snprintf(err, errlen, "cannot protect %s: %s", tmp, strerror(-r));
		unlink(tmp);
		goto done;
	}
	if (fd < 0) {
		r = -errno;
		snprintf(err, errlen, "cannot create %s: %s", tmp, strerror(-r));
		goto done;
	}
	for (size_t off = 0; off < out.len && r == 0;) {
		ssize_t w = write(fd, out.data + off, out.len - off);
		if (w < 0 && errno != EINTR)
			r = -errno;
		else if (w > 0)
			off += (size_t)w;
	}
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	close(fd);
	if (r == 0 && rename(tmp, file) < 0)
		r = -errno;
	if (r < 0) {
		snprintf(err, errlen, "cannot write %s: %s", file, strerror(-r));
		unlink(tmp);
		goto done;
	}
	/* The rename must reach the disk too. */
	r = fsync_dir_of(file);
	if (r < 0)
		snprintf(err, errlen, "cannot sync the directory of %s: %s", file, strerror(-r));
done:
	if (out.data)
		explicit_bzero(out.data, out.cap);
	lwm_buf_free(&out);
	return r;
}

static int apply_records(struct lwm_model *m, const struct lwm_record *recs, size_t n,
			 bool create)
{
	/* Without create, every instance must exist: check before changing. */
	for (size_t i = 0; !create && i < n; i++) {
		struct lwm_path ip = lwm_path_make(2, LWM_PATH_OID(&recs[i].path),
						   LWM_PATH_IID(&recs[i].path), 0, 0);
		if (!lwm_model_exists(m, &ip))
			return -ENOENT;
	}
	for (size_t i = 0; i < n; i++) {
		const struct lwm_path *p = &recs[i].path;
		int r = lwm_model_add_instance(m, LWM_PATH_OID(p), LWM_PATH_IID(p));
		if (r < 0 && r != -EEXIST)
			return r;
		r = lwm_model_set(m, p, &recs[i].value);
		if (r < 0)
			return r;
	}
	return 0;
}

/* ---- snapshots: what a failed change puts back ----------------------- */

static void snap_free(struct lwm_buf *snap)
{
	if (snap->data)
		explicit_bzero(snap->data, snap->cap);
	lwm_buf_free(snap);
}

/* The values at and under p (SenML CBOR; empty when p does not exist). */
static int snap_take(struct lwm_model *m, const struct lwm_path *p, struct lwm_buf *snap)
{
	const struct lwm_record *recs;
	struct lwm_path root = {0};
	size_t n = 0;
	int r = 0;

	snap_free(snap);
	lwm_buf_init(snap, 0);
	if (lwm_model_exists(m, p))
		r = lwm_model_records(m, p, &recs, &n);
	if (r == 0 && n)
		r = lwm_senml_cbor_encode(&root, recs, n, snap);
	return r;
}

/* Put a snapshot's values back, creating the instances. */
static int snap_put(struct lwm_model *m, const struct lwm_buf *snap)
{
	struct lwm_path root = {0};
	struct lwm_record *recs;
	struct lwm_buf scratch;
	size_t n = 0, max = snap->len / 2 + 1; /* a record takes 2 bytes at least */
	int r;

	if (!snap->len)
		return 0;
	recs = calloc(max, sizeof(*recs));
	if (!recs)
		return -ENOMEM;
	lwm_buf_init(&scratch, 0);
	r = lwm_decode_ex(LWM_FMT_SENML_CBOR, &root, snap->data, snap->len, lookup_type, NULL,
			  recs, max, &n, &scratch);
	if (r == 0)
		r = apply_records(m, recs, n, true);
	free(recs);
	snap_free(&scratch);
	return r;
}

int lwm_bootstrap_load(struct lwm_model *m, const char *file, const char *version, char *err,
		       size_t errlen)
{
	char *data = NULL;
	struct lwm_record *recs = NULL;
	struct lwm_buf scratch;
	struct lwm_path root = {0};
	size_t len = 0, n = 0;
	char why[160];
	int r;

	/* Not waited on when a FIFO or device sits in its place: refused. */
	r = gw_file_read(file, STATE_MAX, GW_FILE_NOFOLLOW | GW_FILE_SECRET, &data, &len, err,
			 errlen);
	if (r == -ENOENT) {
		snprintf(err, errlen, "%s: not bootstrapped yet", file);
		return r;
	}
	if (r < 0)
		return -EBADMSG;
	recs = calloc(max_records(len), sizeof(*recs));
	lwm_buf_init(&scratch, STATE_MAX);
	r = recs ? 0 : -ENOMEM;
	lwm_bootstrap_clear(m);
	if (r == 0)
		r = lwm_decode_ex(LWM_FMT_SENML_CBOR, &root, (const uint8_t *)data, len,
				  lookup_type, NULL, recs, max_records(len), &n, &scratch);
	for (size_t i = 0; r == 0 && i < n; i++)
		if (LWM_PATH_OID(&recs[i].path) > 2)
			r = -EBADMSG;
	/* A saved account where the configured bootstrap account sits now:
	 * the saved one wins (lwm_bootstrap_restore puts the other back). */
	for (size_t i = 0; r == 0 && i < n; i++)
		if (LWM_PATH_OID(&recs[i].path) == 0 &&
		    is_bootstrap_account(m, LWM_PATH_IID(&recs[i].path)))
			lwm_model_remove_instance(m, 0, LWM_PATH_IID(&recs[i].path));
	if (r == 0)
		r = apply_records(m, recs, n, true);
	if (r < 0) {
		snprintf(err, errlen, "%s is corrupt (%s): bootstrapping again", file, strerror(-r));
		r = -EBADMSG;
	} else if (lwm_bootstrap_validate(m, version, why, sizeof(why)) < 0) {
		snprintf(err, errlen, "%s holds no usable account (%s): bootstrapping again", file, why);
		r = -EBADMSG;
	}
	if (r < 0)
		lwm_bootstrap_clear(m);
	else
		declare_server_executables(m);
	if (data)
		explicit_bzero(data, len);
	free(data);
	free(recs);
	if (scratch.data)
		explicit_bzero(scratch.data, scratch.cap);
	lwm_buf_free(&scratch);
	return r;
}

/* ---- life cycle ------------------------------------------------------------ */

static void timer_cb(struct gw_timer *t, void *ud);
static void notify_cb(struct gw_timer *t, void *ud);

const struct lwm_security *lwm_bootstrap_security(const struct lwm_bootstrap *b)
{
	return b->security;
}

struct lwm_engine *lwm_bootstrap_engine(const struct lwm_bootstrap *b)
{
	return b->engine;
}

const char *lwm_bootstrap_name(const struct lwm_bootstrap *b)
{
	return b->name;
}

bool lwm_bootstrap_active(const struct lwm_bootstrap *b)
{
	return b->state == BS_REQUESTING || b->state == BS_PACKING || b->state == BS_SERVING ||
	       b->state == BS_BACKOFF;
}

unsigned lwm_bootstrap_failures(const struct lwm_bootstrap *b)
{
	return b->failures;
}

/* The bootstrap server account in the model: /0/x with Bootstrap-Server
 * true; added (first free x) when missing. */
static int add_account(struct lwm_bootstrap *b)
{
	uint16_t iid = 0;
	struct lwm_value v = {.type = LWM_T_STRING};
	int r;

	FOR_EACH_INSTANCE(b->model, 0, i)
		if (is_bootstrap_account(b->model, (uint16_t)i))
			return 0;
	/* The first free instance. */
	FOR_EACH_INSTANCE(b->model, 0, i) {
		if (i != iid)
			break;
		iid++;
	}
	r = lwm_model_add_instance(b->model, 0, iid);
	if (r < 0)
		return r;
	v.v.bytes.ptr = (const uint8_t *)b->server_uri;
	v.v.bytes.len = strlen(b->server_uri);
	r = set_value(b->model, 0, iid, 0, &v);
	v = (struct lwm_value){.type = LWM_T_BOOLEAN, .v.b = true};
	if (r >= 0)
		r = set_value(b->model, 0, iid, 1, &v);
	v = (struct lwm_value){.type = LWM_T_INTEGER, .v.i = lwm_security_mode(b->security)};
	if (r >= 0)
		r = set_value(b->model, 0, iid, 2, &v);
	return r < 0 ? r : 0;
}

int lwm_bootstrap_new(struct lwm_engine *e, struct lwm_model *m,
		      const struct lwm_bootstrap_config *cfg, const struct lwm_bootstrap_ops *ops,
		      void *ud, struct lwm_bootstrap **out)
{
	struct lwm_bootstrap *b = calloc(1, sizeof(*b));
	bool secure = false;
	int r;

	if (!b)
		return -ENOMEM;
	b->owner.kind = LWM_OWNER_BOOTSTRAP;
	b->engine = e;
	b->model = m;
	b->ops = ops;
	b->ud = ud;
	b->name = strdup(cfg->name ? cfg->name : cfg->endpoint);
	b->endpoint = strdup(cfg->endpoint);
	b->server_uri = strdup(cfg->server_uri);
	b->state_file = cfg->state_file ? strdup(cfg->state_file) : NULL;
	snprintf(b->version, sizeof(b->version), "%s", cfg->version ? cfg->version : "1.1");
	b->finish_timeout_s = cfg->finish_timeout_s;
	b->account_iid = -1;
	gw_timer_init(&b->timer, e->timers, timer_cb, b);
	gw_timer_init(&b->notify, e->timers, notify_cb, b);
	if (cfg->security && lwm_security_mode(cfg->security) != LWM_SEC_NOSEC)
		b->security = lwm_security_dup(cfg->security);
	if (!b->name || !b->endpoint || !b->server_uri || (cfg->state_file && !b->state_file) ||
	    (cfg->security && lwm_security_mode(cfg->security) != LWM_SEC_NOSEC && !b->security)) {
		r = -ENOMEM;
		goto fail;
	}
	/* A name is resolved at each attempt, off the loop thread. */
	{
		char host[256], port[8];

		r = lwm_uri_split(b->server_uri, host, sizeof(host), port, &secure);
		if (r == 0) {
			r = lwm_uri_numeric(host, port, &b->server_addr);
			b->server_named = r == -EAGAIN;
			if (b->server_named)
				r = 0;
		}
	}
	if (r < 0) {
		log_err(b->name, "cannot use bootstrap server %s: %s", b->server_uri, strerror(-r));
		goto fail;
	}
	if (secure != (b->security != NULL)) {
		log_err(b->name, "cannot use bootstrap server %s: %s", b->server_uri,
			secure ? "coaps:// needs DTLS credentials"
			       : "DTLS credentials need a coaps:// server");
		r = -EINVAL;
		goto fail;
	}
	r = add_account(b);
	if (r < 0)
		goto fail;
	*out = b;
	return 0;
fail:
	lwm_bootstrap_free(b);
	return r;
}

static void drop_session(struct lwm_bootstrap *b)
{
	if (!b->session)
		return;
	coap_session_set_app_data(b->session, NULL);
	lwm_engine_session_gone(b->engine, b->session);
	coap_session_release(b->session);
	b->session = NULL;
	b->request_pending = false;
}

static void cancel_resolve(struct lwm_bootstrap *b)
{
	if (!b->resolving)
		return;
	b->engine->resolver.cancel(b->engine->resolver.ctx, b->resolving);
	b->resolving = NULL;
}

void lwm_bootstrap_free(struct lwm_bootstrap *b)
{
	if (!b)
		return;
	cancel_resolve(b);
	gw_timer_disarm(&b->timer);
	gw_timer_disarm(&b->notify);
	drop_session(b);
	snap_free(&b->account_snap);
	lwm_buf_free(&b->pack);
	lwm_security_free(b->security);
	free(b->name);
	free(b->endpoint);
	free(b->server_uri);
	free(b->state_file);
	free(b);
}

static void set_state(struct lwm_bootstrap *b, enum bs_state s)
{
	if (b->state != s)
		log_debug(b->name, "bootstrap: %s -> %s", state_names[b->state], state_names[s]);
	b->state = s;
}

static uint64_t retry_delay_ms(unsigned failures)
{
	unsigned shift = failures > 8 ? 8 : failures ? failures - 1 : 0;
	uint64_t base = (uint64_t)RETRY_MIN_S << shift, ms;

	if (base > RETRY_MAX_S)
		base = RETRY_MAX_S;
	ms = base * 1000u;
	return ms - ms / 4 + (uint64_t)random() % (ms / 2 + 1);
}

/* The bootstrap account as it was before this attempt: whatever the
 * session made a bootstrap account, and what holds the old one's
 * instance now, gives way. */
static void restore_account(struct lwm_bootstrap *b)
{
	struct lwm_model *m = b->model;
	int next;

	for (int iid = lwm_model_next_instance(m, 0, -1); iid >= 0; iid = next) {
		next = lwm_model_next_instance(m, 0, iid);
		if (iid == b->account_iid || is_bootstrap_account(m, (uint16_t)iid))
			lwm_model_remove_instance(m, 0, (uint16_t)iid);
	}
	if (snap_put(m, &b->account_snap) < 0)
		log_warn(b->name, "bootstrap account not restored; the configured one is used");
	if (add_account(b) < 0)
		log_err(b->name, "no bootstrap account in the model");
}

/* The next attempt, after the back-off the attempts so far earned (none
 * before the first).  The timer's attempt() is the only way to a request
 * once one went out.  Returns the delay in ms. */
static uint64_t schedule(struct lwm_bootstrap *b)
{
	uint64_t delay = b->attempts ? retry_delay_ms(b->attempts) : 0;

	set_state(b, BS_BACKOFF);
	gw_timer_arm(&b->timer, clock_now_ms() + delay);
	return delay;
}

/* Give up on this attempt and retry later.  Safe inside libcoap's handlers:
 * the session is dropped when the retry fires. */
static void fail(struct lwm_bootstrap *b, const char *why)
{
	uint64_t delay;

	cancel_resolve(b);
	/* A bootstrap that fails leaves the bootstrap account as it was. */
	if (b->state == BS_REQUESTING || b->state == BS_PACKING || b->state == BS_SERVING)
		restore_account(b);
	b->failures++;
	b->request_pending = false;
	delay = schedule(b);
	if (b->failures == 1 || b->failures % 10 == 0)
		log_warn(b->name, "bootstrap from %s failed (%s); retrying in %.1f s (attempt %u)",
			 b->server_uri, why, delay / 1000.0, b->failures);
	else
		log_debug(b->name, "bootstrap attempt %u failed (%s); retrying in %.1f s",
			  b->failures, why, delay / 1000.0);
}

/* Bootstrap-Request (POST /bs) or, with pack, Bootstrap-Pack-Request
 * (GET /bspack, LwM2M 1.2). */
static int send_request(struct lwm_bootstrap *b, bool pack)
{
	coap_optlist_t *opts = NULL;
	coap_pdu_t *pdu;
	uint8_t fmt[4];

	if (!b->session) {
		b->session = lwm_security_new_session(lwm_engine_context(b->engine, b->security), &b->server_addr, b->security,
						      NULL);
		if (!b->session)
			return -ENOMEM;
		coap_session_set_app_data(b->session, &b->owner);
	}
	pdu = coap_new_pdu(COAP_MESSAGE_CON, pack ? COAP_REQUEST_CODE_GET : COAP_REQUEST_CODE_POST,
			   b->session);
	if (!pdu)
		return -ENOMEM;
	coap_session_new_token(b->session, &b->token_len, b->token);
	coap_add_token(pdu, b->token_len, b->token);
	if (pack)
		coap_insert_optlist(&opts, coap_new_optlist(COAP_OPTION_URI_PATH, 6,
							   (const uint8_t *)"bspack"));
	else
		coap_insert_optlist(&opts, coap_new_optlist(COAP_OPTION_URI_PATH, 2,
							   (const uint8_t *)"bs"));
	lwm_add_query(&opts, "ep", b->endpoint);
	if (pack) {
		/* The pack's format: SenML CBOR (we decode the others too). */
		coap_insert_optlist(&opts, coap_new_optlist(COAP_OPTION_ACCEPT,
			coap_encode_var_safe(fmt, sizeof(fmt), LWM_FMT_SENML_CBOR), fmt));
	} else if (strcmp(b->version, "1.0") != 0) {
		/* 1.1+: the format we prefer for Bootstrap-Write (we decode them all). */
		char pct[8];
		snprintf(pct, sizeof(pct), "%u", LWM_FMT_SENML_CBOR);
		lwm_add_query(&opts, "pct", pct);
	}
	coap_add_optlist_pdu(pdu, &opts);
	coap_delete_optlist(opts);
	b->request_pending = true;
	if (coap_send(b->session, pdu) == COAP_INVALID_MID) {
		b->request_pending = false;
		return -EIO;
	}
	set_state(b, pack ? BS_PACKING : BS_REQUESTING);
	lwm_engine_kick(b->engine);
	return 0;
}

/* 1.2 asks for the Bootstrap-Pack first, unless the server said it has
 * none for us. */
static bool use_pack(const struct lwm_bootstrap *b)
{
	return strcmp(b->version, "1.2") == 0 && !b->no_pack;
}

static void resolved(void *ud, int err, const struct sockaddr *sa, socklen_t len)
{
	struct lwm_bootstrap *b = ud;
	int r;

	b->resolving = NULL;
	if (err < 0 || len > sizeof(b->server_addr.addr)) {
		fail(b, "the bootstrap server's host name does not resolve");
		return;
	}
	coap_address_init(&b->server_addr);
	b->server_addr.size = len;
	memcpy(&b->server_addr.addr.sa, sa, len);
	r = send_request(b, use_pack(b));
	if (r < 0)
		fail(b, strerror(-r));
}

/* Resolve the server's name, then send the request (resolved); the attempt
 * counts as requesting meanwhile. */
static void resolve_server(struct lwm_bootstrap *b)
{
	struct lwm_engine *e = b->engine;
	char host[256], port[8];
	coap_address_t addr;
	bool secure;
	int r;

	r = lwm_uri_split(b->server_uri, host, sizeof(host), port, &secure);
	if (r < 0) {
		fail(b, strerror(-r));
		return;
	}
	if (!e->resolver.start) {
		/* No resolver thread (tools, tests): the blocking look-up. */
		r = lwm_uri_lookup(host, port, &addr);
		resolved(b, r, &addr.addr.sa, r < 0 ? 0 : addr.size);
		return;
	}
	r = e->resolver.start(e->resolver.ctx, host, port, resolved, b, &b->resolving);
	if (r < 0) {
		fail(b, strerror(-r));
		return;
	}
	set_state(b, BS_REQUESTING);
}

static void attempt(struct lwm_bootstrap *b)
{
	bool pack = use_pack(b);
	int r;

	b->attempts++;
	drop_session(b);
	b->refused = false;
	b->account_iid = -1;
	for (int iid = lwm_model_next_instance(b->model, 0, -1); iid >= 0;
	     iid = lwm_model_next_instance(b->model, 0, iid))
		if (is_bootstrap_account(b->model, (uint16_t)iid)) {
			struct lwm_path ip = lwm_path_make(2, 0, (uint16_t)iid, 0, 0);
			if (snap_take(b->model, &ip, &b->account_snap) == 0)
				b->account_iid = iid;
			break;
		}
	log_info(b->name, "requesting %s from %s", pack ? "a bootstrap pack" : "bootstrap",
		 b->server_uri);
	if (b->server_named) {
		resolve_server(b);
		return;
	}
	r = send_request(b, pack);
	if (r < 0)
		fail(b, strerror(-r));
}

int lwm_bootstrap_start(struct lwm_bootstrap *b)
{
	uint64_t delay;

	if (lwm_bootstrap_active(b))
		return -EALREADY;
	b->failures = 0;
	gw_timer_disarm(&b->notify);
	if (!b->attempts) {
		attempt(b);
		return 0;
	}
	/* Bootstrapped before, and no registration succeeded since. */
	delay = schedule(b);
	log_warn(b->name, "bootstrapping again in %.1f s (%u bootstrap(s) since the last "
		 "successful registration)", delay / 1000.0, b->attempts);
	return 0;
}

void lwm_bootstrap_registered(struct lwm_bootstrap *b)
{
	b->attempts = 0;
}

void lwm_bootstrap_retry(struct lwm_bootstrap *b, const char *why)
{
	gw_timer_disarm(&b->notify);
	fail(b, why);
}

void lwm_bootstrap_stop(struct lwm_bootstrap *b)
{
	cancel_resolve(b);
	gw_timer_disarm(&b->timer);
	gw_timer_disarm(&b->notify);
	drop_session(b);
	set_state(b, BS_STOPPED);
}

/* How long the server may stay silent before Finish: the configured
 * wait, else EXCHANGE_LIFETIME.  Not the Bootstrap-Server Account Timeout
 * (/0/x/12): that one says when to purge the account after a successful
 * bootstrap (not supported, see gatewayd.conf(5)). */
static uint32_t finish_timeout_s(const struct lwm_bootstrap *b)
{
	return b->finish_timeout_s ? b->finish_timeout_s : LWM_BOOTSTRAP_FINISH_TIMEOUT_S;
}

/* The server is still talking to us: wait for its Finish again. */
static void arm_finish_timeout(struct lwm_bootstrap *b)
{
	gw_timer_arm(&b->timer, clock_now_ms() + (uint64_t)finish_timeout_s(b) * 1000u);
}

static void timer_cb(struct gw_timer *t, void *ud)
{
	struct lwm_bootstrap *b = ud;

	switch (b->state) {
	case BS_BACKOFF:
		attempt(b);
		break;
	case BS_REQUESTING:
	case BS_PACKING:
	case BS_SERVING:
		if (b->refused) {
			/* The server did not correct what Finish refused. */
			char why[sizeof(b->failure) + 48];
			snprintf(why, sizeof(why), "no Bootstrap-Finish in time after %s", b->failure);
			fail(b, why);
		} else {
			fail(b, "no Bootstrap-Finish in time");
		}
		break;
	default:
		break;
	}
}

static void notify_cb(struct gw_timer *t, void *ud)
{
	struct lwm_bootstrap *b = ud;

	/* Outside libcoap's handlers now: the session may go. */
	drop_session(b);
	if (b->ops && b->ops->finished)
		b->ops->finished(b, b->ud); /* may free b */
}

/* Accepted (validated by the caller): keep it and tell the device. */
static void finished(struct lwm_bootstrap *b, int accounts)
{
	char err[256];

	if (b->state_file && lwm_bootstrap_save(b->model, b->state_file, err, sizeof(err)) < 0) {
		/* Not kept: a restart would bootstrap again, but the accounts work. */
		log_err(b->name, "bootstrap state not saved: %s", err);
	}
	declare_server_executables(b->model);
	log_notice(b->name, "bootstrapped by %s: %d server account(s)%s", b->server_uri, accounts,
		   b->failures ? " after failed attempt(s)" : "");
	gw_timer_disarm(&b->timer);
	b->failures = 0;
	set_state(b, BS_DONE);
	/* `finished` may drop this session: not inside its handler. */
	gw_timer_arm(&b->notify, clock_now_ms());
}

/* The answer to a Bootstrap-Pack-Request: the whole configuration at once,
 * applied as Bootstrap-Delete of / and Bootstrap-Writes would be, then
 * checked as at Bootstrap-Finish. */
static void on_pack(struct lwm_bootstrap *b, unsigned code, const coap_pdu_t *rcvd)
{
	struct lwm_record *recs = NULL;
	struct lwm_buf scratch;
	struct lwm_path root = {0};
	const uint8_t *data = NULL;
	size_t len = 0, n = 0;
	uint32_t fmt = LWM_FMT_SENML_CBOR;
	char why[200];
	int r, accounts;

	if (code != 205) {
		/* No pack for us here: the classic Bootstrap-Request, now. */
		log_notice(b->name, "bootstrap server %s answered the Bootstrap-Pack-Request "
			   "%u.%02u; requesting bootstrap instead", b->server_uri, code / 100,
			   code % 100);
		b->no_pack = true;
		r = send_request(b, false);
		if (r < 0)
			fail(b, strerror(-r));
		return;
	}
	if (b->pack.len) {
		data = b->pack.data;
		len = b->pack.len;
	} else if (!coap_get_data(rcvd, &len, &data)) {
		len = 0;
	}
	lwm_request_uint_option(rcvd, COAP_OPTION_CONTENT_FORMAT, &fmt);
	recs = calloc(max_records(len), sizeof(*recs));
	lwm_buf_init(&scratch, 64 * 1024);
	r = recs ? 0 : -ENOMEM;
	if (r == 0 && (fmt > UINT16_MAX || !lwm_format_can_decode((uint16_t)fmt)))
		r = -ENOTSUP;
	if (r == 0)
		r = lwm_decode_ex((uint16_t)fmt, &root, data, len, lookup_type, NULL, recs,
				  max_records(len), &n, &scratch);
	if (r == 0) {
		size_t kept = 0;
		lwm_bootstrap_clear(b->model);
		/* The bootstrap objects; other objects only where they exist;
		 * resources this client does not support are ignored, as in a
		 * Bootstrap-Write. */
		for (size_t i = 0; i < n; i++) {
			struct lwm_path ip = lwm_path_make(2, LWM_PATH_OID(&recs[i].path),
							   LWM_PATH_IID(&recs[i].path), 0, 0);
			if (recs[i].path.len < 3 || lookup_type(&recs[i].path, NULL) == LWM_T_NONE)
				continue;
			if (LWM_PATH_OID(&ip) <= 2 || lwm_model_exists(b->model, &ip))
				recs[kept++] = recs[i];
		}
		r = apply_records(b->model, recs, kept, true);
	}
	/* Also when the pack was refused: never without the account. */
	if (add_account(b) < 0 && r == 0)
		r = -ENOMEM;
	free(recs);
	if (scratch.data)
		explicit_bzero(scratch.data, scratch.cap);
	lwm_buf_free(&scratch);
	if (r < 0) {
		snprintf(why, sizeof(why), "unusable bootstrap pack: %s", strerror(-r));
		fail(b, why);
		return;
	}
	accounts = validate_and_report(b, why, sizeof(why));
	if (accounts < 0) {
		log_warn(b->name, "bootstrap pack refused: %s", why);
		snprintf(b->failure, sizeof(b->failure), "pack refused: %s", why);
		fail(b, b->failure);
		return;
	}
	finished(b, accounts);
}

/* A block of a Bootstrap-Pack: kept; true when more are to come.  One too
 * many for the engine's body limit fails the attempt (and ends the wait). */
static bool pack_block(struct lwm_bootstrap *b, const coap_pdu_t *rcvd)
{
	coap_opt_iterator_t oi;
	coap_opt_t *opt = coap_check_option(rcvd, COAP_OPTION_BLOCK2, &oi);
	const uint8_t *data;
	size_t len;
	uint32_t v, num, szx;

	if (!opt || coap_opt_length(opt) > 3)
		return false;
	v = coap_decode_var_bytes(coap_opt_value(opt), coap_opt_length(opt));
	num = v >> 4;
	szx = v & 7;
	if (!coap_get_data(rcvd, &len, &data))
		len = 0;
	if (num == 0) {
		lwm_buf_free(&b->pack);
		lwm_buf_init(&b->pack, b->engine->max_body);
	}
	if (num == 0 && !(v & 8))
		return false; /* all in one */
	/* In order, each block once (libcoap asks for them one by one). */
	if (szx != 7 && (uint64_t)num << (szx + 4) == b->pack.len)
		lwm_buf_append(&b->pack, data, len);
	else
		b->pack.err = -EBADMSG;
	if (b->pack.err) {
		int err = b->pack.err;
		lwm_buf_free(&b->pack);
		b->request_pending = false;
		fail(b, err == -EBADMSG ? "the Bootstrap-Pack's blocks came out of order"
						: "the Bootstrap-Pack is larger than this client takes");
		return true;
	}
	return v & 8;
}

void lwm_bootstrap_on_response(struct lwm_bootstrap *b, const coap_pdu_t *rcvd)
{
	coap_bin_const_t tok = coap_pdu_get_token(rcvd);
	coap_pdu_code_t pc = coap_pdu_get_code(rcvd);
	unsigned code = (pc >> 5) * 100 + (pc & 0x1f);
	char why[48];

	if (!b->request_pending || tok.length != b->token_len ||
	    memcmp(tok.s, b->token, tok.length) != 0)
		return;
	if (b->state == BS_PACKING && code == 205 && pack_block(b, rcvd))
		return; /* libcoap asks for the next block */
	b->request_pending = false;
	if (b->state == BS_PACKING) {
		on_pack(b, code, rcvd);
		lwm_buf_free(&b->pack);
		return;
	}
	if (code == 204) {
		log_info(b->name, "bootstrap server %s accepted the request", b->server_uri);
		if (b->state == BS_REQUESTING)
			set_state(b, BS_SERVING);
		arm_finish_timeout(b);
		return;
	}
	snprintf(why, sizeof(why), "server answered %u.%02u", code / 100, code % 100);
	fail(b, why);
}

void lwm_bootstrap_on_failure(struct lwm_bootstrap *b, const coap_pdu_t *sent, const char *why)
{
	if (!b->request_pending)
		return;
	if (sent) {
		coap_bin_const_t tok = coap_pdu_get_token(sent);
		if (tok.length != b->token_len || memcmp(tok.s, b->token, tok.length) != 0)
			return;
	}
	if (b->security && strncmp(why, "TLS", 3) == 0) {
		const char *cause = lwm_security_failure(b->security, b->session);
		if (cause)
			why = cause;
	}
	fail(b, why);
}

int lwm_bootstrap_restore(struct lwm_bootstrap *b, char *err, size_t errlen)
{
	int r, a;

	if (!b->state_file) {
		snprintf(err, errlen, "no state file");
		return -ENOENT;
	}
	r = lwm_bootstrap_load(b->model, b->state_file, b->version, err, errlen);
	a = add_account(b);
	return r < 0 ? r : a;
}

/* ---- the server's operations ------------------------------------------- */

static void respond_text(coap_pdu_t *resp, unsigned code, const char *text)
{
	uint8_t fmt[4];

	lwm_respond_code(resp, code);
	coap_add_option(resp, COAP_OPTION_CONTENT_FORMAT,
			coap_encode_var_safe(fmt, sizeof(fmt), LWM_FMT_TEXT), fmt);
	coap_add_data(resp, strlen(text), (const uint8_t *)text);
}

static void bs_write(struct lwm_bootstrap *b, const coap_pdu_t *req, coap_pdu_t *resp,
		     const struct lwm_path *p)
{
	struct lwm_record *recs = NULL;
	struct lwm_buf scratch, before = {0};
	const uint8_t *data = NULL;
	size_t len = 0, n = 0;
	uint32_t fmt;
	char ps[32];
	bool snapped = false;
	int r;

	lwm_path_format(p, ps, sizeof(ps));
	if (p->len == 0)
		return lwm_respond_code(resp, 400);
	if (lwm_request_uint_option(req, COAP_OPTION_CONTENT_FORMAT, &fmt) < 0)
		fmt = p->len >= 3 ? LWM_FMT_TEXT : LWM_FMT_TLV;
	if (fmt > UINT16_MAX || !lwm_format_can_decode((uint16_t)fmt))
		return lwm_respond_code(resp, 415);
	/* Bootstrap-Write answers 2.04, 4.00 or 4.15 only.  The value is
	 * written whether the instance exists or not in the objects bootstrap
	 * provisions (0 to 2); the device's own objects stand for its hardware,
	 * whose instances a write cannot create: 4.00 there. */
	if (!lwm_objdef_find(LWM_PATH_OID(p)))
		return lwm_respond_code(resp, 400);
	if (LWM_PATH_OID(p) > 2 && p->len >= 2) {
		struct lwm_path ip = lwm_path_make(2, LWM_PATH_OID(p), LWM_PATH_IID(p), 0, 0);
		if (!lwm_model_exists(b->model, &ip)) {
			log_info(b->name, "bootstrap write %s refused: no such instance", ps);
			return lwm_respond_code(resp, 400);
		}
	}
	/* A resource this client does not support is ignored, in the URI as
	 * in a payload. */
	if (p->len >= 3 && lookup_type(p, NULL) == LWM_T_NONE) {
		log_debug(b->name, "bootstrap write %s: resource not supported, ignored", ps);
		return lwm_respond_code(resp, 204);
	}
	/* The whole body, also when it came block-wise (block1.c). */
	lwm_request_data(b->engine, req, &data, &len);
	recs = calloc(max_records(len), sizeof(*recs));
	if (!recs)
		return lwm_respond_code(resp, 500);
	lwm_buf_init(&scratch, 64 * 1024);
	r = lwm_decode_ex((uint16_t)fmt, p, data, len, lookup_type, NULL, recs, max_records(len),
			  &n, &scratch);
	if (r == 0) {
		size_t kept = 0;
		for (size_t i = 0; r == 0 && i < n; i++) {
			if (recs[i].path.id[1] == LWM_ID_NONE) {
				r = -EINVAL;
			} else if (lookup_type(&recs[i].path, NULL) == LWM_T_NONE) {
				char rs[32];
				lwm_path_format(&recs[i].path, rs, sizeof(rs));
				log_debug(b->name, "bootstrap write %s: resource %s not supported, "
					  "ignored", ps, rs);
			} else {
				recs[kept++] = recs[i];
			}
		}
		n = kept;
	}
	/* A write is applied whole or not at all: what it changes in the
	 * bootstrap objects is put back when it fails half way. */
	if (r == 0 && LWM_PATH_OID(p) <= 2) {
		struct lwm_path op = lwm_path_make(1, LWM_PATH_OID(p), 0, 0, 0);
		r = snap_take(b->model, &op, &before);
		snapped = r == 0;
	}
	/* An instance written whole (the object or the instance addressed) is
	 * replaced, in the bootstrap objects: no stale keys of an old account
	 * survive in it. */
	for (size_t i = 0; r == 0 && p->len <= 2 && LWM_PATH_OID(p) <= 2 && i < n; i++) {
		uint16_t iid = LWM_PATH_IID(&recs[i].path);
		bool seen = false;
		for (size_t j = 0; j < i && !seen; j++)
			seen = LWM_PATH_IID(&recs[j].path) == iid;
		if (!seen)
			lwm_model_remove_instance(b->model, LWM_PATH_OID(p), iid);
	}
	/* A multiple resource written whole replaces its instances. */
	for (size_t i = 0; r == 0 && i < n; i++)
		if (recs[i].path.len == 4) {
			struct lwm_path rp = recs[i].path;
			rp.len = 3;
			lwm_model_clear_instances(b->model, &rp);
		}
	if (r == 0)
		r = apply_records(b->model, recs, n, LWM_PATH_OID(p) <= 2);
	if (r < 0 && snapped) {
		int next;
		for (int iid = lwm_model_next_instance(b->model, LWM_PATH_OID(p), -1); iid >= 0;
		     iid = next) {
			next = lwm_model_next_instance(b->model, LWM_PATH_OID(p), iid);
			lwm_model_remove_instance(b->model, LWM_PATH_OID(p), (uint16_t)iid);
		}
		snap_put(b->model, &before);
	}
	snap_free(&before);
	/* Servers commonly write their own account too (Bootstrap-Server
	 * true): it is kept, but this session goes on with the configured
	 * credentials.  Had the write turned our account into another, the
	 * configured one comes back at a free instance; and whatever
	 * happened, the model is never left without it. */
	if (LWM_PATH_OID(p) == 0 && add_account(b) < 0 && r == 0)
		r = -ENOMEM;
	free(recs);
	if (scratch.data)
		explicit_bzero(scratch.data, scratch.cap);
	lwm_buf_free(&scratch);
	if (r < 0) {
		log_notice(b->name, "bootstrap write %s refused: %s", ps,
			   r == -ENOENT ? "no such instance" : strerror(-r));
		return lwm_respond_code(resp, r == -ENOMEM ? 500 : 400);
	}
	/* Values only, never keys, in the logs. */
	log_info(b->name, "bootstrap write %s (%zu value(s))", ps, n);
	lwm_respond_code(resp, 204);
}

static void bs_delete(struct lwm_bootstrap *b, coap_pdu_t *resp, const struct lwm_path *p)
{
	char ps[32];

	lwm_path_format(p, ps, sizeof(ps));
	if (p->len > 2)
		return lwm_respond_code(resp, 400);
	if (p->len == 0) {
		lwm_bootstrap_clear(b->model);
	} else if (LWM_PATH_OID(p) > 2) {
		/* The device's own objects are not the bootstrap server's. */
		return lwm_respond_code(resp, 400);
	} else if (p->len == 2 && LWM_PATH_OID(p) == 0 &&
		   is_bootstrap_account(b->model, LWM_PATH_IID(p))) {
		return lwm_respond_code(resp, 400);
	} else {
		remove_instances(b->model, LWM_PATH_OID(p), p->len == 2 ? LWM_PATH_IID(p) : -1);
	}
	log_info(b->name, "bootstrap delete %s", ps);
	lwm_respond_code(resp, 202);
}

static void bs_read(struct lwm_bootstrap *b, coap_resource_t *r, coap_session_t *s,
		    const coap_pdu_t *req, const coap_string_t *query, coap_pdu_t *resp,
		    const struct lwm_path *p)
{
	struct lwm_engine *e = b->engine;
	const struct lwm_record *recs;
	size_t n;
	uint32_t accept;
	uint16_t fmt;
	int err;

	lwm_buf_reset(&e->scratch);
	if (lwm_request_uint_option(req, COAP_OPTION_ACCEPT, &accept) == 0 &&
	    accept == LWM_FMT_LINK) {
		/* Bootstrap-Discover: the root or an object. */
		if (p->len > 1)
			return lwm_respond_code(resp, 400);
		err = lwm_bootstrap_discover(b->model, p, b->version, &e->scratch);
		if (err == -ENOENT)
			return lwm_respond_code(resp, 404);
		if (err < 0)
			return lwm_respond_code(resp, 500);
		return lwm_respond_body(r, s, req, resp, query, 205, LWM_FMT_LINK, &e->scratch);
	}
	/* Bootstrap-Read (1.1): the Server and Access Control objects only. */
	if (strcmp(b->version, "1.0") == 0)
		return lwm_respond_code(resp, 405);
	if (p->len == 0 || (LWM_PATH_OID(p) != 1 && LWM_PATH_OID(p) != 2))
		return lwm_respond_code(resp, 401);
	if (!lwm_model_exists(b->model, p))
		return lwm_respond_code(resp, 404);
	err = lwm_model_records(b->model, p, &recs, &n);
	if (err < 0)
		return lwm_respond_code(resp, 500);
	if (lwm_request_uint_option(req, COAP_OPTION_ACCEPT, &accept) == 0) {
		if (accept > UINT16_MAX || !lwm_format_can_encode((uint16_t)accept))
			return lwm_respond_code(resp, 406);
		fmt = (uint16_t)accept;
	} else {
		fmt = p->len >= 3 && n == 1 ? LWM_FMT_TEXT : LWM_FMT_TLV;
	}
	err = lwm_encode(fmt, p, recs, n, &e->scratch);
	if (err == -ENOTSUP || err == -EINVAL)
		return lwm_respond_code(resp, 406);
	if (err < 0)
		return lwm_respond_code(resp, 500);
	lwm_respond_body(r, s, req, resp, query, 205, fmt, &e->scratch);
}

static void bs_finish(struct lwm_bootstrap *b, coap_pdu_t *resp)
{
	char why[200];
	int n = validate_and_report(b, why, sizeof(why));

	if (n < 0) {
		/* The server may correct the configuration and finish again
		 * (Bootstrap-Finish): the session goes on, and
		 * fails only when no good Finish comes in time. */
		log_warn(b->name, "bootstrap finish refused: %s", why);
		respond_text(resp, 406, why);
		snprintf(b->failure, sizeof(b->failure), "Finish refused: %s", why);
		b->refused = true;
		return;
	}
	lwm_respond_code(resp, 204);
	finished(b, n);
}

void lwm_bootstrap_on_request(struct lwm_bootstrap *b, coap_resource_t *r, coap_session_t *s,
			      const coap_pdu_t *req, const coap_string_t *query,
			      coap_pdu_t *resp)
{
	struct lwm_path p;
	bool finish;

	/* Only while a bootstrap is under way: the server may start before
	 * our request's answer arrives. */
	if (b->state != BS_REQUESTING && b->state != BS_SERVING)
		return lwm_respond_code(resp, 404);
	/* A single "bs" segment is Bootstrap-Finish. */
	if (lwm_request_path(req, "bs", &p, &finish) < 0)
		return lwm_respond_code(resp, 404);
	arm_finish_timeout(b);
	switch (coap_pdu_get_code(req)) {
	case COAP_REQUEST_CODE_POST:
		if (finish)
			return bs_finish(b, resp);
		return lwm_respond_code(resp, 405);
	case COAP_REQUEST_CODE_PUT:
		if (finish)
			return lwm_respond_code(resp, 405);
		return bs_write(b, req, resp, &p);
	case COAP_REQUEST_CODE_DELETE:
		if (finish)
			return lwm_respond_code(resp, 405);
		return bs_delete(b, resp, &p);
	case COAP_REQUEST_CODE_GET:
		if (finish)
			return lwm_respond_code(resp, 405);
		return bs_read(b, r, s, req, query, resp, &p);
	default:
		return lwm_respond_code(resp, 405);
	}
}
