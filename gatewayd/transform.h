/* The point transform between an adapter channel and an LwM2M resource:
 * value = raw * scale + offset on the way in, the inverse (with the point's
 * min/max range check) on the way out.  Every adapter gets it for free. */
#ifndef GW_TRANSFORM_H
#define GW_TRANSFORM_H

#include "config.h"
#include "lwm2m/lwm_types.h"

/* Adapter reading -> value of a resource of type `type`.  String results
 * are written into strbuf (32 bytes) and borrowed from it.  Returns 0,
 * -EINVAL (not representable, e.g. 2.5 for an Integer resource is rounded
 * but a string for a Float resource is refused) or -ERANGE. */
int transform_to_resource(const struct cfg_point *pt, const struct gwd_value *raw,
			  enum lwm_type type, struct lwm_value *out, char strbuf[32]);

/* Value written by the server -> raw value for the adapter.  Numbers are
 * checked against the point's min/max (engineering units, before the inverse
 * transform) and handed to the adapter as doubles; booleans as booleans,
 * strings and opaque as they are.  -ERANGE when outside min/max, -EINVAL
 * when not convertible. */
int transform_to_device(const struct cfg_point *pt, const struct lwm_value *in,
			struct gwd_value *out);

#endif
