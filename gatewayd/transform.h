/* The point transform between an adapter channel and an LwM2M resource:
 * value = raw * scale + offset on the way in, the inverse (with the point's
 * min/max range check) on the way out.  Every adapter gets it for free. */
#ifndef GW_TRANSFORM_H
#define GW_TRANSFORM_H

#include "config.h"
#include "lwm2m/lwm_types.h"

/* Adapter reading -> value of a resource of type `type`.  Numbers written
 * as strings go into strbuf (32 bytes) and are borrowed from it.  Integer
 * readings stay exact (all 64 bits, signed or not) when scale and offset
 * are integers; otherwise the value is computed in double and rounded half
 * away from zero for integer resources.  Text for a String resource is
 * made valid UTF-8: invalid sequences become U+FFFD, written to text (which
 * may then be borrowed from; text may be NULL when the caller knows its
 * text is valid).  Returns 0, -EINVAL (not representable: a string for a
 * Float resource), -ERANGE (outside what the resource's type holds), or
 * text->err. */
int transform_to_resource(const struct cfg_point *pt, const struct gwd_value *raw,
			  enum lwm_type type, struct lwm_value *out, char strbuf[32],
			  struct lwm_buf *text);

/* Value written by the server -> raw value for the adapter.  Numbers are
 * checked against the point's min/max (engineering units, before the inverse
 * transform; integers compared exactly).  An integer whose inverse is an
 * integer (offset integral, scale an integer that divides it or the
 * reciprocal of one, as 0.1) goes to the adapter exactly, as GWD_V_INT
 * (GWD_V_UINT above INT64_MAX), for the adapter to range-check against its
 * device type; other numbers as doubles; booleans as booleans, strings and
 * opaque as they are.  -ERANGE when outside min/max (or past 64 bits),
 * -EINVAL when not convertible. */
int transform_to_device(const struct cfg_point *pt, const struct lwm_value *in,
			struct gwd_value *out);

#endif
