/* CoRE link-format parsing for registration payloads: enough of RFC 6690
 * to find the LwM2M root and the object / instance links. */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "links.h"

struct raw_link {
	const char *uri, *attrs;
	size_t ulen, alen;
};

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Split s into <uri>;attrs links.  Returns the count or a negative errno. */
static int split_links(const char *s, size_t len, struct raw_link **out)
{
	struct raw_link *v = NULL;
	size_t n = 0, cap = 0, i = 0;

	while (i < len) {
		while (i < len && is_space(s[i]))
			i++;
		if (i == len)
			break;
		if (s[i] != '<')
			goto bad;
		size_t u = ++i;
		while (i < len && s[i] != '>')
			i++;
		if (i == len)
			goto bad;
		size_t ulen = i - u;
		i++;
		size_t a = i;
		bool quoted = false;
		while (i < len && (quoted || s[i] != ',')) {
			if (s[i] == '"')
				quoted = !quoted;
			i++;
		}
		if (quoted)
			goto bad;
		/* attributes, when present, start with ';' */
		size_t alen = i - a;
		while (alen && is_space(s[a + alen - 1]))
			alen--;
		if (alen && s[a] != ';')
			goto bad;
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 16;
			struct raw_link *nv = realloc(v, ncap * sizeof(*nv));
			if (!nv) {
				free(v);
				return -ENOMEM;
			}
			v = nv;
			cap = ncap;
		}
		v[n++] = (struct raw_link){s + u, s + a, ulen, alen};
		if (i < len)
			i++; /* the ',' */
	}
	*out = v;
	return (int)n;
bad:
	free(v);
	return -EBADMSG;
}

/* Find attribute name in ";a=1;b="x"" and return its value (quotes
 * stripped); *vlen is set, NULL when absent.  A bare ";name" gives "". */
static const char *find_attr(const char *a, size_t alen, const char *name, size_t *vlen)
{
	size_t nlen = strlen(name), i = 0;

	while (i < alen) {
		if (a[i] != ';')
			return NULL;
		size_t k = ++i;
		bool quoted = false;
		while (i < alen && (quoted || a[i] != ';')) {
			if (a[i] == '"')
				quoted = !quoted;
			i++;
		}
		const char *p = a + k;
		size_t plen = i - k;
		if (plen >= nlen && !memcmp(p, name, nlen) && (plen == nlen || p[nlen] == '=')) {
			if (plen == nlen) {
				*vlen = 0;
				return p + plen;
			}
			const char *val = p + nlen + 1;
			size_t l = plen - nlen - 1;
			if (l >= 2 && val[0] == '"' && val[l - 1] == '"') {
				val++;
				l -= 2;
			}
			*vlen = l;
			return val;
		}
	}
	return NULL;
}

static char *dup_n(const char *s, size_t n)
{
	char *d = malloc(n + 1);
	if (d) {
		memcpy(d, s, n);
		d[n] = '\0';
	}
	return d;
}

int lnk_parse(const char *s, size_t len, struct lnk_info *out)
{
	struct raw_link *links = NULL;
	const char *root = "/";
	size_t rlen = 1;
	int n, rc = 0;

	memset(out, 0, sizeof(*out));
	n = split_links(s, len, &links);
	if (n < 0)
		return n;
	if (n == 0) {
		free(links);
		return -EBADMSG;
	}
	for (int i = 0; i < n; i++) {
		size_t vl;
		const char *rt = find_attr(links[i].attrs, links[i].alen, "rt", &vl);
		if (rt && vl == 9 && !memcmp(rt, "oma.lwm2m", 9)) {
			root = links[i].uri;
			rlen = links[i].ulen;
			const char *ct = find_attr(links[i].attrs, links[i].alen, "ct", &vl);
			if (ct && !(out->root_ct = dup_n(ct, vl)))
				rc = -ENOMEM;
			break;
		}
	}
	/* "/" and "" both mean no alternate path */
	if (rlen && root[rlen - 1] == '/')
		rlen--;
	out->root = rlen ? dup_n(root, rlen) : dup_n("/", 1);
	out->objs = calloc((size_t)n, sizeof(*out->objs));
	if (!out->root || !out->objs) {
		rc = -ENOMEM;
		goto done;
	}
	for (int i = 0; i < n; i++) {
		const char *u = links[i].uri;
		size_t ul = links[i].ulen;
		struct lwm_path p;

		if (ul < rlen || memcmp(u, root, rlen))
			continue;
		u += rlen;
		ul -= rlen;
		if (ul < 2 || u[0] != '/')
			continue;
		if (lwm_path_parse(u, ul, &p) < 0 || p.len < 1 || p.len > 2)
			continue;
		struct lnk_obj *o = &out->objs[out->nobj++];
		o->path = p;
		size_t vl;
		const char *ver = find_attr(links[i].attrs, links[i].alen, "ver", &vl);
		if (ver && vl < sizeof(o->ver)) {
			memcpy(o->ver, ver, vl);
			o->ver[vl] = '\0';
		}
	}
done:
	free(links);
	return rc;
}

void lnk_free(struct lnk_info *info)
{
	free(info->root);
	free(info->root_ct);
	free(info->objs);
	memset(info, 0, sizeof(*info));
}
