/* CoRE link format (RFC 6690) entries for Register, Update and Discover. */
#include "codec.h"

#include <string.h>

int lwm_link_append(struct lwm_buf *out, const struct lwm_path *p, const char *attrs)
{
	char path[32];
	int r = lwm_path_format(p, path, sizeof(path));

	if (r < 0)
		return r;
	if (out->len > 0)
		lwm_buf_putc(out, ',');
	lwm_buf_putc(out, '<');
	lwm_buf_append(out, path, (size_t)r);
	lwm_buf_putc(out, '>');
	if (attrs)
		lwm_buf_append(out, attrs, strlen(attrs));
	return out->err;
}
