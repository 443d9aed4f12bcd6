/* CoRE link-format (RFC 6690) parsing of LwM2M registration payloads. */
#ifndef TS_LINKS_H
#define TS_LINKS_H

#include <stddef.h>
#include <stdint.h>

#include "lwm2m/lwm_types.h"

/* One object or object-instance link of a registration. */
struct lnk_obj {
	struct lwm_path path; /* len 1 (object) or 2 (instance) */
	char ver[8];	      /* ";ver=" value, "" when absent */
};

struct lnk_info {
	char *root;    /* alternate path from rt="oma.lwm2m" ("/" when none); owned */
	char *root_ct; /* ct= of the root link, NULL when absent; owned */
	size_t nobj;
	struct lnk_obj *objs; /* owned */
};

/* Parse a registration payload.  Links that are not LwM2M objects (other
 * roots, paths deeper than an instance) are skipped, not errors.
 * Returns 0, -EBADMSG (not link-format) or -ENOMEM; *out is always valid to
 * lnk_free afterwards. */
int lnk_parse(const char *s, size_t len, struct lnk_info *out);
void lnk_free(struct lnk_info *info);

#endif
