/* gatewayd's configuration loader: libconfig tree -> validated structs.
 *
 * The daemon validates its own keys while loading and records every error
 * as a cfg_diag, then goes on so that one run reports them all.  Adapter
 * keys stay in the tree; adapters read them through cfg_node_* which mark
 * each setting read (libconfig's per-setting hook), so that
 * cfg_check_unknown_keys can later name the keys nobody read. */
#include "config.h"
#include "fw_pkg.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <grp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <syslog.h>
#include <unistd.h>

#include "file.h"
#include "lwm2m/acl.h"
#include "lwm2m/client.h"
#include "lwm2m/security.h"

#ifndef LOCALSTATEDIR
#define LOCALSTATEDIR "/var"
#endif
#ifndef ADAPTERDIR
#define ADAPTERDIR "/usr/local/lib/gatewayd/adapters"
#endif
#ifndef SYSCONFDIR
#define SYSCONFDIR "/etc"
#endif

#define CFG_DEFAULT_PATTERN "%g-%d"
#define CFG_MAX_ID 65534
#define CFG_MAX_POLL_S 4294967.0 /* poll_ms must fit in 32 bits */

/* The hook value of a setting that somebody read.  Only its address matters;
 * no destructor is installed, so libconfig never frees it. */
static const char cfg_read_mark;

/* Daemon-owned keys per group.  Adapters never see these. */
static const char *const cfg_gateway_keys[] = {
	"name", "endpoint_pattern", "state_dir", "adapter_dir", "models_dir", "log_level",
	"registration_rate", "store_count", "store_bytes", "operation_timeout",
	"max_write_body", "max_observations", "control_socket", "control_mode", "control_group",
	"firmware_ca_file", "firmware_max_size", "firmware_give_up", NULL,
};
static const char *const cfg_server_keys[] = {
	"name", "uri", "lifetime", "version", "binding", "short_id", "security",
	"priority_order", "initial_delay", "failure_block", "bootstrap_on_failure",
	"retry_count", "retry_timer", "sequence_delay", "sequence_retry_count", "bootstrap",
	"notification_storing", "store_count", "store_bytes", "mute_send", "ack_timeout",
	"max_retransmit", "finish_timeout", NULL,
};
static const char *const cfg_top_keys[] = {
	"gateway", "servers", "buses", "profiles", "devices", NULL,
};
static const char *const cfg_bus_reserved[] = {"name", "adapter", NULL};
/* DTLS credentials of a device (or its profile), for its secure servers
 * without an entry of their own in "credentials". */
#define CFG_CREDENTIAL_KEYS                                                                  \
	"psk_identity", "psk_key", "psk_file", "certificate", "private_key", "public_key",   \
	    "server_public_key", "ca_file", "server_certificate", "sni"
static const char *const cfg_profile_reserved[] = {
	"name", "adapter", "manufacturer", "model", "serial", "firmware_version",
	"points", "credentials", "access", CFG_CREDENTIAL_KEYS, "stale_after", "stale_factor",
	"firmware_command", "firmware_timeout", "firmware_sha256", NULL,
};
/* A device's node falls back to its profile, so this must cover the
 * profile's reserved keys too. */
static const char *const cfg_device_reserved[] = {
	"name", "profile", "adapter", "endpoint", "bus", "servers", "manufacturer",
	"model", "serial", "firmware_version", "points", "credentials", "access",
	CFG_CREDENTIAL_KEYS, "send_period", "send_on_change", "send_format", "stale_after",
	"stale_factor", "firmware_command", "firmware_timeout", "firmware_sha256", NULL,
};
static const char *const cfg_access_keys[] = {"server", "objects", "rights", NULL};
/* One entry of a device's (or profile's) per-server credentials list. */
static const char *const cfg_server_credential_keys[] = {
	"server", CFG_CREDENTIAL_KEYS, NULL,
};
static const char *const cfg_point_reserved[] = {
	"channel", "path", "scale", "offset", "min", "max", "poll", "units",
	"send_period", "send_on_change", "stale_after", "stale_factor", NULL,
};

static const char *const cfg_identity_keys[] = {
	"manufacturer", "model", "serial", "firmware_version",
};
static const char *const cfg_credential_keys[] = {CFG_CREDENTIAL_KEYS};

struct cfg_loader {
	struct cfg *cfg;
	int err; /* -ENOMEM once an allocation failed */
	const char *pattern;
	/* Devices loaded so far by name and by endpoint (open addressing,
	 * index + 1, 0 empty): comparing each new device with every earlier
	 * one was most of the start-up time of 10,000 devices. */
	size_t *dev_by_name, *dev_by_ep, dev_cap;
};

/* ---- small helpers ------------------------------------------------------ */

static bool cfg_in_list(const char *const *list, const char *s)
{
	if (!list || !s)
		return false;
	for (; *list; list++)
		if (strcmp(*list, s) == 0)
			return true;
	return false;
}

static size_t cfg_str_hash(const char *s)
{
	size_t h = 2166136261u;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

/* The loaded device with this name (by_ep: endpoint), or -1. */
static long cfg_device_find(const struct cfg_loader *ld, bool by_ep, const char *key)
{
	const size_t *tab = by_ep ? ld->dev_by_ep : ld->dev_by_name;

	for (size_t i = cfg_str_hash(key) & (ld->dev_cap - 1); tab[i];
	     i = (i + 1) & (ld->dev_cap - 1)) {
		const struct cfg_device *d = &ld->cfg->devices[tab[i] - 1];
		if (strcmp(by_ep ? d->endpoint : d->name, key) == 0)
			return (long)(tab[i] - 1);
	}
	return -1;
}

static void cfg_device_index(struct cfg_loader *ld, size_t idx)
{
	const struct cfg_device *d = &ld->cfg->devices[idx];
	size_t i;

	for (i = cfg_str_hash(d->name) & (ld->dev_cap - 1); ld->dev_by_name[i];
	     i = (i + 1) & (ld->dev_cap - 1))
		;
	ld->dev_by_name[i] = idx + 1;
	for (i = cfg_str_hash(d->endpoint) & (ld->dev_cap - 1); ld->dev_by_ep[i];
	     i = (i + 1) & (ld->dev_cap - 1))
		;
	ld->dev_by_ep[i] = idx + 1;
}

static void cfg_mark(config_setting_t *s)
{
	config_setting_set_hook(s, (void *)&cfg_read_mark);
}

static bool cfg_is_marked(const config_setting_t *s)
{
	return config_setting_get_hook(s) == &cfg_read_mark;
}

/* Member lookup that records the read. */
static config_setting_t *cfg_get(config_setting_t *group, const char *key)
{
	config_setting_t *s;

	if (!group || !config_setting_is_group(group))
		return NULL;
	s = config_setting_get_member(group, key);
	if (s)
		cfg_mark(s);
	return s;
}

static char *cfg_vstrdupf(const char *fmt, va_list ap)
{
	va_list aq;
	int n;
	char *s;

	va_copy(aq, ap);
	n = vsnprintf(NULL, 0, fmt, aq);
	va_end(aq);
	if (n < 0)
		return NULL;
	s = malloc((size_t)n + 1);
	if (s)
		vsnprintf(s, (size_t)n + 1, fmt, ap);
	return s;
}

static char *cfg_strdupf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *cfg_strdupf(const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	s = cfg_vstrdupf(fmt, ap);
	va_end(ap);
	return s;
}

/* "devices.[1].points.[0].path": names in groups, "[i]" in lists and
 * arrays; "" for the root.  Caller frees. */
static char *cfg_setting_path(const config_setting_t *s)
{
	const config_setting_t *p = config_setting_parent(s);
	const char *name = config_setting_name(s);
	char *head, *out;

	if (!p)
		return strdup("");
	head = cfg_setting_path(p);
	if (!head)
		return NULL;
	if (config_setting_is_list(p) || config_setting_is_array(p))
		out = cfg_strdupf("%s%s[%d]", head, *head ? "." : "", config_setting_index(s));
	else
		out = cfg_strdupf("%s%s%s", head, *head ? "." : "", name ? name : "");
	free(head);
	return out;
}

/* The file a setting came from.  libconfig records included files by the
 * name written in @include, relative to the include directory; name them
 * relative to where the main file was found instead. */
static char *cfg_source_file(const struct cfg *cfg, const char *src)
{
	const char *dir = config_get_include_dir(&cfg->lc);

	if (!src)
		src = cfg->file;
	if (!src)
		return strdup("");
	if (src[0] == '/' || (cfg->file && strcmp(src, cfg->file) == 0) || !dir ||
	    strcmp(dir, ".") == 0)
		return strdup(src);
	return cfg_strdupf("%s/%s", dir, src);
}

/* Render a setting's value for "found ..." in messages. */
static void cfg_describe(const config_setting_t *s, char *buf, size_t len)
{
	const char *str;

	if (!s) {
		snprintf(buf, len, "nothing");
		return;
	}
	switch (config_setting_type(s)) {
	case CONFIG_TYPE_INT:
		snprintf(buf, len, "%d", config_setting_get_int(s));
		break;
	case CONFIG_TYPE_INT64:
		snprintf(buf, len, "%lld", config_setting_get_int64(s));
		break;
	case CONFIG_TYPE_FLOAT:
		/* Keep it recognisable as a float: "600.0", not "600". */
		snprintf(buf, len, "%g", config_setting_get_float(s));
		if (!strpbrk(buf, ".eEni"))
			strncat(buf, ".0", len - strlen(buf) - 1);
		break;
	case CONFIG_TYPE_BOOL:
		snprintf(buf, len, "%s", config_setting_get_bool(s) ? "true" : "false");
		break;
	case CONFIG_TYPE_STRING:
		str = config_setting_get_string(s);
		if (strlen(str) > 60)
			snprintf(buf, len, "\"%.57s...\"", str);
		else
			snprintf(buf, len, "\"%s\"", str);
		break;
	case CONFIG_TYPE_GROUP:
		snprintf(buf, len, "a group");
		break;
	case CONFIG_TYPE_LIST:
		snprintf(buf, len, "a list");
		break;
	case CONFIG_TYPE_ARRAY:
		snprintf(buf, len, "an array");
		break;
	default:
		snprintf(buf, len, "nothing");
		break;
	}
}

/* ---- diagnostics -------------------------------------------------------- */

static void cfg_diag_clear(struct cfg_diag *d)
{
	free(d->file);
	free(d->path);
	free(d->msg);
}

/* Append a diag, taking file, path and msg.  Identical diags are dropped:
 * a profile's setting is checked once per device that uses it. */
static int cfg_diag_take(struct cfg *cfg, char *file, int line, char *path, char *msg)
{
	struct cfg_diag *d;
	size_t i;

	if (!file || !path || !msg) {
		free(file);
		free(path);
		free(msg);
		return -ENOMEM;
	}
	for (i = 0; i < cfg->n_diags; i++) {
		d = &cfg->diags[i];
		if (d->line == line && strcmp(d->file, file) == 0 &&
		    strcmp(d->path, path) == 0 && strcmp(d->msg, msg) == 0) {
			free(file);
			free(path);
			free(msg);
			return 0;
		}
	}
	d = realloc(cfg->diags, (cfg->n_diags + 1) * sizeof(*d));
	if (!d) {
		free(file);
		free(path);
		free(msg);
		return -ENOMEM;
	}
	cfg->diags = d;
	d[cfg->n_diags++] = (struct cfg_diag){.file = file, .line = line, .path = path, .msg = msg};
	return 1;
}

/* Returns 1 when recorded, 0 when it was a repeat, -ENOMEM. */
static int cfg_diag_vadd(struct cfg *cfg, const config_setting_t *s, const char *fmt, va_list ap)
{
	char *file, *path;
	int line = 0;

	if (s && config_setting_parent(s)) {
		file = cfg_source_file(cfg, config_setting_source_file(s));
		line = (int)config_setting_source_line(s);
		path = cfg_setting_path(s);
	} else {
		/* The root carries no useful line: report at the file. */
		file = cfg_source_file(cfg, NULL);
		path = strdup("");
	}
	return cfg_diag_take(cfg, file, line, path, cfg_vstrdupf(fmt, ap));
}

static int cfg_diag_addf(struct cfg *cfg, const config_setting_t *s, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int cfg_diag_addf(struct cfg *cfg, const config_setting_t *s, const char *fmt, ...)
{
	va_list ap;
	int r;

	if (!cfg)
		return -EINVAL;
	va_start(ap, fmt);
	r = cfg_diag_vadd(cfg, s, fmt, ap);
	va_end(ap);
	return r;
}

void cfg_diag_add(struct cfg *cfg, const config_setting_t *setting, const char *fmt, ...)
{
	va_list ap;

	if (!cfg)
		return;
	va_start(ap, fmt);
	cfg_diag_vadd(cfg, setting, fmt, ap);
	va_end(ap);
}

char *cfg_diag_format(const struct cfg_diag *d)
{
	char line[24] = "";
	const char *file = d->file && *d->file ? d->file : NULL;
	const char *path = d->path && *d->path ? d->path : NULL;

	if (file && d->line > 0)
		snprintf(line, sizeof(line), ":%d", d->line);
	return cfg_strdupf("%s%s%s%s%s%s", file ? file : "", line, file ? ": " : "",
			   path ? path : "", path ? ": " : "", d->msg ? d->msg : "");
}

/* Loader-side diag: remembers allocation failures. */
static void cfg_err(struct cfg_loader *ld, const config_setting_t *s, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void cfg_err(struct cfg_loader *ld, const config_setting_t *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (cfg_diag_vadd(ld->cfg, s, fmt, ap) < 0)
		ld->err = -ENOMEM;
	va_end(ap);
}

static void cfg_err_type(struct cfg_loader *ld, const config_setting_t *s, const char *expected)
{
	char found[96];

	cfg_describe(s, found, sizeof(found));
	cfg_err(ld, s, "expected %s, found %s", expected, found);
}

/* ---- typed reads of the daemon's own keys ------------------------------- */

/* Each returns 0 with *out set, -ENOENT when absent (an error if required)
 * or -EINVAL after recording what was wrong. */

static int cfg_missing(struct cfg_loader *ld, config_setting_t *group, const char *key,
		       bool required)
{
	if (required)
		cfg_err(ld, group, "missing required key '%s'", key);
	return -ENOENT;
}

static int cfg_read_string(struct cfg_loader *ld, config_setting_t *group, const char *key,
			   bool required, const char **out)
{
	config_setting_t *s = cfg_get(group, key);

	if (!s)
		return cfg_missing(ld, group, key, required);
	if (config_setting_type(s) != CONFIG_TYPE_STRING) {
		cfg_err_type(ld, s, "a string");
		return -EINVAL;
	}
	*out = config_setting_get_string(s);
	return 0;
}

static bool cfg_valid_name(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '.' && *s != '_' && *s != '-')
			return false;
	return true;
}

#define CFG_NAME_EXPECTED "a name of [A-Za-z0-9._-]"

static int cfg_read_name(struct cfg_loader *ld, config_setting_t *group, const char *key,
			 bool required, const char **out)
{
	config_setting_t *s = cfg_get(group, key);

	if (!s)
		return cfg_missing(ld, group, key, required);
	if (config_setting_type(s) != CONFIG_TYPE_STRING ||
	    !cfg_valid_name(config_setting_get_string(s))) {
		cfg_err_type(ld, s, CFG_NAME_EXPECTED);
		return -EINVAL;
	}
	*out = config_setting_get_string(s);
	return 0;
}

/* Every integer the daemon reads goes through here: an integer setting
 * within lo..hi, else an error naming the range and what was found. */
static int cfg_int_in_range(struct cfg_loader *ld, const config_setting_t *s, int64_t lo,
			    int64_t hi, const char *what, int64_t *out)
{
	char expected[96];
	int64_t v;

	snprintf(expected, sizeof(expected), "%s %lld..%lld", what, (long long)lo, (long long)hi);
	if (config_setting_type(s) == CONFIG_TYPE_INT)
		v = config_setting_get_int(s);
	else if (config_setting_type(s) == CONFIG_TYPE_INT64)
		v = config_setting_get_int64(s);
	else {
		cfg_err_type(ld, s, expected);
		return -EINVAL;
	}
	if (v < lo || v > hi) {
		cfg_err_type(ld, s, expected);
		return -EINVAL;
	}
	*out = v;
	return 0;
}

static int cfg_read_int(struct cfg_loader *ld, config_setting_t *group, const char *key,
			bool required, int64_t lo, int64_t hi, int64_t *out)
{
	config_setting_t *s = cfg_get(group, key);

	if (!s)
		return cfg_missing(ld, group, key, required);
	return cfg_int_in_range(ld, s, lo, hi, "an integer", out);
}

static bool cfg_number(const config_setting_t *s, double *out)
{
	switch (config_setting_type(s)) {
	case CONFIG_TYPE_FLOAT:
		*out = config_setting_get_float(s);
		return true;
	case CONFIG_TYPE_INT:
		*out = config_setting_get_int(s);
		return true;
	case CONFIG_TYPE_INT64:
		*out = (double)config_setting_get_int64(s);
		return true;
	default:
		return false;
	}
}

/* A finite number; expected names the accepted range for messages. */
static int cfg_read_double(struct cfg_loader *ld, config_setting_t *group, const char *key,
			   bool required, const char *expected, double *out, config_setting_t **where)
{
	config_setting_t *s = cfg_get(group, key);
	double v;

	if (!s)
		return cfg_missing(ld, group, key, required);
	if (!cfg_number(s, &v) || !isfinite(v)) {
		cfg_err_type(ld, s, expected);
		return -EINVAL;
	}
	*out = v;
	if (where)
		*where = s;
	return 0;
}

static int cfg_read_bool(struct cfg_loader *ld, config_setting_t *group, const char *key,
			 bool *out)
{
	config_setting_t *s = cfg_get(group, key);

	if (!s)
		return -ENOENT;
	if (config_setting_type(s) != CONFIG_TYPE_BOOL) {
		cfg_err_type(ld, s, "true or false");
		return -EINVAL;
	}
	*out = config_setting_get_bool(s);
	return 0;
}

/* A period in seconds (fractions allowed) as ms; 0 allowed. */
static int cfg_read_period(struct cfg_loader *ld, config_setting_t *group, const char *key,
			   uint32_t *out_ms)
{
	config_setting_t *s = cfg_get(group, key);
	double v;

	if (!s)
		return -ENOENT;
	if (!cfg_number(s, &v) || !isfinite(v) || v < 0.0 || v > CFG_MAX_POLL_S ||
	    (v > 0 && v < 0.1)) {
		cfg_err_type(ld, s, "0 or a number of seconds 0.1..4294967");
		return -EINVAL;
	}
	*out_ms = (uint32_t)llround(v * 1000.0);
	return 0;
}

/* stale_after (0 or seconds, as a period) and stale_factor (0, or 2..1000
 * poll periods: below 2 a read that is merely late would count as stale)
 * of g into st.  false on an error (reported). */
static bool cfg_read_stale(struct cfg_loader *ld, config_setting_t *g, struct cfg_stale *st)
{
	config_setting_t *s = cfg_get(g, "stale_factor");
	bool ok = true;
	double v;

	if (cfg_read_period(ld, g, "stale_after", &st->stale_after_ms) == 0)
		st->has_stale_after = true;
	else if (cfg_get(g, "stale_after"))
		ok = false;
	if (s && (!cfg_number(s, &v) || !isfinite(v) || (v != 0 && (v < 2.0 || v > 1000.0)))) {
		cfg_err_type(ld, s, "0 (never stale) or a number of poll periods 2..1000");
		ok = false;
	} else if (s) {
		st->stale_factor = v;
		st->has_stale_factor = true;
	}
	return ok;
}

/* Bounds of a notification store: 1..1000000 entries, 1 KiB..64 MiB. */
static void cfg_read_store(struct cfg_loader *ld, config_setting_t *g, uint32_t *count,
			   uint32_t *bytes)
{
	int64_t v;

	if (cfg_read_int(ld, g, "store_count", false, 1, 1000000, &v) == 0)
		*count = (uint32_t)v;
	if (cfg_read_int(ld, g, "store_bytes", false, 1024, 64 * 1024 * 1024, &v) == 0)
		*bytes = (uint32_t)v;
}

/* Groups whose every key belongs to the daemon. */
static void cfg_check_strict(struct cfg_loader *ld, config_setting_t *group,
			     const char *const *allowed)
{
	int i, n = config_setting_length(group);

	for (i = 0; i < n; i++) {
		config_setting_t *m = config_setting_get_elem(group, (unsigned)i);

		if (!cfg_in_list(allowed, config_setting_name(m)))
			cfg_err(ld, m, "unknown key '%s'", config_setting_name(m));
	}
}

/* A section that must be a list of groups; NULL when absent or wrong. */
static config_setting_t *cfg_section(struct cfg_loader *ld, const char *key, bool required,
				     const char *what)
{
	config_setting_t *root = config_root_setting(&ld->cfg->lc);
	config_setting_t *s = cfg_get(root, key);
	char expected[64];

	if (!s) {
		if (required)
			cfg_err(ld, NULL, "missing required key '%s'", key);
		return NULL;
	}
	snprintf(expected, sizeof(expected), "a list of %s groups", what);
	/* "()" and "[]" both parse; accept the empty array as an empty list. */
	if (config_setting_is_array(s) && config_setting_length(s) == 0)
		return s;
	if (!config_setting_is_list(s)) {
		cfg_err_type(ld, s, expected);
		return NULL;
	}
	return s;
}

/* The i-th element of a section when it is a group, else an error. */
static config_setting_t *cfg_section_group(struct cfg_loader *ld, config_setting_t *list, int i)
{
	config_setting_t *g = config_setting_get_elem(list, (unsigned)i);

	if (!config_setting_is_group(g)) {
		cfg_err_type(ld, g, "a group");
		return NULL;
	}
	cfg_mark(g);
	return g;
}

/* A section's array of n structs of size each, calloc'd (NULL when the
 * section is absent, empty or not a list: required ones say so).  *list and
 * *n tell what to walk. */
static void *cfg_section_alloc(struct cfg_loader *ld, const char *key, bool required,
			       const char *what, size_t size, config_setting_t **list, int *n)
{
	void *arr;

	*n = 0;
	*list = cfg_section(ld, key, required, what);
	if (!*list)
		return NULL;
	*n = config_setting_length(*list);
	if (*n == 0) {
		if (required)
			cfg_err(ld, *list, "expected at least one %s, found an empty list", what);
		return NULL;
	}
	arr = calloc((size_t)*n, size);
	if (!arr) {
		ld->err = -ENOMEM;
		*n = 0;
	}
	return arr;
}

/* The required name of the i-th group g of a section, unique in it: a
 * repeat names the earlier group.  -EEXIST for a repeat. */
static int cfg_read_unique_name(struct cfg_loader *ld, config_setting_t *list, int i,
				config_setting_t *g, const char *what, const char **out)
{
	if (cfg_read_name(ld, g, "name", true, out) < 0)
		return -EINVAL;
	for (int j = 0; j < i; j++) {
		config_setting_t *e = config_setting_get_elem(list, (unsigned)j);
		config_setting_t *nm =
		    config_setting_is_group(e) ? config_setting_get_member(e, "name") : NULL;
		char *first;

		if (!nm || config_setting_type(nm) != CONFIG_TYPE_STRING ||
		    strcmp(config_setting_get_string(nm), *out) != 0)
			continue;
		first = cfg_setting_path(e);
		cfg_err(ld, cfg_get(g, "name"), "duplicate %s name \"%s\", first defined at %s", what,
			*out, first ? first : "?");
		free(first);
		return -EEXIST;
	}
	return 0;
}

/* ---- value checks ------------------------------------------------------- */

/* "/oid/iid/rid", each id a decimal 0..65534. */
static int cfg_parse_path(const char *s, uint16_t *oid, uint16_t *iid, uint16_t *rid)
{
	uint16_t *ids[3] = {oid, iid, rid};
	int i;

	for (i = 0; i < 3; i++) {
		unsigned long v = 0;
		int digits = 0;

		if (*s++ != '/')
			return -EINVAL;
		while (isdigit((unsigned char)*s)) {
			if (++digits > 5)
				return -EINVAL;
			v = v * 10 + (unsigned long)(*s++ - '0');
		}
		if (!digits || v > CFG_MAX_ID)
			return -EINVAL;
		*ids[i] = (uint16_t)v;
	}
	return *s ? -EINVAL : 0;
}

/* coap://host[:port][/...] or coaps://...; host may be [IPv6]. */
static bool cfg_valid_uri(const char *s)
{
	const char *host, *end;

	if (strncmp(s, "coap://", 7) == 0)
		host = s + 7;
	else if (strncmp(s, "coaps://", 8) == 0)
		host = s + 8;
	else
		return false;
	if (*host == '[') {
		end = strchr(host, ']');
		if (!end || end == host + 1)
			return false;
		end++;
	} else {
		end = host + strcspn(host, ":/?#");
		if (end == host)
			return false;
	}
	for (const char *c = host; c < end; c++)
		if (isspace((unsigned char)*c) || iscntrl((unsigned char)*c))
			return false;
	if (*end == ':') {
		unsigned long port = 0;
		const char *p = end + 1;

		if (!isdigit((unsigned char)*p))
			return false;
		while (isdigit((unsigned char)*p)) {
			port = port * 10 + (unsigned long)(*p++ - '0');
			if (port > 65535)
				return false;
		}
		if (port == 0)
			return false;
		end = p;
	}
	return *end == '\0' || *end == '/';
}

/* Binding letters from "UQSTN", each at most once. */
static bool cfg_valid_binding(const char *s)
{
	const char *c;

	if (!*s)
		return false;
	for (c = s; *c; c++)
		if (!strchr("UQSTN", *c) || strchr(c + 1, *c))
			return false;
	return true;
}

static bool cfg_valid_pattern(const char *s)
{
	for (; *s; s++) {
		if (*s != '%')
			continue;
		s++;
		if (*s != 'g' && *s != 'd' && *s != '%')
			return false;
	}
	return true;
}

static char *cfg_expand_pattern(const char *pattern, const char *gw, const char *dev)
{
	size_t len = 1;
	const char *p;
	char *out, *o;

	for (p = pattern; *p; p++) {
		if (*p == '%' && p[1]) {
			p++;
			len += *p == 'g' ? strlen(gw) : *p == 'd' ? strlen(dev) : 1;
		} else {
			len++;
		}
	}
	out = malloc(len);
	if (!out)
		return NULL;
	for (p = pattern, o = out; *p; p++) {
		if (*p == '%' && p[1]) {
			p++;
			if (*p == 'g')
				o = stpcpy(o, gw);
			else if (*p == 'd')
				o = stpcpy(o, dev);
			else
				*o++ = *p;
		} else {
			*o++ = *p;
		}
	}
	*o = '\0';
	return out;
}

/* Endpoint names go into CoAP URIs and logs: no spaces or control bytes. */
static bool cfg_valid_endpoint(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (isspace((unsigned char)*s) || iscntrl((unsigned char)*s))
			return false;
	return true;
}

int cfg_parse_log_level(const char *s)
{
	static const struct {
		const char *name;
		int level;
	} levels[] = {
		{"err", LOG_ERR},   {"warning", LOG_WARNING}, {"notice", LOG_NOTICE},
		{"info", LOG_INFO}, {"debug", LOG_DEBUG},
	};
	size_t i;

	if (!s)
		return -EINVAL;
	for (i = 0; i < sizeof(levels) / sizeof(levels[0]); i++)
		if (strcmp(s, levels[i].name) == 0)
			return levels[i].level;
	return -EINVAL;
}

/* ---- sections ----------------------------------------------------------- */

/* systemd's StateDirectory= hands the service its directory in $STATE_DIRECTORY, so each
 * instance of gatewayd@.service gets its own without a line in its file.  Only a single
 * absolute path is taken (systemd joins several with ':'). */
static const char *cfg_default_state_dir(void)
{
	const char *env = getenv("STATE_DIRECTORY");

	if (env && env[0] == '/' && !strchr(env, ':'))
		return env;
	return LOCALSTATEDIR "/lib/gatewayd";
}

/* The same for RuntimeDirectory= ($RUNTIME_DIRECTORY): each instance's
 * control socket goes in its own runtime directory. */
static const char *cfg_default_control_socket(void)
{
	static char path[108]; /* sun_path */
	const char *env = getenv("RUNTIME_DIRECTORY");

	if (env && env[0] == '/' && !strchr(env, ':') &&
	    (size_t)snprintf(path, sizeof(path), "%s/gatewayd.sock", env) < sizeof(path))
		return path;
	return CFG_DEFAULT_CONTROL_SOCKET;
}

/* control_mode: "0660", octal permission bits of the socket file. */
static void cfg_read_control_mode(struct cfg_loader *ld, config_setting_t *g)
{
	config_setting_t *m = cfg_get(g, "control_mode");
	const char *s;
	char *end;
	long v;

	if (!m)
		return;
	s = config_setting_type(m) == CONFIG_TYPE_STRING ? config_setting_get_string(m) : NULL;
	if (s && *s) {
		errno = 0;
		v = strtol(s, &end, 8);
		if (!*end && !errno && v >= 0 && v <= 0777) {
			ld->cfg->gateway.control_mode = (uint32_t)v;
			return;
		}
	}
	cfg_err_type(ld, m, "a string of octal permission bits 0..0777, such as \"0660\"");
}

/* control_group: a group name or number; looked up now, so that -t and a
 * reload report a group that does not exist. */
static void cfg_read_control_group(struct cfg_loader *ld, config_setting_t *g)
{
	struct cfg_gateway *gw = &ld->cfg->gateway;
	const char *s;
	char *end;
	struct group *gr;
	unsigned long v;

	if (cfg_read_string(ld, g, "control_group", false, &s) != 0)
		return;
	errno = 0;
	v = *s ? strtoul(s, &end, 10) : 0;
	if (*s && !*end && !errno && v < (gid_t)-1) {
		gw->control_gid = (gid_t)v;
		gw->has_control_group = true;
		return;
	}
	gr = *s ? getgrnam(s) : NULL;
	if (!gr) {
		cfg_err(ld, cfg_get(g, "control_group"), "no such group \"%s\"", s);
		return;
	}
	gw->control_gid = gr->gr_gid;
	gw->has_control_group = true;
}

static void cfg_gateway_defaults(struct cfg_loader *ld)
{
	struct cfg_gateway *gw = &ld->cfg->gateway;

	gw->endpoint_pattern = CFG_DEFAULT_PATTERN;
	gw->state_dir = cfg_default_state_dir();
	gw->adapter_dir = ADAPTERDIR;
	gw->models_dir = CFG_DEFAULT_MODELS_DIR;
	gw->log_level = LOG_INFO;
	gw->control_socket = cfg_default_control_socket();
	gw->control_mode = CFG_DEFAULT_CONTROL_MODE;
	gw->operation_timeout_ms = CFG_DEFAULT_OPERATION_TIMEOUT_MS;
	gw->firmware_give_up_ms = CFG_DEFAULT_FIRMWARE_GIVE_UP_MS;
	ld->pattern = CFG_DEFAULT_PATTERN;
}

static void cfg_load_gateway(struct cfg_loader *ld)
{
	struct cfg_gateway *gw = &ld->cfg->gateway;
	config_setting_t *root = config_root_setting(&ld->cfg->lc);
	config_setting_t *g = cfg_get(root, "gateway");
	const char *s = NULL;
	char host[256];

	if (g && !config_setting_is_group(g)) {
		cfg_err_type(ld, g, "a group");
		g = NULL;
	}
	if (g)
		cfg_check_strict(ld, g, cfg_gateway_keys);

	/* The name is always a copy: the host name default has no other owner. */
	if (g && cfg_read_name(ld, g, "name", false, &s) == 0) {
		gw->name = strdup(s);
	} else {
		if (gethostname(host, sizeof(host)) < 0 || !host[0])
			snprintf(host, sizeof(host), "localhost");
		host[sizeof(host) - 1] = '\0';
		gw->name = strdup(host);
	}
	if (!gw->name)
		ld->err = -ENOMEM;
	if (!g)
		return;

	if (cfg_read_string(ld, g, "endpoint_pattern", false, &s) == 0) {
		if (cfg_valid_pattern(s) && *s) {
			gw->endpoint_pattern = s;
			ld->pattern = s;
		} else {
			cfg_err_type(ld, cfg_get(g, "endpoint_pattern"),
				     "a pattern of text, %g, %d and %%");
		}
	}
	if (cfg_read_string(ld, g, "state_dir", false, &s) == 0) {
		if (s[0] == '/')
			gw->state_dir = s;
		else
			cfg_err_type(ld, cfg_get(g, "state_dir"), "an absolute path");
	}
	if (cfg_read_string(ld, g, "adapter_dir", false, &s) == 0) {
		if (s[0] == '/')
			gw->adapter_dir = s;
		else
			cfg_err_type(ld, cfg_get(g, "adapter_dir"), "an absolute path");
	}
	if (cfg_read_string(ld, g, "models_dir", false, &s) == 0) {
		if (s[0] == '/')
			gw->models_dir = s;
		else
			cfg_err_type(ld, cfg_get(g, "models_dir"), "an absolute path");
	}
	if (cfg_read_string(ld, g, "log_level", false, &s) == 0) {
		int level = cfg_parse_log_level(s);

		if (level >= 0)
			gw->log_level = level;
		else
			cfg_err_type(ld, cfg_get(g, "log_level"),
				     "one of err, warning, notice, info, debug");
	}
	/* Registrations per second at start-up; 0 (the default) starts every
	 * device at once. */
	{
		int64_t v;
		if (cfg_read_int(ld, g, "registration_rate", false, 0, 1000000, &v) == 0)
			gw->registration_rate = (uint32_t)v;
	}
	cfg_read_store(ld, g, &gw->store_count, &gw->store_bytes);
	/* The control socket: an absolute path, or "" for none. */
	if (cfg_read_string(ld, g, "control_socket", false, &s) == 0) {
		struct sockaddr_un sa;

		if (*s && s[0] != '/')
			cfg_err_type(ld, cfg_get(g, "control_socket"), "an absolute path or \"\"");
		else if (strlen(s) >= sizeof(sa.sun_path))
			cfg_err(ld, cfg_get(g, "control_socket"), "path longer than %zu bytes",
				sizeof(sa.sun_path) - 1);
		else
			gw->control_socket = s;
	}
	cfg_read_control_mode(ld, g);
	cfg_read_control_group(ld, g);
	/* How long a server's Write or Execute may wait for a device. */
	{
		config_setting_t *ot = cfg_get(g, "operation_timeout");
		double v;
		if (ot && (!cfg_number(ot, &v) || !isfinite(v) || v < 1.0 || v > 3600.0))
			cfg_err_type(ld, ot, "a number of seconds 1..3600");
		else if (ot)
			gw->operation_timeout_ms = (uint32_t)llround(v * 1000.0);
	}
	/* The most one Write's body may hold (0 here: the engine's default);
	 * up to what a Read can give back whole. */
	{
		int64_t v;
		if (cfg_read_int(ld, g, "max_write_body", false, 1024, 131072, &v) == 0)
			gw->max_write_body = (uint32_t)v;
		if (cfg_read_int(ld, g, "max_observations", false, 1, 65536, &v) == 0)
			gw->max_observations = (uint32_t)v;
		/* The largest firmware package a device's Object 5 takes. */
		if (cfg_read_int(ld, g, "firmware_max_size", false, 1024, INT64_MAX, &v) == 0)
			gw->firmware_max_size = (uint64_t)v;
	}
	/* Pulling firmware packages: whom https:// servers must be certified
	 * by, and how long a download may go without a byte. */
	if (cfg_read_string(ld, g, "firmware_ca_file", false, &s) == 0) {
		if (s[0] == '/')
			gw->firmware_ca_file = s;
		else
			cfg_err_type(ld, cfg_get(g, "firmware_ca_file"), "an absolute path");
	}
	{
		config_setting_t *gu = cfg_get(g, "firmware_give_up");
		double v;
		if (gu && (!cfg_number(gu, &v) || !isfinite(v) || v < 1.0 || v > 86400.0))
			cfg_err_type(ld, gu, "a number of seconds 1..86400");
		else if (gu)
			gw->firmware_give_up_ms = (uint32_t)llround(v * 1000.0);
	}
}

/* NoSec only when said so: coaps:// needs a mode, coap:// can have none. */
static void cfg_load_server_security(struct cfg_loader *ld, config_setting_t *g,
				     struct cfg_server *sv)
{
	bool secure = sv->uri && strncmp(sv->uri, "coaps://", 8) == 0;
	const char *str;
	int r = cfg_read_string(ld, g, "security", false, &str);

	if (r == -ENOENT) {
		if (secure)
			cfg_err(ld, cfg_get(g, "uri"),
				"a coaps:// server needs security = \"psk\", \"rpk\" or \"x509\"");
		else
			sv->security = "nosec";
		return;
	}
	if (r < 0)
		return;
	r = lwm_security_mode_parse(str);
	if (r < 0) {
		cfg_err_type(ld, cfg_get(g, "security"),
			     "\"nosec\", \"psk\", \"rpk\" or \"x509\"");
		return;
	}
	if (sv->uri && secure != (r != LWM_SEC_NOSEC)) {
		cfg_err(ld, cfg_get(g, "security"), "expected %s with a %s server, found \"%s\"",
			secure ? "\"psk\", \"rpk\" or \"x509\"" : "\"nosec\"",
			secure ? "coaps://" : "coap://", str);
		return;
	}
	if (!lwm_security_mode_supported((enum lwm_sec_mode)r)) {
		cfg_err(ld, cfg_get(g, "security"),
			"security \"%s\" is not supported by this libcoap's DTLS library", str);
		return;
	}
	sv->security = str;
}

/* The registration sequence keys (TS Core 1.1 6.2.1.1), each checked for
 * its range; the defaults are the gateway's (lwm2m/client.c says why). */
static void cfg_load_server_sequence(struct cfg_loader *ld, config_setting_t *g,
				     struct cfg_server *sv)
{
	struct lwm_reg_policy d;
	int64_t v;

	lwm_reg_policy_defaults(&d);
	sv->initial_delay = d.initial_delay_s;
	sv->failure_block = d.failure_block;
	sv->bootstrap_on_failure = d.bootstrap_on_failure;
	sv->retry_count = d.retry_count;
	sv->retry_timer = d.retry_timer_s;
	sv->sequence_delay = d.sequence_delay_s;
	sv->sequence_retry_count = d.sequence_retries;
	if (cfg_read_int(ld, g, "priority_order", false, 0, UINT32_MAX, &v) == 0) {
		sv->has_priority = true;
		sv->priority_order = (uint32_t)v;
	}
	if (cfg_read_int(ld, g, "initial_delay", false, 0, 86400, &v) == 0)
		sv->initial_delay = (uint32_t)v;
	cfg_read_bool(ld, g, "failure_block", &sv->failure_block);
	cfg_read_bool(ld, g, "bootstrap_on_failure", &sv->bootstrap_on_failure);
	if (cfg_read_int(ld, g, "retry_count", false, 1, 1000, &v) == 0)
		sv->retry_count = (uint32_t)v;
	if (cfg_read_int(ld, g, "retry_timer", false, 1, 86400, &v) == 0)
		sv->retry_timer = (uint32_t)v;
	if (cfg_read_int(ld, g, "sequence_delay", false, 1, 86400, &v) == 0)
		sv->sequence_delay = (uint32_t)v;
	/* 0: forever, the gateway's default. */
	if (cfg_read_int(ld, g, "sequence_retry_count", false, 0, 1000000, &v) == 0)
		sv->sequence_retry_count = v ? (uint32_t)v : LWM_REG_FOREVER;
}

static void cfg_load_servers(struct cfg_loader *ld)
{
	struct cfg *cfg = ld->cfg;
	config_setting_t *list;
	int i, n;

	cfg->servers = cfg_section_alloc(ld, "servers", true, "server", sizeof(*cfg->servers), &list,
					 &n);
	if (!cfg->servers)
		n = 0;
	for (i = 0; i < n; i++) {
		config_setting_t *g = cfg_section_group(ld, list, i);
		struct cfg_server sv = {
			.lifetime = 300,
			.version = "1.1",
			.binding = "U",
			.short_id = (uint16_t)(i + 1 <= CFG_MAX_ID ? i + 1 : CFG_MAX_ID),
			.notification_storing = true,
			.max_retransmit = -1,
		};
		config_setting_t *s;
		const char *str;
		int64_t v;
		bool keep = true;
		size_t j;

		if (!g)
			continue;
		sv.setting = g;
		cfg_check_strict(ld, g, cfg_server_keys);
		if (cfg_read_unique_name(ld, list, i, g, "server", &sv.name) < 0)
			keep = false;
		if (cfg_read_string(ld, g, "uri", true, &str) == 0) {
			if (cfg_valid_uri(str))
				sv.uri = str;
			else
				cfg_err_type(ld, cfg_get(g, "uri"),
					     "coap://host[:port] or coaps://host[:port]");
		}
		if (cfg_read_int(ld, g, "lifetime", false, 1, INT32_MAX, &v) == 0)
			sv.lifetime = (uint32_t)v;
		if (cfg_read_string(ld, g, "version", false, &str) == 0) {
			if (strcmp(str, "1.0") == 0 || strcmp(str, "1.1") == 0 ||
			    strcmp(str, "1.2") == 0)
				sv.version = str;
			else
				cfg_err_type(ld, cfg_get(g, "version"),
					     "\"1.0\", \"1.1\" or \"1.2\"");
		}
		if (cfg_read_string(ld, g, "binding", false, &str) == 0) {
			if (cfg_valid_binding(str))
				sv.binding = str;
			else
				cfg_err_type(ld, cfg_get(g, "binding"),
					     "a binding of the letters U, Q, S, T, N");
		}
		if (cfg_read_int(ld, g, "short_id", false, 1, CFG_MAX_ID, &v) == 0)
			sv.short_id = (uint16_t)v;
		cfg_load_server_security(ld, g, &sv);
		cfg_load_server_sequence(ld, g, &sv);
		cfg_read_bool(ld, g, "notification_storing", &sv.notification_storing);
		cfg_read_bool(ld, g, "mute_send", &sv.mute_send);
		cfg_read_store(ld, g, &sv.store_count, &sv.store_bytes);
		s = cfg_get(g, "ack_timeout");
		if (s) {
			double d;
			/* libcoap ignores ACK timeouts below one second. */
			if (!cfg_number(s, &d) || !isfinite(d) || d < 1.0 || d > 60.0)
				cfg_err_type(ld, s, "a number of seconds 1..60");
			else
				sv.ack_timeout_ms = (uint32_t)llround(d * 1000.0);
		}
		if (cfg_read_int(ld, g, "max_retransmit", false, 0, 20, &v) == 0)
			sv.max_retransmit = (int)v;
		s = cfg_get(g, "bootstrap");
		if (s && config_setting_type(s) != CONFIG_TYPE_BOOL)
			cfg_err_type(ld, s, "true or false");
		else if (s)
			sv.bootstrap = config_setting_get_bool(s);
		/* How long a bootstrap server may stay silent before its
		 * Bootstrap-Finish. */
		if (cfg_read_int(ld, g, "finish_timeout", false, 1, 86400, &v) == 0) {
			if (sv.bootstrap)
				sv.finish_timeout_s = (uint32_t)v;
			else
				cfg_err(ld, cfg_get(g, "finish_timeout"),
					"finish_timeout is for a bootstrap server (bootstrap = true)");
		}
		/* A bootstrap server has no Short Server ID of its own. */
		for (j = 0; keep && !sv.bootstrap && j < cfg->n_servers; j++) {
			if (cfg->servers[j].bootstrap)
				continue;
			if (cfg->servers[j].short_id == sv.short_id) {
				char *first = cfg_setting_path(cfg->servers[j].setting);

				s = cfg_get(g, "short_id");
				cfg_err(ld, s ? s : g, "duplicate short_id %u, first used by %s",
					(unsigned)sv.short_id, first ? first : "?");
				free(first);
			}
		}
		if (keep)
			cfg->servers[cfg->n_servers++] = sv;
	}
}

static void cfg_load_buses(struct cfg_loader *ld)
{
	struct cfg *cfg = ld->cfg;
	config_setting_t *list;
	int i, n;

	cfg->buses = cfg_section_alloc(ld, "buses", false, "bus", sizeof(*cfg->buses), &list, &n);
	if (!cfg->buses)
		n = 0;
	for (i = 0; i < n; i++) {
		config_setting_t *g = cfg_section_group(ld, list, i);
		struct cfg_bus b = {0};
		bool keep = true;

		if (!g)
			continue;
		if (cfg_read_unique_name(ld, list, i, g, "bus", &b.name) < 0)
			keep = false;
		if (cfg_read_name(ld, g, "adapter", true, &b.adapter) < 0)
			keep = false;
		b.node = (struct gwd_cfg){
			.cfg = cfg, .own = g, .fallback = NULL, .reserved = cfg_bus_reserved,
		};
		if (keep)
			cfg->buses[cfg->n_buses++] = b;
	}
}

/* Parse a points list into a fresh array (NULL when empty).  Bad points are
 * reported and left out. */
static void cfg_load_points(struct cfg_loader *ld, config_setting_t *list, struct cfg_point **out,
			    size_t *n_out)
{
	struct cfg_point *pts;
	size_t np = 0;
	int i, n;

	*out = NULL;
	*n_out = 0;
	if (config_setting_is_array(list) && config_setting_length(list) == 0)
		return;
	if (!config_setting_is_list(list)) {
		cfg_err_type(ld, list, "a list of point groups");
		return;
	}
	n = config_setting_length(list);
	if (n == 0)
		return;
	pts = calloc((size_t)n, sizeof(*pts));
	if (!pts) {
		ld->err = -ENOMEM;
		return;
	}
	for (i = 0; i < n; i++) {
		config_setting_t *g = cfg_section_group(ld, list, i);
		struct cfg_point p = {.scale = 1.0};
		config_setting_t *s, *smax = NULL;
		const char *str;
		double v;
		bool keep = true;
		size_t j;

		if (!g)
			continue;
		if (cfg_read_string(ld, g, "channel", true, &p.channel) < 0) {
			keep = false;
		} else if (!*p.channel) {
			cfg_err_type(ld, cfg_get(g, "channel"), "a channel name");
			keep = false;
		}
		if (cfg_read_string(ld, g, "path", true, &str) < 0) {
			keep = false;
		} else if (cfg_parse_path(str, &p.oid, &p.iid, &p.rid) < 0) {
			cfg_err_type(ld, cfg_get(g, "path"), "/oid/iid/rid with ids 0..65534");
			keep = false;
		} else {
			for (j = 0; j < np; j++) {
				if (pts[j].oid == p.oid && pts[j].iid == p.iid && pts[j].rid == p.rid) {
					char *first = cfg_setting_path(pts[j].node.own);

					cfg_err(ld, cfg_get(g, "path"),
						"duplicate path \"%s\", also used by %s", str,
						first ? first : "?");
					free(first);
					keep = false;
					break;
				}
			}
		}
		s = cfg_get(g, "scale");
		if (s && (!cfg_number(s, &v) || !isfinite(v) || v == 0.0)) {
			cfg_err_type(ld, s, "a finite non-zero number");
			keep = false;
		} else if (s) {
			p.scale = v;
		}
		if (cfg_read_double(ld, g, "offset", false, "a number", &v, NULL) == 0)
			p.offset = v;
		else if (cfg_get(g, "offset"))
			keep = false;
		if (cfg_read_double(ld, g, "min", false, "a number", &v, NULL) == 0) {
			p.min = v;
			p.has_min = true;
		} else if (cfg_get(g, "min")) {
			keep = false;
		}
		if (cfg_read_double(ld, g, "max", false, "a number", &v, &smax) == 0) {
			p.max = v;
			p.has_max = true;
		} else if (cfg_get(g, "max")) {
			keep = false;
		}
		if (p.has_min && p.has_max && p.min > p.max) {
			char expected[64];

			snprintf(expected, sizeof(expected), "a number >= min (%g)", p.min);
			cfg_err_type(ld, smax, expected);
			keep = false;
		}
		s = cfg_get(g, "poll");
		if (s) {
			if (!cfg_number(s, &v) || !isfinite(v) || v < 0.0 || v > CFG_MAX_POLL_S) {
				cfg_err_type(ld, s, "a number of seconds 0..4294967");
				keep = false;
			} else {
				p.poll_ms = (uint32_t)llround(v * 1000.0);
			}
		}
		if (cfg_read_string(ld, g, "units", false, &p.units) < 0 && cfg_get(g, "units"))
			keep = false;
		if (cfg_read_period(ld, g, "send_period", &p.send_period_ms) == 0)
			p.has_send_period = true;
		else if (cfg_get(g, "send_period"))
			keep = false;
		if (cfg_read_bool(ld, g, "send_on_change", &p.send_on_change) == 0)
			p.has_send_on_change = true;
		else if (cfg_get(g, "send_on_change"))
			keep = false;
		if (!cfg_read_stale(ld, g, &p.stale))
			keep = false;
		p.node = (struct gwd_cfg){
			.cfg = ld->cfg, .own = g, .fallback = NULL, .reserved = cfg_point_reserved,
		};
		if (keep)
			pts[np++] = p;
	}
	if (!np) {
		free(pts);
		return;
	}
	*out = pts;
	*n_out = np;
}

static void cfg_load_profiles(struct cfg_loader *ld)
{
	struct cfg *cfg = ld->cfg;
	config_setting_t *list;
	int i, n;

	cfg->profiles = cfg_section_alloc(ld, "profiles", false, "profile", sizeof(*cfg->profiles),
					  &list, &n);
	if (!cfg->profiles)
		n = 0;
	for (i = 0; i < n; i++) {
		config_setting_t *g = cfg_section_group(ld, list, i);
		struct cfg_profile pr = {0};
		config_setting_t *pl;
		const char *str;
		bool keep = true;
		size_t j;

		if (!g)
			continue;
		pr.setting = g;
		if (cfg_read_unique_name(ld, list, i, g, "profile", &pr.name) < 0)
			keep = false;
		cfg_read_name(ld, g, "adapter", true, &str);
		for (j = 0; j < sizeof(cfg_identity_keys) / sizeof(cfg_identity_keys[0]); j++)
			cfg_read_string(ld, g, cfg_identity_keys[j], false, &str);
		/* Check the points now even if no device uses them; devices that
		 * do parse them again and repeats are dropped. */
		pl = cfg_get(g, "points");
		if (pl) {
			struct cfg_point *pts;
			size_t np;

			cfg_load_points(ld, pl, &pts, &np);
			free(pts);
		}
		if (keep)
			cfg->profiles[cfg->n_profiles++] = pr;
	}
}

static const struct cfg_server *cfg_find_server(const struct cfg *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->n_servers; i++)
		if (strcmp(cfg->servers[i].name, name) == 0)
			return &cfg->servers[i];
	return NULL;
}

/* The device's server list: named ones, or all of them by default. */
static void cfg_load_device_servers(struct cfg_loader *ld, config_setting_t *g,
				    struct cfg_device *d)
{
	struct cfg *cfg = ld->cfg;
	config_setting_t *s = cfg_get(g, "servers");
	int i, n;

	if (!s) {
		size_t n_bs = 0;
		if (!cfg->n_servers)
			return;
		d->servers = calloc(cfg->n_servers, sizeof(*d->servers));
		if (!d->servers) {
			ld->err = -ENOMEM;
			return;
		}
		/* Default: every management server; the bootstrap server only
		 * when there is nothing else. */
		for (size_t j = 0; j < cfg->n_servers; j++) {
			if (!cfg->servers[j].bootstrap)
				d->servers[d->n_servers++] = &cfg->servers[j];
			else
				n_bs++;
		}
		if (d->n_servers == 0 && n_bs > 1)
			cfg_err(ld, g, "%zu bootstrap servers and no servers list: "
				"name the device's one bootstrap server in servers", n_bs);
		else if (d->n_servers == 0)
			for (size_t j = 0; j < cfg->n_servers; j++)
				if (cfg->servers[j].bootstrap)
					d->bootstrap = &cfg->servers[j];
		return;
	}
	if (!config_setting_is_array(s) && !config_setting_is_list(s)) {
		cfg_err_type(ld, s, "a list of server names");
		return;
	}
	n = config_setting_length(s);
	if (n == 0) {
		cfg_err(ld, s, "expected at least one server name, found none");
		return;
	}
	d->servers = calloc((size_t)n, sizeof(*d->servers));
	if (!d->servers) {
		ld->err = -ENOMEM;
		return;
	}
	for (i = 0; i < n; i++) {
		config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
		const struct cfg_server *sv;
		bool dup = false;

		if (config_setting_type(e) != CONFIG_TYPE_STRING) {
			cfg_err_type(ld, e, "a server name");
			continue;
		}
		sv = cfg_find_server(cfg, config_setting_get_string(e));
		if (!sv) {
			cfg_err_type(ld, e, "the name of a defined server");
			continue;
		}
		for (size_t j = 0; j < d->n_servers; j++)
			dup = dup || d->servers[j] == sv;
		if (dup || (d->bootstrap && d->bootstrap == sv)) {
			cfg_err(ld, e, "duplicate server \"%s\"", sv->name);
			continue;
		}
		if (sv->bootstrap && d->bootstrap) {
			cfg_err(ld, e, "a second bootstrap server \"%s\"; a device has at most one "
				"(\"%s\")", sv->name, d->bootstrap->name);
			continue;
		}
		if (sv->bootstrap)
			d->bootstrap = sv;
		else
			d->servers[d->n_servers++] = sv;
	}
	/* The bootstrap server provides the management servers. */
	if (d->bootstrap && d->n_servers)
		cfg_err(ld, s, "a device with a bootstrap server (\"%s\") gets its servers from it; "
			"expected no other server, found \"%s\"", d->bootstrap->name,
			d->servers[0]->name);
}

static void cfg_device_clear(struct cfg_device *d)
{
	for (size_t i = 0; i < d->n_access; i++)
		free(d->access[i].objects);
	free(d->access);
	free(d->server_credentials);
	free((char *)d->endpoint);
	free((void *)d->servers);
	free(d->points);
}

/* Device identity: the device's own value, else its profile's. */
static const char *cfg_identity(struct cfg_loader *ld, config_setting_t *g,
				const struct cfg_profile *pr, const char *key)
{
	const char *s = NULL;
	int r = cfg_read_string(ld, g, key, false, &s);

	if (r == 0)
		return s;
	if (r == -ENOENT && pr && cfg_read_string(ld, pr->setting, key, false, &s) == 0)
		return s;
	return NULL;
}

/* The setting of a credential key: the device's, else its profile's. */
static config_setting_t *cfg_credential_setting(config_setting_t *g, const struct cfg_profile *pr,
						const char *key)
{
	config_setting_t *s = config_setting_get_member(g, key);

	if (!s && pr)
		s = config_setting_get_member(pr->setting, key);
	return s ? s : g;
}

/* A key written into a config file is as secret as a key file, and held to
 * the same rule (lwm2m/security.c): a file group or others may read or
 * write is refused, not used, so that the mistake gets fixed. */
static void cfg_check_inline_secret(struct cfg_loader *ld, const config_setting_t *s)
{
	char *file = cfg_source_file(ld->cfg, config_setting_source_file(s));
	struct stat st;

	if (!file) {
		ld->err = -ENOMEM;
		return;
	}
	if (stat(file, &st) == 0 && (st.st_mode & 077))
		cfg_err(ld, s, "a key in a file group or others can read or write (mode %04o): "
			"chmod 600 %s, or move the key to a psk_file",
			(unsigned)(st.st_mode & 07777), file);
	free(file);
}

/* Read one set of credential keys from g (and, when pr is set, its
 * profile's as the fallback). */
static void cfg_read_credentials(struct cfg_loader *ld, config_setting_t *g,
				 const struct cfg_profile *pr, struct cfg_credentials *cr)
{
	const char **fields[] = {
		&cr->psk_identity, &cr->psk_key, &cr->psk_file, &cr->certificate,
		&cr->private_key, &cr->public_key, &cr->server_public_key, &cr->ca_file,
		&cr->server_certificate, &cr->sni,
	};

	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
		*fields[i] = cfg_identity(ld, g, pr, cfg_credential_keys[i]);
	if (cr->psk_key)
		cfg_check_inline_secret(ld, cfg_credential_setting(g, pr, "psk_key"));
}

struct lwm_security_params cfg_security_params(const struct cfg_server *srv,
					      const struct cfg_credentials *cr)
{
	int mode = lwm_security_mode_parse(srv->security ? srv->security : "nosec");

	return (struct lwm_security_params){
		.mode = mode < 0 ? LWM_SEC_NOSEC : (enum lwm_sec_mode)mode,
		.psk_identity = cr->psk_identity,
		.psk_key = cr->psk_key,
		.psk_file = cr->psk_file,
		.certificate = cr->certificate,
		.private_key = cr->private_key,
		.public_key = cr->public_key,
		.server_public_key = cr->server_public_key,
		.ca_file = cr->ca_file,
		.server_certificate = cr->server_certificate,
		.sni = cr->sni,
	};
}

/* Check credentials against a server's security mode now, files included,
 * so that gatewayd -t finds a missing or world-readable key file.  The
 * error names the key's own line: in g (or profile pr), else g itself. */
static void cfg_check_credentials(struct cfg_loader *ld, config_setting_t *g,
				  const struct cfg_profile *pr, const struct cfg_credentials *cr,
				  const struct cfg_server *srv)
{
	struct lwm_security_params p;
	struct lwm_security *sec = NULL;
	const char *key = NULL;
	char err[512];

	/* A bad security mode is reported at the server already. */
	if (!srv->security || lwm_security_mode_parse(srv->security) < 0)
		return;
	p = cfg_security_params(srv, cr);
	if (lwm_security_load(&p, &sec, &key, err, sizeof(err)) < 0)
		cfg_err(ld, key ? cfg_credential_setting(g, pr, key) : g, "%s (server \"%s\")", err,
			srv->name);
	lwm_security_free(sec);
}

static bool cfg_server_is_secure(const struct cfg_server *srv)
{
	int mode = srv->security ? lwm_security_mode_parse(srv->security) : LWM_SEC_NOSEC;

	return mode >= 0 && mode != LWM_SEC_NOSEC;
}

/* The device's credentials for each of its servers.  An entry of the
 * `credentials` list (device, else profile) names a server and gives all
 * the keys for it; a secure server without an entry uses the device-level
 * keys (the device's, else its profile's): the one-server form of older
 * configs, and the natural one for a device certificate every server
 * accepts. */
static void cfg_load_credentials(struct cfg_loader *ld, config_setting_t *g, struct cfg_device *d)
{
	struct cfg_credentials *cr = &d->credentials;
	config_setting_t *list = cfg_get(g, "credentials");
	config_setting_t **entry;
	bool any_secure = false;
	int n;

	cfg_read_credentials(ld, g, d->profile, cr);
	if (!list && d->profile) {
		list = cfg_get(d->profile->setting, "credentials");
	}
	/* Bootstrapping: the device-level keys are for the bootstrap server;
	 * the management servers' come from it. */
	if (d->bootstrap) {
		if (list)
			cfg_err(ld, list, "a device with a bootstrap server gets its servers' "
				"credentials from it; expected none, found a credentials list");
		cfg_check_credentials(ld, g, d->profile, cr, d->bootstrap);
		return;
	}
	if (d->n_servers == 0)
		return;
	d->server_credentials = calloc(d->n_servers, sizeof(*d->server_credentials));
	entry = calloc(d->n_servers, sizeof(*entry));
	if (!d->server_credentials || !entry) {
		free(entry);
		ld->err = -ENOMEM;
		return;
	}
	if (list && !config_setting_is_list(list)) {
		cfg_err_type(ld, list, "a list of groups ( { server = \"name\"; ... } )");
		list = NULL;
	}
	n = list ? config_setting_length(list) : 0;
	for (int i = 0; i < n; i++) {
		config_setting_t *e = config_setting_get_elem(list, (unsigned)i);
		const char *name = NULL;
		size_t j;

		if (!config_setting_is_group(e)) {
			cfg_err_type(ld, e, "a group { server = \"name\"; ... }");
			continue;
		}
		cfg_check_strict(ld, e, cfg_server_credential_keys);
		if (cfg_read_name(ld, e, "server", true, &name) < 0)
			continue;
		for (j = 0; j < d->n_servers; j++)
			if (strcmp(d->servers[j]->name, name) == 0)
				break;
		if (j == d->n_servers) {
			cfg_err_type(ld, cfg_get(e, "server"),
				     "the name of one of the device's servers");
			continue;
		}
		if (entry[j]) {
			cfg_err(ld, cfg_get(e, "server"), "duplicate credentials for server \"%s\"",
				name);
			continue;
		}
		entry[j] = e;
	}
	for (size_t j = 0; j < d->n_servers; j++) {
		const struct cfg_server *srv = d->servers[j];

		any_secure |= cfg_server_is_secure(srv);
		if (entry[j]) {
			cfg_read_credentials(ld, entry[j], NULL, &d->server_credentials[j]);
			cfg_check_credentials(ld, entry[j], NULL, &d->server_credentials[j], srv);
		} else if (cfg_server_is_secure(srv)) {
			d->server_credentials[j] = *cr;
			cfg_check_credentials(ld, g, d->profile, cr, srv);
		}
	}
	/* Device-level keys with no secure server to use them: say so as the
	 * one-server form always did (the mode does not use them). */
	if (!any_secure)
		cfg_check_credentials(ld, g, d->profile, cr, d->servers[0]);
	free(entry);
}

/* One access entry's object list; false after an error. */
static bool cfg_load_access_objects(struct cfg_loader *ld, config_setting_t *s,
				    struct cfg_access *a)
{
	int n;

	if (!config_setting_is_array(s) && !config_setting_is_list(s)) {
		cfg_err_type(ld, s, "a list of object ids");
		return false;
	}
	n = config_setting_length(s);
	if (n == 0) {
		cfg_err(ld, s, "expected at least one object id, found none");
		return false;
	}
	a->objects = calloc((size_t)n, sizeof(*a->objects));
	if (!a->objects) {
		ld->err = -ENOMEM;
		return false;
	}
	for (int i = 0; i < n; i++) {
		config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
		int64_t v;

		v = config_setting_type(e) == CONFIG_TYPE_INT ? config_setting_get_int(e) : -1;
		if (v >= 0 && v <= 2) {
			/* 0 is never a server's; 1 and 2 follow their own rules. */
			cfg_err(ld, e, "expected an object id 3..65534, found %lld%s", (long long)v,
				v == 0 ? " (the Security object is never accessible)"
				: v == 1 ? " (each server has its own Server instance)"
				: " (Access Control instances belong to their owner)");
			return false;
		}
		if (cfg_int_in_range(ld, e, 3, 65534, "an object id", &v) < 0)
			return false;
		for (size_t j = 0; j < a->n_objects; j++)
			if (a->objects[j] == v) {
				cfg_err(ld, e, "duplicate object %lld", (long long)v);
				return false;
			}
		a->objects[a->n_objects++] = (uint16_t)v;
	}
	return true;
}

static bool cfg_access_overlap(const struct cfg_access *a, const struct cfg_access *b,
			       uint16_t *oid)
{
	if (!a->n_objects || !b->n_objects) {
		*oid = a->n_objects ? a->objects[0] : b->n_objects ? b->objects[0] : 0;
		return true;
	}
	for (size_t i = 0; i < a->n_objects; i++)
		for (size_t j = 0; j < b->n_objects; j++)
			if (a->objects[i] == b->objects[j]) {
				*oid = a->objects[i];
				return true;
			}
	return false;
}

/* The device's access list (device, else profile): rights per server. */
static void cfg_load_access(struct cfg_loader *ld, config_setting_t *g, struct cfg_device *d)
{
	config_setting_t *list = cfg_get(g, "access");
	int n;

	if (!list && d->profile)
		list = cfg_get(d->profile->setting, "access");
	if (!list)
		return;
	if (!config_setting_is_list(list)) {
		cfg_err_type(ld, list, "a list of groups ( { server = \"name\"; rights = \"R\"; } )");
		return;
	}
	n = config_setting_length(list);
	d->access = calloc(n ? (size_t)n : 1, sizeof(*d->access));
	if (!d->access) {
		ld->err = -ENOMEM;
		return;
	}
	for (int i = 0; i < n; i++) {
		config_setting_t *e = config_setting_get_elem(list, (unsigned)i), *s;
		struct cfg_access a = {.setting = e};
		const char *str = NULL;
		bool ok = true;
		size_t j;

		if (!config_setting_is_group(e)) {
			cfg_err_type(ld, e, "a group { server = \"name\"; rights = \"R\"; }");
			continue;
		}
		cfg_check_strict(ld, e, cfg_access_keys);
		if (cfg_read_string(ld, e, "server", true, &str) < 0) {
			ok = false;
		} else if (strcmp(str, "*") != 0) {
			for (j = 0; j < d->n_servers; j++)
				if (strcmp(d->servers[j]->name, str) == 0)
					a.server = d->servers[j];
			if (!a.server) {
				cfg_err_type(ld, cfg_get(e, "server"),
					     "\"*\" or the name of one of the device's servers");
				ok = false;
			}
		}
		if (cfg_read_string(ld, e, "rights", true, &str) < 0) {
			ok = false;
		} else if (lwm_acl_parse(str, &a.rights) < 0) {
			cfg_err_type(ld, cfg_get(e, "rights"),
				     "letters of R, W, E, D and C, each at most once");
			ok = false;
		}
		s = cfg_get(e, "objects");
		if (s && !cfg_load_access_objects(ld, s, &a))
			ok = false;
		for (j = 0; ok && j < d->n_access; j++) {
			uint16_t oid;
			if (d->access[j].server == a.server &&
			    cfg_access_overlap(&d->access[j], &a, &oid)) {
				char *first = cfg_setting_path(d->access[j].setting);
				char what[32] = "all objects";
				if (oid)
					snprintf(what, sizeof(what), "object %u", oid);
				cfg_err(ld, e, "rights of server \"%s\" for %s given twice, first at %s",
					a.server ? a.server->name : "*", what, first ? first : "?");
				free(first);
				ok = false;
			}
		}
		if (ok)
			d->access[d->n_access++] = a;
		else
			free(a.objects);
	}
}

static void cfg_load_device(struct cfg_loader *ld, config_setting_t *g)
{
	struct cfg *cfg = ld->cfg;
	struct cfg_device d = {0};
	const char *str = NULL, *padapter = NULL;
	config_setting_t *s;
	bool keep = true, dup_name = false;
	long dup;
	size_t j;

	if (cfg_read_name(ld, g, "name", true, &d.name) < 0)
		keep = false;
	if (keep && (dup = cfg_device_find(ld, false, d.name)) >= 0) {
		char *first = cfg_setting_path(cfg->devices[dup].node.own);

		cfg_err(ld, cfg_get(g, "name"), "duplicate device name \"%s\", first defined at %s",
			d.name, first ? first : "?");
		free(first);
		keep = false;
		dup_name = true;
	}

	/* Adapter: from the device, its profile, or both when they agree. */
	if (cfg_read_name(ld, g, "profile", false, &str) == 0) {
		for (j = 0; j < cfg->n_profiles; j++)
			if (strcmp(cfg->profiles[j].name, str) == 0)
				d.profile = &cfg->profiles[j];
		if (!d.profile)
			cfg_err_type(ld, cfg_get(g, "profile"), "the name of a defined profile");
	}
	if (d.profile) {
		/* A bad adapter here was already reported at the profile. */
		s = config_setting_get_member(d.profile->setting, "adapter");
		if (s && config_setting_type(s) == CONFIG_TYPE_STRING &&
		    cfg_valid_name(config_setting_get_string(s)))
			padapter = config_setting_get_string(s);
	}
	switch (cfg_read_name(ld, g, "adapter", false, &str)) {
	case 0:
		d.adapter = str;
		if (padapter && strcmp(padapter, str) != 0) {
			char expected[128];

			snprintf(expected, sizeof(expected), "adapter \"%s\" (from profile \"%s\")",
				 padapter, d.profile->name);
			cfg_err_type(ld, cfg_get(g, "adapter"), expected);
			keep = false;
		}
		break;
	case -ENOENT:
		d.adapter = padapter;
		/* With a profile key, whatever went wrong is reported already. */
		if (!d.adapter && !cfg_get(g, "profile"))
			cfg_err(ld, g, "missing required key 'adapter' or 'profile'");
		break;
	default:
		break;
	}
	if (!d.adapter)
		keep = false;

	switch (cfg_read_string(ld, g, "endpoint", false, &str)) {
	case 0:
		if (!cfg_valid_endpoint(str)) {
			cfg_err_type(ld, cfg_get(g, "endpoint"),
				     "an endpoint name without spaces or control characters");
			break;
		}
		d.endpoint = strdup(str);
		if (!d.endpoint)
			ld->err = -ENOMEM;
		break;
	case -ENOENT:
		if (!d.name)
			break;
		d.endpoint = cfg_expand_pattern(ld->pattern, cfg->gateway.name, d.name);
		if (!d.endpoint)
			ld->err = -ENOMEM;
		else if (!cfg_valid_endpoint(d.endpoint))
			cfg_err(ld, g, "endpoint_pattern gives \"%s\", which is not a valid endpoint name",
				d.endpoint);
		break;
	default:
		break;
	}
	if (!d.endpoint)
		keep = false;
	/* A repeated device name already said why its endpoint repeats. */
	if (d.endpoint && !dup_name && (dup = cfg_device_find(ld, true, d.endpoint)) >= 0) {
		s = cfg_get(g, "endpoint");
		cfg_err(ld, s ? s : g, "duplicate endpoint \"%s\", also used by device \"%s\"",
			d.endpoint, cfg->devices[dup].name);
	}

	if (cfg_read_name(ld, g, "bus", false, &str) == 0) {
		for (j = 0; j < cfg->n_buses; j++)
			if (strcmp(cfg->buses[j].name, str) == 0)
				d.bus = &cfg->buses[j];
		if (!d.bus) {
			cfg_err_type(ld, cfg_get(g, "bus"), "the name of a defined bus");
		} else if (d.adapter && strcmp(d.bus->adapter, d.adapter) != 0) {
			char found[128];

			snprintf(found, sizeof(found), "bus \"%s\" of adapter \"%s\"", d.bus->name,
				 d.bus->adapter);
			cfg_err(ld, cfg_get(g, "bus"), "expected a bus of adapter \"%s\", found %s",
				d.adapter, found);
			keep = false;
		}
	}

	cfg_load_device_servers(ld, g, &d);
	cfg_load_credentials(ld, g, &d);
	cfg_load_access(ld, g, &d);

	d.manufacturer = cfg_identity(ld, g, d.profile, "manufacturer");
	d.model = cfg_identity(ld, g, d.profile, "model");
	d.serial = cfg_identity(ld, g, d.profile, "serial");
	d.firmware_version = cfg_identity(ld, g, d.profile, "firmware_version");
	/* Firmware delivery by a command (device, else profile), and the
	 * digest a raw package must have. */
	d.firmware_command = cfg_identity(ld, g, d.profile, "firmware_command");
	if (d.firmware_command && !d.firmware_command[0])
		cfg_err_type(ld, cfg_credential_setting(g, d.profile, "firmware_command"),
			     "a command line");
	{
		/* How long the command may run (device, else profile). */
		config_setting_t *ft = config_setting_get_member(g, "firmware_timeout");
		double v;

		if (!ft && d.profile)
			ft = config_setting_get_member(d.profile->setting, "firmware_timeout");
		if (ft && (!cfg_number(ft, &v) || !isfinite(v) || v < 1.0 || v > 86400.0))
			cfg_err_type(ld, ft, "a number of seconds 1..86400");
		else if (ft)
			d.firmware_timeout_ms = (uint32_t)llround(v * 1000.0);
	}
	str = cfg_identity(ld, g, d.profile, "firmware_sha256");
	if (str && fw_sha256_from_hex(str, d.firmware_sha256) < 0)
		cfg_err_type(ld, cfg_credential_setting(g, d.profile, "firmware_sha256"),
			     "64 hexadecimal digits (a SHA-256 digest)");
	else if (str)
		d.has_firmware_sha256 = true;

	/* A device's own points replace the profile's entirely. */
	s = cfg_get(g, "points");
	if (!s && d.profile)
		s = cfg_get(d.profile->setting, "points");
	if (s)
		cfg_load_points(ld, s, &d.points, &d.n_points);

	/* Stale values: the device's keys, else its profile's. */
	d.stale.stale_factor = CFG_DEFAULT_STALE_FACTOR;
	d.stale.has_stale_factor = true;
	if (d.profile)
		cfg_read_stale(ld, d.profile->setting, &d.stale);
	{
		struct cfg_stale own = {0};
		cfg_read_stale(ld, g, &own);
		if (own.has_stale_after || own.has_stale_factor)
			d.stale = (struct cfg_stale){.stale_factor = CFG_DEFAULT_STALE_FACTOR,
						     .has_stale_factor = true};
		if (own.has_stale_after) {
			d.stale.has_stale_after = true;
			d.stale.stale_after_ms = own.stale_after_ms;
		}
		if (own.has_stale_factor)
			d.stale.stale_factor = own.stale_factor;
	}

	/* Send: the device's own keys (not a profile's). */
	cfg_read_period(ld, g, "send_period", &d.send_period_ms);
	cfg_read_bool(ld, g, "send_on_change", &d.send_on_change);
	d.send_format = 112;
	if (cfg_read_string(ld, g, "send_format", false, &str) == 0) {
		if (strcmp(str, "senml-json") == 0)
			d.send_format = 110;
		else if (strcmp(str, "senml-cbor") != 0)
			cfg_err_type(ld, cfg_get(g, "send_format"), "\"senml-cbor\" or \"senml-json\"");
	}

	d.node = (struct gwd_cfg){
		.cfg = cfg,
		.own = g,
		.fallback = d.profile ? d.profile->setting : NULL,
		.reserved = cfg_device_reserved,
	};
	if (keep) {
		cfg->devices[cfg->n_devices] = d;
		cfg_device_index(ld, cfg->n_devices++);
	} else {
		cfg_device_clear(&d);
	}
}

static void cfg_load_devices(struct cfg_loader *ld)
{
	struct cfg *cfg = ld->cfg;
	config_setting_t *list;
	int i, n;

	cfg->devices = cfg_section_alloc(ld, "devices", true, "device", sizeof(*cfg->devices), &list,
					 &n);
	if (!cfg->devices)
		return;
	/* At most half full. */
	for (ld->dev_cap = 16; ld->dev_cap < 2 * (size_t)n; ld->dev_cap *= 2)
		;
	ld->dev_by_name = calloc(ld->dev_cap, sizeof(*ld->dev_by_name));
	ld->dev_by_ep = calloc(ld->dev_cap, sizeof(*ld->dev_by_ep));
	if (!cfg->devices || !ld->dev_by_name || !ld->dev_by_ep)
		ld->err = -ENOMEM;
	for (i = 0; i < n && !ld->err; i++) {
		config_setting_t *g = cfg_section_group(ld, list, i);

		if (g)
			cfg_load_device(ld, g);
	}
	free(ld->dev_by_name);
	free(ld->dev_by_ep);
	ld->dev_by_name = ld->dev_by_ep = NULL;
}

/* ---- load / free -------------------------------------------------------- */

static char *cfg_dirname(const char *file)
{
	const char *slash = strrchr(file, '/');

	if (!slash)
		return strdup(".");
	if (slash == file)
		return strdup("/");
	return strndup(file, (size_t)(slash - file));
}

/* A config file is text: bounded, and never a FIFO or device to wait on. */
#define CFG_FILE_MAX (64 * 1024 * 1024)
#define CFG_INCLUDE_DEPTH 10

/* Why a config file could not be read, as "cannot open: ..." or the like. */
static const char *cfg_file_error(int r)
{
	static char buf[64];

	switch (r) {
	case -EINVAL:
		return "not a regular file";
	case -EFBIG:
		snprintf(buf, sizeof(buf), "larger than %d bytes", CFG_FILE_MAX);
		return buf;
	default:
		snprintf(buf, sizeof(buf), "cannot open: %s", strerror(-r));
		return buf;
	}
}

static int cfg_scan_file(struct cfg_loader *ld, const char *name, const char *text, size_t len,
			 int depth);

/* An @include the scan meets: scan the included file too (libconfig reads
 * it by itself later).  A missing one is left to libconfig to report. */
static void cfg_scan_include(struct cfg_loader *ld, const char *name, int line, const char *inc,
			     int depth)
{
	const char *dir = config_get_include_dir(&ld->cfg->lc);
	char *path, *text, err[512];
	size_t len;
	int r;

	if (depth >= CFG_INCLUDE_DEPTH)
		return; /* libconfig says so */
	path = inc[0] == '/' || !dir ? strdup(inc) : cfg_strdupf("%s/%s", dir, inc);
	if (!path) {
		ld->err = -ENOMEM;
		return;
	}
	r = gw_file_read(path, CFG_FILE_MAX, 0, &text, &len, err, sizeof(err));
	if (r == 0) {
		cfg_scan_file(ld, inc, text, len, depth + 1);
		free(text);
	} else if (r != -ENOENT) {
		if (cfg_diag_take(ld->cfg, cfg_source_file(ld->cfg, name), line, strdup(""),
				  cfg_strdupf("@include \"%s\": %s", inc, cfg_file_error(r))) < 0)
			ld->err = -ENOMEM;
	}
	free(path);
}

/* What libconfig 1.5 gets wrong without a word, found in the text before
 * it parses: a NUL byte ends a string (and the text) early, and an integer
 * without the L suffix is cut to 32 bits (2147483648 reads as -2147483648,
 * 4294967297 as 1).  Returns the number of errors recorded. */
static int cfg_scan_file(struct cfg_loader *ld, const char *name, const char *text, size_t len,
			 int depth)
{
	const char *p = text, *end = text + len;
	int line = 1, line0 = 0, errors = 0;
	bool bol = true; /* only blanks since the line began */

	while (p < end && !ld->err) {
		const char *tok = p;
		char *msg = NULL;

		if (*p == '\n') {
			line++;
			bol = true;
			p++;
			continue;
		}
		if (*p == '\0') {
			msg = strdup("a NUL byte; a config file is text");
			p++;
		} else if (*p == '#' || (*p == '/' && p + 1 < end && p[1] == '/')) {
			while (p < end && *p != '\n' && *p != '\0')
				p++;
			continue;
		} else if (*p == '/' && p + 1 < end && p[1] == '*') {
			for (p += 2; p < end && !(*p == '*' && p + 1 < end && p[1] == '/'); p++) {
				if (*p == '\n')
					line++;
				else if (*p == '\0')
					break;
			}
			if (p < end && *p == '*')
				p += 2;
			continue;
		} else if (*p == '"') {
			/* Strings may span lines; a backslash escapes one character. */
			for (p++; p < end && *p != '"'; p++) {
				if (*p == '\\' && p + 1 < end && p[1] != '\0')
					p++;
				if (*p == '\n') {
					line++;
				} else if (*p == '\0' && !msg) {
					/* Reported at the string's line; on to its end. */
					msg = strdup("a NUL byte inside a string, which would cut it short");
					line0 = line;
				}
			}
			if (p < end)
				p++; /* the closing quote */
		} else if (bol && *p == '@' && (size_t)(end - p) > 8 &&
			   strncmp(p, "@include", 8) == 0) {
			const char *q = p + 8, *e;

			while (q < end && (*q == ' ' || *q == '\t'))
				q++;
			if (q < end && *q == '"' && (e = memchr(q + 1, '"', (size_t)(end - q - 1))) &&
			    !memchr(q + 1, '\n', (size_t)(e - q - 1)) &&
			    !memchr(q + 1, '\0', (size_t)(e - q - 1))) {
				char *inc = strndup(q + 1, (size_t)(e - q - 1));

				if (!inc) {
					ld->err = -ENOMEM;
					break;
				}
				cfg_scan_include(ld, name, line, inc, depth);
				free(inc);
				p = e + 1;
			} else {
				p++;
			}
		} else if (isdigit((unsigned char)*p) ||
			   ((*p == '-' || *p == '+') && p + 1 < end && isdigit((unsigned char)p[1]))) {
			/* A number: an integer unless it has a point or exponent. */
			bool hex = false, is_float = false, big = false;
			const char *digits;
			char lit[64];
			size_t n;

			p += *p == '-' || *p == '+';
			if (*p == '0' && p + 1 < end && (p[1] == 'x' || p[1] == 'X')) {
				hex = true;
				p += 2;
			}
			while (p < end && (isalnum((unsigned char)*p) || *p == '.' ||
					   ((*p == '-' || *p == '+') && !hex &&
					    (p[-1] == 'e' || p[-1] == 'E')))) {
				if (!hex && (*p == '.' || *p == 'e' || *p == 'E'))
					is_float = true;
				p++;
			}
			n = (size_t)(p - tok);
			if (is_float || n >= sizeof(lit)) {
				bol = false;
				continue;
			}
			memcpy(lit, tok, n);
			lit[n] = '\0';
			digits = lit + (lit[0] == '-' || lit[0] == '+');
			errno = 0;
			if (lit[n - 1] == 'L') {
				/* 64 bits asked for: libconfig saturates past them. */
				if (hex)
					strtoull(digits, NULL, 16);
				else
					strtoll(lit, NULL, 10);
				if (errno == ERANGE)
					msg = cfg_strdupf("%s does not fit 64 bits", lit);
			} else if (hex) {
				big = strtoull(digits, NULL, 16) > INT32_MAX || errno == ERANGE;
			} else {
				long long v = strtoll(lit, NULL, 10);

				big = errno == ERANGE || v > INT32_MAX || v < INT32_MIN;
			}
			if (!msg && big)
				msg = cfg_strdupf("%s does not fit a plain (32-bit) integer, which this "
						  "libconfig would read as another number; write %sL",
						  lit, lit);
		} else {
			/* Names may hold digits ("data_bits", "a2"): skip them whole. */
			if (isalpha((unsigned char)*p) || *p == '*')
				while (p < end && (isalnum((unsigned char)*p) || *p == '_' ||
						   *p == '-' || *p == '*'))
					p++;
			else
				p++;
		}
		if (!isspace((unsigned char)*tok))
			bol = false;
		if (msg) {
			errors++;
			if (cfg_diag_take(ld->cfg, cfg_source_file(ld->cfg, name),
					  line0 ? line0 : line, strdup(""), msg) < 0)
				ld->err = -ENOMEM;
			line0 = 0;
		}
	}
	return errors;
}

static int cfg_load_from(const char *file, const char *given, struct cfg **out);

int cfg_load(const char *file, struct cfg **out)
{
	return cfg_load_from(file, NULL, out);
}

int cfg_load_text(const char *name, const char *text, struct cfg **out)
{
	return cfg_load_from(name, text, out);
}

/* The file's text, or given (named file in diags) when not NULL. */
static int cfg_load_from(const char *file, const char *given, struct cfg **out)
{
	struct cfg_loader ld = {0};
	struct cfg *cfg;
	char *dir, *text = NULL, err[512];
	size_t len;
	int r;

	*out = NULL;
	cfg = calloc(1, sizeof(*cfg));
	if (!cfg)
		return -ENOMEM;
	config_init(&cfg->lc);
	ld.cfg = cfg;
	cfg->file = strdup(file);
	dir = cfg_dirname(file);
	if (!cfg->file || !dir) {
		free(dir);
		cfg_free(cfg);
		return -ENOMEM;
	}
	/* @include paths are relative to the main file, not to our cwd. */
	config_set_include_dir(&cfg->lc, dir);
	free(dir);
	/* Whatever happens below, the gateway's settings have their defaults. */
	cfg_gateway_defaults(&ld);

	/* Read it ourselves: libconfig would wait on a FIFO, and says only
	 * "file I/O error". */
	if (given) {
		text = strdup(given);
		len = text ? strlen(text) : 0;
		r = text ? 0 : -ENOMEM;
	} else {
		r = gw_file_read(file, CFG_FILE_MAX, 0, &text, &len, err, sizeof(err));
	}
	if (r == -ENOMEM) {
		ld.err = r;
		goto done;
	}
	if (r < 0) {
		cfg_err(&ld, NULL, "%s", cfg_file_error(r));
		goto done;
	}
	if (cfg_scan_file(&ld, NULL, text, len, 0) > 0 || ld.err) {
		r = -EINVAL;
		goto done;
	}
	/* The text just scanned, not the file again: it may have changed. */
	if (!config_read_string(&cfg->lc, text)) {
		r = -EINVAL;
		if (cfg_diag_take(cfg, cfg_source_file(cfg, config_error_file(&cfg->lc)),
				  config_error_line(&cfg->lc), strdup(""),
				  strdup(config_error_text(&cfg->lc) ? config_error_text(&cfg->lc) :
								      "parse error")) < 0)
			ld.err = -ENOMEM;
		goto done;
	}
	cfg->parsed = true;

	cfg_check_strict(&ld, config_root_setting(&cfg->lc), cfg_top_keys);
	cfg_load_gateway(&ld);
	if (!ld.err)
		cfg_load_servers(&ld);
	if (!ld.err)
		cfg_load_buses(&ld);
	if (!ld.err)
		cfg_load_profiles(&ld);
	if (!ld.err)
		cfg_load_devices(&ld);
	r = cfg->n_diags ? -EINVAL : 0;
done:
	free(text);
	if (ld.err) {
		cfg_free(cfg);
		return ld.err;
	}
	*out = cfg;
	return r;
}

void cfg_free(struct cfg *cfg)
{
	size_t i;

	if (!cfg)
		return;
	for (i = 0; i < cfg->n_devices; i++)
		cfg_device_clear(&cfg->devices[i]);
	free(cfg->devices);
	free(cfg->profiles);
	free(cfg->buses);
	free(cfg->servers);
	free((char *)cfg->gateway.name);
	for (i = 0; i < cfg->n_diags; i++)
		cfg_diag_clear(&cfg->diags[i]);
	free(cfg->diags);
	config_destroy(&cfg->lc);
	free(cfg->file);
	free(cfg);
}

/* ---- unknown keys ------------------------------------------------------- */

static size_t cfg_check_group(struct cfg *cfg, config_setting_t *g, const char *const *reserved)
{
	size_t count = 0;
	int i, n;

	if (!g || !config_setting_is_group(g))
		return 0;
	n = config_setting_length(g);
	for (i = 0; i < n; i++) {
		config_setting_t *m = config_setting_get_elem(g, (unsigned)i);
		const char *name = config_setting_name(m);

		if (cfg_is_marked(m) || cfg_in_list(reserved, name))
			continue;
		if (cfg_diag_addf(cfg, m, "unknown key '%s'", name) > 0)
			count++;
	}
	return count;
}

size_t cfg_check_unknown_keys(struct cfg *cfg)
{
	size_t count = 0, i, j;

	if (!cfg)
		return 0;
	/* A bus or profile no device uses was never offered to an adapter:
	 * its keys are not unknown, just unused. */
	for (i = 0; i < cfg->n_buses; i++) {
		bool used = false;

		for (j = 0; j < cfg->n_devices && !used; j++)
			used = cfg->devices[j].bus == &cfg->buses[i];
		if (used)
			count += cfg_check_group(cfg, cfg->buses[i].node.own, cfg_bus_reserved);
	}
	for (i = 0; i < cfg->n_profiles; i++) {
		bool used = false;

		for (j = 0; j < cfg->n_devices && !used; j++)
			used = cfg->devices[j].profile == &cfg->profiles[i];
		if (used)
			count += cfg_check_group(cfg, cfg->profiles[i].setting,
						 cfg_profile_reserved);
	}
	/* Points shared through a profile are checked once per device;
	 * repeats are dropped by cfg_diag_addf and not counted. */
	for (i = 0; i < cfg->n_devices; i++) {
		const struct cfg_device *d = &cfg->devices[i];

		count += cfg_check_group(cfg, d->node.own, cfg_device_reserved);
		for (j = 0; j < d->n_points; j++)
			count += cfg_check_group(cfg, d->points[j].node.own, cfg_point_reserved);
	}
	return count;
}

/* ---- getters for adapters ----------------------------------------------- */

/* The key's setting in own, else in fallback; reserved keys are hidden.
 * A key set in both is read in both: the device overrides the profile,
 * which does not make the profile's key unknown. */
static config_setting_t *cfg_node_find(const struct gwd_cfg *node, const char *key)
{
	config_setting_t *own, *fb;

	if (!node || !key || cfg_in_list(node->reserved, key))
		return NULL;
	own = cfg_get(node->own, key);
	fb = cfg_get(node->fallback, key);
	return own ? own : fb;
}

static int cfg_node_type_error(const struct gwd_cfg *node, config_setting_t *s,
			       const char *expected)
{
	char found[96];

	cfg_describe(s, found, sizeof(found));
	cfg_diag_addf(node->cfg, s, "expected %s, found %s", expected, found);
	return -EINVAL;
}

int cfg_node_int(const struct gwd_cfg *node, const char *key, int64_t *out)
{
	config_setting_t *s = cfg_node_find(node, key);

	if (!s)
		return -ENOENT;
	switch (config_setting_type(s)) {
	case CONFIG_TYPE_INT:
		*out = config_setting_get_int(s);
		return 0;
	case CONFIG_TYPE_INT64:
		*out = config_setting_get_int64(s);
		return 0;
	default:
		return cfg_node_type_error(node, s, "an integer");
	}
}

int cfg_node_double(const struct gwd_cfg *node, const char *key, double *out)
{
	config_setting_t *s = cfg_node_find(node, key);
	double v;

	if (!s)
		return -ENOENT;
	if (!cfg_number(s, &v))
		return cfg_node_type_error(node, s, "a number");
	*out = v;
	return 0;
}

int cfg_node_bool(const struct gwd_cfg *node, const char *key, bool *out)
{
	config_setting_t *s = cfg_node_find(node, key);

	if (!s)
		return -ENOENT;
	if (config_setting_type(s) != CONFIG_TYPE_BOOL)
		return cfg_node_type_error(node, s, "true or false");
	*out = config_setting_get_bool(s);
	return 0;
}

int cfg_node_string(const struct gwd_cfg *node, const char *key, const char **out)
{
	config_setting_t *s = cfg_node_find(node, key);

	if (!s)
		return -ENOENT;
	if (config_setting_type(s) != CONFIG_TYPE_STRING)
		return cfg_node_type_error(node, s, "a string");
	*out = config_setting_get_string(s);
	return 0;
}

int cfg_node_verror(const struct gwd_cfg *node, const char *key, const char *fmt, va_list ap)
{
	config_setting_t *s = NULL;

	if (!node || !node->cfg)
		return -EINVAL;
	if (key)
		s = cfg_node_find(node, key);
	cfg_diag_vadd(node->cfg, s ? s : node->own, fmt, ap);
	return -EINVAL;
}

int cfg_node_error(const struct gwd_cfg *node, const char *key, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = cfg_node_verror(node, key, fmt, ap);
	va_end(ap);
	return r;
}

/* ---- writing settings back as libconfig text --------------------------------- */

static void cfg_write_string(FILE *f, const char *v)
{
	fputc('"', f);
	for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(f, "\\%c", *p);
		else if (*p < 0x20 || *p == 0x7f)
			fprintf(f, "\\x%02x", *p);
		else
			fputc(*p, f);
	}
	fputc('"', f);
}

void cfg_write_setting(FILE *f, const config_setting_t *s)
{
	unsigned n;
	char num[64];

	switch (config_setting_type(s)) {
	case CONFIG_TYPE_GROUP:
		n = (unsigned)config_setting_length(s);
		fputs("{ ", f);
		for (unsigned i = 0; i < n; i++) {
			const config_setting_t *m = config_setting_get_elem(s, i);
			fprintf(f, "%s = ", config_setting_name(m));
			cfg_write_setting(f, m);
			fputs("; ", f);
		}
		fputc('}', f);
		return;
	case CONFIG_TYPE_LIST:
	case CONFIG_TYPE_ARRAY:
		n = (unsigned)config_setting_length(s);
		fputs(config_setting_type(s) == CONFIG_TYPE_LIST ? "( " : "[ ", f);
		for (unsigned i = 0; i < n; i++) {
			if (i)
				fputs(", ", f);
			cfg_write_setting(f, config_setting_get_elem(s, i));
		}
		fputs(config_setting_type(s) == CONFIG_TYPE_LIST ? " )" : " ]", f);
		return;
	case CONFIG_TYPE_INT:
		fprintf(f, "%d", config_setting_get_int(s));
		return;
	case CONFIG_TYPE_INT64:
		fprintf(f, "%lldL", config_setting_get_int64(s));
		return;
	case CONFIG_TYPE_FLOAT:
		/* Always with a point or an exponent: it must read back as a float. */
		snprintf(num, sizeof(num), "%.17g", config_setting_get_float(s));
		fputs(num, f);
		if (!strpbrk(num, ".eE"))
			fputs(".0", f);
		return;
	case CONFIG_TYPE_BOOL:
		fputs(config_setting_get_bool(s) ? "true" : "false", f);
		return;
	case CONFIG_TYPE_STRING:
		cfg_write_string(f, config_setting_get_string(s));
		return;
	default:
		fputs("0", f);
	}
}

void cfg_write_string_literal(FILE *f, const char *v)
{
	cfg_write_string(f, v);
}
