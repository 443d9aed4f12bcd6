/* Object definitions loaded at run time from DDF XML files (the format of
 * the OMA registry), so that a gateway can present vendor objects without a
 * rebuild.  The files come from a directory the administrator fills, but
 * they are still parsed as untrusted input: bounded size, no network, no
 * DTD (hence no entity expansion), and every fact we keep is validated. */
#include "objdefs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libxml/parser.h>
#include <libxml/parserInternals.h> /* xmlCreateMemoryParserCtxt */
#include <libxml/tree.h>

#define NAME_MAX_LEN 128
#define UNITS_MAX_LEN 32
#define URN_MAX_LEN 128

/* One loaded object; def comes first so that lookups can hand out &def and
 * unloading can get back to the whole. */
struct ddf_obj {
	struct lwm_obj_def def;
	char *path; /* where it came from, for the duplicate message */
};

/* Sorted by id; lookups bisect.  Loading inserts in place: a models
 * directory holds tens of files, and it happens at start-up. */
static struct ddf_obj **loaded;
static size_t nloaded, loaded_cap;

/* Per-file parsing state. */
struct ddf_parse {
	char *err;
	size_t errlen;
	bool failed; /* err holds the first problem */
	bool has_dtd;
	int dtd_line;
};

static int ddf_fail(struct ddf_parse *st, const xmlNode *node, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int ddf_fail(struct ddf_parse *st, const xmlNode *node, int rc, const char *fmt, ...)
{
	va_list ap;
	size_t off = 0;
	long line = node ? xmlGetLineNo(node) : -1;

	/* The first problem is the one worth reading; later ones often follow
	 * from it. */
	if (st->failed || !st->err || st->errlen == 0)
		return rc;
	st->failed = true;
	if (line > 0) {
		int n = snprintf(st->err, st->errlen, "line %ld: ", line);

		off = n > 0 && (size_t)n < st->errlen ? (size_t)n : 0;
	}
	va_start(ap, fmt);
	vsnprintf(st->err + off, st->errlen - off, fmt, ap);
	va_end(ap);
	return rc;
}

/* libxml2's errors, as structured records rather than text on stderr. */
static void ddf_xml_error(void *ud, xmlErrorPtr e)
{
	xmlParserCtxtPtr ctxt = ud;
	struct ddf_parse *st = ctxt->_private;
	char msg[256];
	size_t n;

	if (!e || e->level < XML_ERR_ERROR || st->failed || !st->err || st->errlen == 0)
		return;
	snprintf(msg, sizeof(msg), "%s", e->message ? e->message : "XML error");
	n = strlen(msg);
	while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
		msg[--n] = '\0';
	st->failed = true;
	if (e->line > 0)
		snprintf(st->err, st->errlen, "line %d: %s", e->line, msg);
	else
		snprintf(st->err, st->errlen, "%s", msg);
}

/* DDF files have no DOCTYPE.  A DTD is what declares entities, and even
 * without XML_PARSE_NOENT libxml2 expands them when it checks them or when
 * text is read out of the tree, so a document with one is stopped as soon
 * as its DOCTYPE is seen, before the internal subset is parsed: an entity
 * bomb never gets the chance to grow. */
static void ddf_internal_subset(void *ud, const xmlChar *name, const xmlChar *ext,
				const xmlChar *sys)
{
	xmlParserCtxtPtr ctxt = ud;
	struct ddf_parse *st = ctxt->_private;

	st->has_dtd = true;
	st->dtd_line = ctxt->input ? ctxt->input->line : 0;
	xmlStopParser(ctxt);
}

static bool is_space(int c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Text of an element with whitespace runs collapsed to one space and the
 * ends trimmed (the registry wraps and indents names); NULL on ENOMEM. */
static char *node_text(const xmlNode *n)
{
	xmlChar *raw = xmlNodeGetContent(n);
	const char *s = raw ? (const char *)raw : "";
	char *out = malloc(strlen(s) + 1), *o = out;

	if (!out) {
		xmlFree(raw);
		return NULL;
	}
	for (; *s; s++) {
		if (!is_space((unsigned char)*s)) {
			*o++ = *s;
			continue;
		}
		if (o != out && !is_space((unsigned char)s[1]) && s[1] != '\0')
			*o++ = ' ';
	}
	*o = '\0';
	xmlFree(raw);
	return out;
}

/* s with every space taken out, in place ("Unsigned Integer", "R W"). */
static void squeeze(char *s)
{
	char *o = s;

	for (; *s; s++)
		if (*s != ' ')
			*o++ = *s;
	*o = '\0';
}

/* Decimal 0..65534 only: no sign, no hex, no spaces inside. */
static bool parse_id(const char *s, uint16_t *out)
{
	unsigned long v = 0;

	if (!*s || strlen(s) > 5)
		return false;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return false;
		v = v * 10 + (unsigned long)(*s - '0');
	}
	if (v >= LWM_ID_NONE)
		return false;
	*out = (uint16_t)v;
	return true;
}

static const struct {
	const char *name; /* lower case, spaces removed */
	enum lwm_type type;
} type_names[] = {
	{"string", LWM_T_STRING},
	{"integer", LWM_T_INTEGER},
	{"unsignedinteger", LWM_T_UNSIGNED},
	{"float", LWM_T_FLOAT},
	{"boolean", LWM_T_BOOLEAN},
	{"opaque", LWM_T_OPAQUE},
	{"time", LWM_T_TIME},
	{"objlnk", LWM_T_OBJLNK},
	{"corelnk", LWM_T_CORELNK},
};

/* "" is the type of executables; anything else must be a DDF type name. */
static bool parse_type(char *s, uint8_t *out)
{
	squeeze(s);
	if (!*s) {
		*out = LWM_T_NONE;
		return true;
	}
	for (size_t i = 0; i < sizeof(type_names) / sizeof(type_names[0]); i++) {
		if (strcasecmp(s, type_names[i].name) == 0) {
			*out = (uint8_t)type_names[i].type;
			return true;
		}
	}
	return false;
}

/* "", R, W, RW or E.  E does not combine with R or W: an executable has no
 * value to read or write. */
static bool parse_ops(char *s, uint8_t *out)
{
	squeeze(s);
	if (!*s)
		*out = 0;
	else if (strcasecmp(s, "R") == 0)
		*out = LWM_OP_R;
	else if (strcasecmp(s, "W") == 0)
		*out = LWM_OP_W;
	else if (strcasecmp(s, "RW") == 0)
		*out = LWM_OP_R | LWM_OP_W;
	else if (strcasecmp(s, "E") == 0)
		*out = LWM_OP_E;
	else
		return false;
	return true;
}

static bool parse_choice(const char *s, const char *yes, const char *no, bool *out)
{
	if (strcasecmp(s, yes) == 0)
		*out = true;
	else if (strcasecmp(s, no) == 0)
		*out = false;
	else
		return false;
	return true;
}

/* "x.y", one to three digits each side. */
static bool valid_version(const char *s)
{
	size_t a = strspn(s, "0123456789"), b;

	if (a < 1 || a > 3 || s[a] != '.')
		return false;
	b = strspn(s + a + 1, "0123456789");
	return b >= 1 && b <= 3 && s[a + 1 + b] == '\0';
}

static bool valid_urn(const char *s)
{
	static const char prefix[] = "urn:oma:lwm2m:";
	static const char allowed[] = "abcdefghijklmnopqrstuvwxyz"
				      "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789:._-";

	if (strlen(s) > URN_MAX_LEN || strncmp(s, prefix, sizeof(prefix) - 1) != 0)
		return false;
	return s[strspn(s, allowed)] == '\0';
}

/* A plain decimal ("-158", "0.5", ".5"); the end in *end.  A '.' followed
 * by another '.' is the start of the range separator, not a decimal point. */
static bool scan_num(const char *s, const char **end)
{
	const char *p = s;
	bool digits = false;

	if (*p == '-' || *p == '+')
		p++;
	while (*p >= '0' && *p <= '9')
		p++, digits = true;
	if (*p == '.' && p[1] != '.') {
		p++;
		while (*p >= '0' && *p <= '9')
			p++, digits = true;
	}
	*end = p;
	return digits;
}

/* A numeric <RangeEnumeration>: "a..b" (also "a...b" and "a-b", as the
 * registry has them).  1 when found, 0 when the text is something else (an
 * enumeration, a length), -1 when it is a range with min above max. */
static int parse_range(const char *s, double *lo, double *hi)
{
	const char *a = s, *a_end, *b, *b_end;
	char buf[64];

	if (!scan_num(a, &a_end))
		return 0;
	b = a_end;
	if (*b == ' ')
		b++;
	if (b[0] == '.' && b[1] == '.')
		b += b[2] == '.' ? 3 : 2;
	else if (b[0] == '-')
		b++;
	else
		return 0;
	if (*b == ' ')
		b++;
	if (!scan_num(b, &b_end) || *b_end != '\0')
		return 0;
	/* strtod reads these the same in the C locale, which gatewayd keeps. */
	if ((size_t)(a_end - a) >= sizeof(buf) || (size_t)(b_end - b) >= sizeof(buf))
		return 0;
	memcpy(buf, a, (size_t)(a_end - a));
	buf[a_end - a] = '\0';
	*lo = strtod(buf, NULL);
	memcpy(buf, b, (size_t)(b_end - b));
	buf[b_end - b] = '\0';
	*hi = strtod(buf, NULL);
	if (!isfinite(*lo) || !isfinite(*hi))
		return 0;
	return *lo <= *hi ? 1 : -1;
}

static bool is_elem(const xmlNode *n, const char *name)
{
	return n->type == XML_ELEMENT_NODE && strcmp((const char *)n->name, name) == 0;
}

/* The single child element called name of parent: *out NULL when absent;
 * -EINVAL when there are two. */
static int child(struct ddf_parse *st, const xmlNode *parent, const char *name, const xmlNode **out)
{
	*out = NULL;
	for (const xmlNode *n = parent->children; n; n = n->next) {
		if (!is_elem(n, name))
			continue;
		if (*out)
			return ddf_fail(st, n, -EINVAL, "<%s> given twice in <%s>", name,
					(const char *)parent->name);
		*out = n;
	}
	return 0;
}

/* Text of the single child called name, into *out (malloc'd; "" when
 * absent unless required); *at is the element, or parent when absent, for
 * the line number of a complaint about the value. */
static int child_text(struct ddf_parse *st, const xmlNode *parent, const char *name, bool required,
		      const char *what, char **out, const xmlNode **at)
{
	const xmlNode *n;
	int rc = child(st, parent, name, &n);

	*out = NULL;
	*at = n ? n : parent;
	if (rc < 0)
		return rc;
	if (!n) {
		if (required)
			return ddf_fail(st, parent, -EINVAL, "%s: <%s> missing", what, name);
		*out = strdup("");
	} else {
		*out = node_text(n);
	}
	return *out ? 0 : ddf_fail(st, NULL, -ENOMEM, "out of memory");
}

static void free_def(struct lwm_obj_def *d)
{
	if (!d)
		return;
	for (uint16_t i = 0; d->res && i < d->nres; i++) {
		free((void *)d->res[i].name);
		free((void *)d->res[i].units);
	}
	free((void *)d->res);
	free((void *)d->name);
	free((void *)d->version);
	free((void *)d->urn);
}

/* A resource while the list is built: its line, for the duplicate check
 * after sorting. */
struct res_tmp {
	struct lwm_res_def r;
	long line;
};

static int res_cmp(const void *a, const void *b)
{
	const struct res_tmp *x = a, *y = b;

	return (x->r.id > y->r.id) - (x->r.id < y->r.id);
}

static int parse_item(struct ddf_parse *st, uint16_t oid, const xmlNode *item, struct res_tmp *t)
{
	char what[48], *s = NULL;
	const xmlNode *at;
	xmlChar *idattr = xmlGetProp(item, (const xmlChar *)"ID");
	bool ok;
	int rc;

	memset(t, 0, sizeof(*t));
	t->line = xmlGetLineNo(item);
	if (!idattr)
		return ddf_fail(st, item, -EINVAL, "object %u: <Item> without an ID", oid);
	s = strdup((const char *)idattr);
	xmlFree(idattr);
	if (!s)
		return ddf_fail(st, NULL, -ENOMEM, "out of memory");
	ok = parse_id(s, &t->r.id);
	if (!ok) {
		rc = ddf_fail(st, item, -EINVAL, "object %u: bad resource ID \"%s\" (0..65534)",
			      oid, s);
		free(s);
		return rc;
	}
	free(s);
	snprintf(what, sizeof(what), "resource %u", t->r.id);

	if ((rc = child_text(st, item, "Name", true, what, &s, &at)) < 0)
		return rc;
	if (!*s || strlen(s) > NAME_MAX_LEN) {
		free(s);
		return ddf_fail(st, at, -EINVAL, "%s: <Name> empty or longer than %d bytes", what,
				NAME_MAX_LEN);
	}
	t->r.name = s;

	if ((rc = child_text(st, item, "Type", true, what, &s, &at)) < 0)
		return rc;
	ok = parse_type(s, &t->r.type);
	if (!ok)
		rc = ddf_fail(st, at, -EINVAL, "%s: unknown <Type> \"%s\"", what, s);
	free(s);
	if (!ok)
		return rc;

	if ((rc = child_text(st, item, "Operations", true, what, &s, &at)) < 0)
		return rc;
	ok = parse_ops(s, &t->r.ops);
	if (!ok)
		rc = ddf_fail(st, at, -EINVAL, "%s: bad <Operations> \"%s\" (\"\", R, W, RW or E)",
			      what, s);
	free(s);
	if (!ok)
		return rc;
	if ((t->r.ops == LWM_OP_E) != (t->r.type == LWM_T_NONE))
		return ddf_fail(st, item, -EINVAL,
				t->r.ops == LWM_OP_E
				    ? "%s: executable with a <Type> (must be empty)"
				    : "%s: <Type> empty but not executable (E)",
				what);

	if ((rc = child_text(st, item, "MultipleInstances", true, what, &s, &at)) < 0)
		return rc;
	ok = parse_choice(s, "Multiple", "Single", &t->r.multiple);
	if (!ok)
		rc = ddf_fail(st, at, -EINVAL,
			      "%s: bad <MultipleInstances> \"%s\" (Single or Multiple)", what, s);
	free(s);
	if (!ok)
		return rc;

	if ((rc = child_text(st, item, "Mandatory", true, what, &s, &at)) < 0)
		return rc;
	ok = parse_choice(s, "Mandatory", "Optional", &t->r.mandatory);
	if (!ok)
		rc = ddf_fail(st, at, -EINVAL, "%s: bad <Mandatory> \"%s\" (Mandatory or Optional)",
			      what, s);
	free(s);
	if (!ok)
		return rc;

	if ((rc = child_text(st, item, "Units", false, what, &s, &at)) < 0)
		return rc;
	t->r.units = s;
	if (strlen(s) > UNITS_MAX_LEN)
		return ddf_fail(st, at, -EINVAL, "%s: <Units> longer than %d bytes", what,
				UNITS_MAX_LEN);

	if ((rc = child_text(st, item, "RangeEnumeration", false, what, &s, &at)) < 0)
		return rc;
	/* Only numeric ranges are kept; the element also holds enumerations
	 * and string lengths, which mean nothing as value bounds. */
	if (t->r.type == LWM_T_INTEGER || t->r.type == LWM_T_UNSIGNED || t->r.type == LWM_T_FLOAT ||
	    t->r.type == LWM_T_TIME) {
		rc = parse_range(s, &t->r.range_min, &t->r.range_max);
		if (rc < 0) {
			rc = ddf_fail(st, at, -EINVAL,
				      "%s: <RangeEnumeration> \"%s\": minimum above maximum", what,
				      s);
			free(s);
			return rc;
		}
		t->r.has_range = rc == 1;
	}
	free(s);
	return 0;
}

static int parse_resources(struct ddf_parse *st, const xmlNode *obj, struct lwm_obj_def *d)
{
	const xmlNode *list;
	struct res_tmp *tmp = NULL;
	struct lwm_res_def *res;
	size_t n = 0, cap = 0;
	int rc = child(st, obj, "Resources", &list);

	if (rc < 0)
		return rc;
	if (!list)
		return ddf_fail(st, obj, -EINVAL, "object %u: <Resources> missing", d->id);
	for (const xmlNode *it = list->children; it; it = it->next) {
		if (it->type != XML_ELEMENT_NODE)
			continue;
		if (!is_elem(it, "Item")) {
			rc = ddf_fail(st, it, -EINVAL, "object %u: unexpected <%s> in <Resources>",
				      d->id, (const char *)it->name);
			goto out;
		}
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 16;
			struct res_tmp *p;

			/* Unique 16-bit ids bound n; refusing the 65536th
			 * early keeps nres from wrapping. */
			if (n >= LWM_ID_NONE) {
				rc = ddf_fail(st, it, -EINVAL, "object %u: too many resources",
					      d->id);
				goto out;
			}
			p = realloc(tmp, ncap * sizeof(*tmp));
			if (!p) {
				rc = ddf_fail(st, NULL, -ENOMEM, "out of memory");
				goto out;
			}
			tmp = p;
			cap = ncap;
		}
		rc = parse_item(st, d->id, it, &tmp[n]);
		n++; /* counted even on failure, so that its strings are freed */
		if (rc < 0)
			goto out;
	}
	if (n > 0)
		qsort(tmp, n, sizeof(*tmp), res_cmp);
	for (size_t i = 1; i < n; i++) {
		if (tmp[i].r.id == tmp[i - 1].r.id) {
			long a = tmp[i - 1].line, b = tmp[i].line;

			rc = ddf_fail(st, NULL, -EINVAL,
				      "object %u: resource %u defined twice (lines %ld and %ld)",
				      d->id, tmp[i].r.id, a < b ? a : b, a < b ? b : a);
			goto out;
		}
	}
	res = n ? calloc(n, sizeof(*res)) : NULL;
	if (n && !res) {
		rc = ddf_fail(st, NULL, -ENOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		res[i] = tmp[i].r;
	d->res = res;
	d->nres = (uint16_t)n;
	free(tmp);
	return 0;
out:
	for (size_t i = 0; i < n; i++) {
		free((void *)tmp[i].r.name);
		free((void *)tmp[i].r.units);
	}
	free(tmp);
	return rc;
}

static int parse_object(struct ddf_parse *st, const xmlNode *obj, struct lwm_obj_def *d)
{
	const xmlNode *at;
	char *s;
	bool ok;
	int rc;

	if ((rc = child_text(st, obj, "ObjectID", true, "<Object>", &s, &at)) < 0)
		return rc;
	ok = parse_id(s, &d->id);
	if (!ok)
		rc = ddf_fail(st, at, -EINVAL, "bad <ObjectID> \"%s\" (0..65534)", s);
	free(s);
	if (!ok)
		return rc;

	if ((rc = child_text(st, obj, "Name", true, "<Object>", &s, &at)) < 0)
		return rc;
	d->name = s;
	if (!*s || strlen(s) > NAME_MAX_LEN)
		return ddf_fail(st, at, -EINVAL, "object %u: <Name> empty or longer than %d bytes",
				d->id, NAME_MAX_LEN);

	if ((rc = child_text(st, obj, "ObjectVersion", false, "<Object>", &s, &at)) < 0)
		return rc;
	/* Absent means 1.0, as LwM2M 1.0's DDF files had no version. */
	if (!*s) {
		free(s);
		s = strdup("1.0");
		if (!s)
			return ddf_fail(st, NULL, -ENOMEM, "out of memory");
	}
	d->version = s;
	if (!valid_version(s))
		return ddf_fail(st, at, -EINVAL, "object %u: bad <ObjectVersion> \"%s\" (x.y)",
				d->id, s);

	if ((rc = child_text(st, obj, "ObjectURN", false, "<Object>", &s, &at)) < 0)
		return rc;
	d->urn = s;
	if (*s && !valid_urn(s))
		return ddf_fail(st, at, -EINVAL,
				"object %u: bad <ObjectURN> \"%s\" (urn:oma:lwm2m:...)", d->id, s);

	if ((rc = child_text(st, obj, "MultipleInstances", true, "<Object>", &s, &at)) < 0)
		return rc;
	ok = parse_choice(s, "Multiple", "Single", &d->multiple);
	if (!ok)
		rc = ddf_fail(st, at, -EINVAL,
			      "object %u: bad <MultipleInstances> \"%s\" (Single or Multiple)",
			      d->id, s);
	free(s);
	if (!ok)
		return rc;

	if ((rc = child_text(st, obj, "Mandatory", true, "<Object>", &s, &at)) < 0)
		return rc;
	ok = parse_choice(s, "Mandatory", "Optional", &d->mandatory);
	if (!ok)
		rc =
		    ddf_fail(st, at, -EINVAL,
			     "object %u: bad <Mandatory> \"%s\" (Mandatory or Optional)", d->id, s);
	free(s);
	if (!ok)
		return rc;

	return parse_resources(st, obj, d);
}

/* The whole file, at most LWM_DDF_MAX_SIZE bytes, into a malloc'd buffer. */
static int read_all(struct ddf_parse *st, const char *path, char **out, size_t *outlen)
{
	struct stat sb;
	char *buf = NULL;
	size_t len = 0;
	int fd, rc;

	/* O_NONBLOCK: a FIFO named *.xml must not hang start-up. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		rc = -errno;
		return ddf_fail(st, NULL, rc, "cannot open: %s", strerror(-rc));
	}
	if (fstat(fd, &sb) < 0) {
		rc = -errno;
		ddf_fail(st, NULL, rc, "cannot stat: %s", strerror(-rc));
		goto out;
	}
	if (!S_ISREG(sb.st_mode)) {
		rc = ddf_fail(st, NULL, -EINVAL, "not a regular file");
		goto out;
	}
	if (sb.st_size > LWM_DDF_MAX_SIZE) {
		rc = ddf_fail(st, NULL, -EFBIG, "larger than %d bytes", LWM_DDF_MAX_SIZE);
		goto out;
	}
	/* One byte over the limit tells a file that grew since fstat. */
	buf = malloc(LWM_DDF_MAX_SIZE + 1);
	if (!buf) {
		rc = ddf_fail(st, NULL, -ENOMEM, "out of memory");
		goto out;
	}
	for (;;) {
		ssize_t r = read(fd, buf + len, LWM_DDF_MAX_SIZE + 1 - len);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc = -errno;
			ddf_fail(st, NULL, rc, "cannot read: %s", strerror(-rc));
			goto out;
		}
		if (r == 0)
			break;
		len += (size_t)r;
		if (len > LWM_DDF_MAX_SIZE) {
			rc = ddf_fail(st, NULL, -EFBIG, "larger than %d bytes", LWM_DDF_MAX_SIZE);
			goto out;
		}
	}
	*out = buf;
	*outlen = len;
	buf = NULL;
	rc = 0;
out:
	free(buf);
	close(fd);
	return rc;
}

/* Parse and validate path into d (whose strings the caller frees with
 * free_def also on failure). */
static int parse_file(struct ddf_parse *st, const char *path, struct lwm_obj_def *d)
{
	xmlParserCtxtPtr ctxt;
	xmlDocPtr doc = NULL;
	const xmlNode *root, *obj = NULL;
	char *buf = NULL;
	size_t len = 0;
	int rc;

	if ((rc = read_all(st, path, &buf, &len)) < 0)
		return rc;
	xmlInitParser();
	ctxt = xmlCreateMemoryParserCtxt(buf, (int)len);
	if (!ctxt) {
		free(buf);
		/* libxml2 refuses an empty buffer here already. */
		return ddf_fail(st, NULL, len ? -ENOMEM : -EINVAL,
				len ? "out of memory" : "empty file");
	}
	/* Options left out on purpose: NOENT (substitute entities), DTDLOAD,
	 * DTDATTR, DTDVALID, XINCLUDE, HUGE.  BIG_LINES: right line numbers
	 * past 65535. */
	xmlCtxtUseOptions(ctxt, XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING |
				    XML_PARSE_BIG_LINES);
	ctxt->_private = st;
	ctxt->sax->serror = ddf_xml_error;
	ctxt->sax->internalSubset = ddf_internal_subset;
	xmlParseDocument(ctxt);
	doc = ctxt->myDoc;
	ctxt->myDoc = NULL;
	if (st->has_dtd) {
		/* This says more than the "parser stopped" libxml2 may report. */
		st->failed = false;
		rc = ddf_fail(st, NULL, -EINVAL,
			      "line %d: has a DOCTYPE: DTDs and entities are not allowed",
			      st->dtd_line);
		goto out;
	}
	if (!ctxt->wellFormed || !doc) {
		rc = ddf_fail(st, NULL, -EINVAL, "not well-formed XML");
		goto out;
	}
	root = xmlDocGetRootElement(doc);
	if (!root || !is_elem(root, "LWM2M")) {
		rc = ddf_fail(st, root, -EINVAL, "root element is <%s>, not <LWM2M>",
			      root ? (const char *)root->name : "");
		goto out;
	}
	for (const xmlNode *n = root->children; n; n = n->next) {
		if (n->type != XML_ELEMENT_NODE)
			continue;
		if (!is_elem(n, "Object") || obj) {
			rc = ddf_fail(st, n, -EINVAL,
				      "<LWM2M> must hold one <Object> and nothing else");
			goto out;
		}
		obj = n;
	}
	if (!obj) {
		rc = ddf_fail(st, root, -EINVAL, "no <Object>");
		goto out;
	}
	rc = parse_object(st, obj, d);
out:
	xmlFreeDoc(doc);
	xmlFreeParserCtxt(ctxt);
	free(buf);
	return rc;
}

static size_t loaded_index(uint16_t oid, bool *found)
{
	size_t lo = 0, hi = nloaded;

	*found = false;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		uint16_t id = loaded[mid]->def.id;

		if (id == oid) {
			*found = true;
			return mid;
		}
		if (id < oid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

const struct lwm_obj_def *lwm_objdef_find_loaded(uint16_t oid)
{
	bool found;
	size_t i = loaded_index(oid, &found);

	return found ? &loaded[i]->def : NULL;
}

int lwm_objdefs_load_file(const char *path, char *err, size_t errlen)
{
	struct ddf_parse st = {err, errlen, false, false, 0};
	const struct lwm_obj_def *builtin;
	struct ddf_obj *o;
	bool found;
	size_t at;
	int rc;

	if (err && errlen)
		err[0] = '\0';
	o = calloc(1, sizeof(*o));
	if (!o)
		return ddf_fail(&st, NULL, -ENOMEM, "out of memory");
	rc = parse_file(&st, path, &o->def);
	if (rc < 0)
		goto fail;
	/* Built-in objects are the OMA's: a file that redefines one would
	 * change what an OMA object means to this gateway alone, newer
	 * version or not.  A newer OMA version comes with a rebuild. */
	builtin = lwm_objdef_find_builtin(o->def.id);
	if (builtin) {
		rc = ddf_fail(&st, NULL, -EEXIST,
			      "object %u is built in (%s): a DDF file cannot redefine it",
			      o->def.id, builtin->name);
		goto fail;
	}
	at = loaded_index(o->def.id, &found);
	if (found) {
		rc = ddf_fail(&st, NULL, -EEXIST, "object %u is already loaded from %s", o->def.id,
			      loaded[at]->path);
		goto fail;
	}
	o->path = strdup(path);
	if (!o->path) {
		rc = ddf_fail(&st, NULL, -ENOMEM, "out of memory");
		goto fail;
	}
	if (nloaded == loaded_cap) {
		size_t ncap = loaded_cap ? loaded_cap * 2 : 16;
		struct ddf_obj **p = realloc(loaded, ncap * sizeof(*p));

		if (!p) {
			rc = ddf_fail(&st, NULL, -ENOMEM, "out of memory");
			goto fail;
		}
		loaded = p;
		loaded_cap = ncap;
	}
	memmove(&loaded[at + 1], &loaded[at], (nloaded - at) * sizeof(*loaded));
	loaded[at] = o;
	nloaded++;
	return 0;
fail:
	free_def(&o->def);
	free(o->path);
	free(o);
	return rc;
}

/* *.xml, but not dot files: editors' lock and backup files ("._x.xml",
 * ".#x.xml") would otherwise be reported as broken models. */
static int ddf_name_filter(const struct dirent *de)
{
	size_t n = strlen(de->d_name);

	return de->d_name[0] != '.' && n > 4 && strcmp(de->d_name + n - 4, ".xml") == 0;
}

int lwm_objdefs_load_dir(const char *dir,
			 void (*report)(const char *file, const char *msg, void *ud), void *ud)
{
	struct dirent **names;
	int n, count = 0;

	if (!dir)
		return -EINVAL;
	n = scandir(dir, &names, ddf_name_filter, alphasort);
	if (n < 0)
		return -errno;
	for (int i = 0; i < n; i++) {
		char path[4096], err[256];
		int len = snprintf(path, sizeof(path), "%s/%s", dir, names[i]->d_name);

		if (len < 0 || (size_t)len >= sizeof(path)) {
			if (report)
				report(names[i]->d_name, "path too long", ud);
		} else if (lwm_objdefs_load_file(path, err, sizeof(err)) == 0) {
			count++;
		} else if (report) {
			report(path, err, ud);
		}
		free(names[i]);
	}
	free(names);
	return count;
}

void lwm_objdefs_unload_all(void)
{
	for (size_t i = 0; i < nloaded; i++) {
		free_def(&loaded[i]->def);
		free(loaded[i]->path);
		free(loaded[i]);
	}
	free(loaded);
	loaded = NULL;
	nloaded = loaded_cap = 0;
}
