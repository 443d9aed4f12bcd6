/* Information reporting: observations owned by the LwM2M layer.
 *
 * libcoap 4.3.1 cannot observe the unknown resource nor apply LwM2M
 * attributes per observer, so the engine keeps its own table per client:
 * (token, path or path list, content format, attributes, last notified
 * value, Observe sequence, one timer).  The decision "notify now, later or
 * not" is pure and separate from the I/O below it, so it can be tested
 * with the fake clock. */
#ifndef LWM_OBSERVE_H
#define LWM_OBSERVE_H

#include <stdbool.h>
#include <stdint.h>

#include "client.h"

/* ---- pure decision logic -------------------------------------------------------- */

/* Effective attributes of one observation: `chain` holds the attributes of
 * the observed path and its parents, most specific first (the Observe
 * request's own attributes, 1.2, go first); NULL entries are skipped.  Each
 * attribute comes from the most specific level that sets it; pmin and pmax
 * fall back to the Server object's defaults (/1/x/2, /1/x/3) when given
 * (def_set: LWM_ATTR_PMIN / LWM_ATTR_PMAX bits). */
void lwm_obs_resolve(struct lwm_attrs *out, const struct lwm_attrs *const *chain, size_t n,
		     uint32_t def_set, uint32_t def_pmin, uint32_t def_pmax);

/* What one observation remembers between notifications. */
struct lwm_obs_state {
	uint64_t last_ms;  /* when the last notification (or the Observe answer) went out */
	double last_num;   /* the numeric value then, when has_num */
	bool has_num;
	bool pending;      /* a qualifying change waits for pmin to pass */
};

enum lwm_obs_verdict {
	LWM_OBS_NONE = 0, /* the change does not qualify: no notification */
	LWM_OBS_NOW,      /* notify now */
	LWM_OBS_LATER,    /* notify at *at_ms (pmin not yet over) */
};

/* A value under the observation changed at now.  numeric: `value` is the
 * observed resource's new number (booleans as 0/1); false for strings,
 * opaque and object/instance observations, where any change qualifies.
 * gt/lt crossings (since the last notified value), st steps and edge
 * transitions qualify when set (any one suffices); without them any change
 * does.  Marks the state pending on NOW/LATER. */
enum lwm_obs_verdict lwm_obs_on_change(const struct lwm_attrs *a, struct lwm_obs_state *st,
				       bool numeric, double value, uint64_t now, uint64_t *at_ms);
/* The next moment the observation needs attention: a pending change's pmin
 * deadline or the pmax deadline, whichever is earlier; UINT64_MAX when
 * neither (pmax 0 or absent and nothing pending).  pmax below pmin is
 * ignored. */
uint64_t lwm_obs_deadline(const struct lwm_attrs *a, const struct lwm_obs_state *st);
/* Is a notification due at now (pending and pmin over, or pmax reached)? */
bool lwm_obs_due(const struct lwm_attrs *a, const struct lwm_obs_state *st, uint64_t now);
/* A notification carrying `value` (when numeric) went out at now. */
void lwm_obs_sent(struct lwm_obs_state *st, bool numeric, double value, uint64_t now);
/* How often the device should sample for this observation, in ms (0: no
 * need beyond its configuration): epmax when set, else pmin, else pmax;
 * never more often than epmin. */
uint32_t lwm_obs_sample_ms(const struct lwm_attrs *a);

/* ---- the observation table (client_internal.h users) ---------------------------- */

struct lwm_obs_table;

/* Notifications go out CON at least every LWM_OBS_CON_EVERY notifications
 * and every LWM_OBS_CON_MAX_MS, so a vanished server is noticed (a failed
 * CON ends the observation) even when NON is the default. */
#define LWM_OBS_CON_EVERY 20
#define LWM_OBS_CON_MAX_MS (24ull * 3600 * 1000)

#endif
