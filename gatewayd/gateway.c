#include "gateway.h"

#include "firmware.h"
#include "fw_fetch.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "device.h"
#include "host.h"
#include "loader.h"
#include "log.h"
#include "resolver.h"
#include "statefile.h"
#include "lwm2m/client.h"
#include "lwm2m/engine.h"

#ifndef ADAPTERDIR
#define ADAPTERDIR "/usr/lib/gatewayd/adapters"
#endif

/* Registration pacing wakes at most this often and starts a batch each time: a timer per
 * device, or a wake-up per device at high rates, would cost more than the starts. */
#define PACE_MIN_INTERVAL_MS 10

/* A removed or restarted device waits this long for its De-register's
 * answer (a restarted one registers again after it). */
#define RETIRE_DEREGISTER_MS 2000

/* A configuration generation.  Devices borrow their cfg_device, and adapters
 * the cfg nodes and strings, for the device's lifetime (adapter.h), so a
 * reload cannot re-point a running device at the new file's equal section:
 * each device keeps the generation it was made from alive instead.  A
 * generation goes when it is no longer current and its last device is gone. */
struct gw_gen {
	struct cfg *cfg;   /* owned */
	size_t users;      /* devices made from it, live or retiring */
	struct gw_gen *next;
};

struct gw_slot {
	struct gwd_device *dev;
	struct gw_gen *gen;
	const struct cfg_device *dc; /* in gen->cfg */
	/* Proposed by an adapter (gen is its own): a reload leaves it, unless
	 * the file now has a device of that name. */
	bool proposed;
};

/* A device being de-registered before it goes (device_retire). */
struct gw_retiree {
	struct gateway *gw;
	struct gwd_device *dev;
	struct gw_gen *gen;
	char *name; /* owned */
	struct gw_retiree *next;
};

struct gateway {
	struct gw_gen *gen;  /* the current configuration */
	struct gw_gen *old_gens; /* earlier ones that devices still use */
	struct gw_loop *loop;
	struct lwm_engine *engine;
	struct gw_resolver *resolver; /* server names, off the loop thread */
	struct fw_fetcher *fetcher;   /* firmware packages pulled (Object 5) */
	struct gw_watch *coap_watch;
	struct loader_set *adapters;
	struct gw_slot *devices;
	size_t n_devices, cap_devices;
	size_t n_started;
	struct gw_retiree *retiring;
	bool in_start; /* gateway_start's loop: a proposal must wait */
	/* Names of devices to make from the current configuration once every
	 * retiring device is gone (restarted ones, and those a reload adds
	 * meanwhile): the old and new instance of a device, or of a bus, never
	 * run side by side in an adapter.  Owned strings. */
	char **pending;
	size_t n_pending, cap_pending;
	bool stopping;
	/* Registration pacing: devices [pace_next, n_devices) wait for
	 * pace_timer; device pace_base started at pace_t0. */
	struct gw_timer pace_timer;
	size_t pace_next, pace_base;
	uint64_t pace_t0;
	void (*stop_done)(void *ud);
	void *stop_ud;
};

#define GW_CFG(gw) ((gw)->gen->cfg)

static void pace_tick(struct gw_timer *t, void *ud);

const char *gateway_adapter_dir(const struct cfg *cfg, const char *override)
{
	if (override)
		return override;
	if (cfg && cfg->gateway.adapter_dir)
		return cfg->gateway.adapter_dir;
	return ADAPTERDIR;
}

void gateway_print_diags(const struct cfg *cfg, FILE *f)
{
	for (size_t i = 0; i < cfg->n_diags; i++) {
		char *s = cfg_diag_format(&cfg->diags[i]);
		fprintf(f, "%s\n", s ? s : cfg->diags[i].msg);
		free(s);
	}
}

static void adapter_diag(struct cfg *cfg, const struct cfg_device *dc, int err)
{
	const config_setting_t *s = dc->node.own;
	const config_setting_t *a = s ? config_setting_get_member(s, "adapter") : NULL;

	if (!a && dc->profile)
		a = config_setting_get_member(dc->profile->setting, "adapter");
	cfg_diag_add(cfg, a ? a : s, "adapter \"%s\" cannot be used: %s", dc->adapter,
		     err == -ENOENT ? "no such adapter in the adapter directory"
		     : err == -EPROTO ? "incompatible ABI version (see the log)"
				      : strerror(-err));
}

size_t gateway_check(struct cfg *cfg, struct loader_set *set)
{
	size_t before = cfg->n_diags, n_made = 0;
	/* Every device stays until all are checked, as they would run: an
	 * adapter can then see what devices share (a Modbus serial port). */
	struct gwd_device **made = calloc(cfg->n_devices ? cfg->n_devices : 1, sizeof(*made));

	if (!made) {
		cfg_diag_add(cfg, NULL, "out of memory");
		return cfg->n_diags;
	}
	for (size_t i = 0; i < cfg->n_devices; i++) {
		const struct cfg_device *dc = &cfg->devices[i];
		struct gw_adapter *a;
		struct gwd_device *d;
		int r;

		device_check_points(cfg, dc);
		r = loader_set_get(set, dc->adapter, &a);
		if (r < 0) {
			adapter_diag(cfg, dc, r);
			continue;
		}
		/* The adapter reports its own errors through cfg_error. */
		if (device_create(cfg, dc, a, NULL, NULL, &d) == 0)
			made[n_made++] = d;
		else if (cfg->n_diags == before)
			cfg_diag_add(cfg, dc->node.own, "adapter %s refused the device", dc->adapter);
	}
	while (n_made)
		device_destroy(made[--n_made]);
	free(made);
	/* Only meaningful once every adapter has read what it knows. */
	if (cfg->n_diags == before)
		cfg_check_unknown_keys(cfg);
	return cfg->n_diags;
}

static void on_coap_readable(int fd, uint32_t revents, void *ud)
{
	struct gateway *gw = ud;

	lwm_engine_io(gw->engine);
}

/* ---- configuration generations ------------------------------------------- */

static struct gw_gen *gen_new(struct cfg *cfg)
{
	struct gw_gen *g = calloc(1, sizeof(*g));

	if (g)
		g->cfg = cfg;
	return g;
}

/* Free g once it is neither current nor used by a device. */
static void gen_release(struct gateway *gw, struct gw_gen *g)
{
	if (g == gw->gen || g->users > 0)
		return;
	for (struct gw_gen **pp = &gw->old_gens; *pp; pp = &(*pp)->next)
		if (*pp == g) {
			*pp = g->next;
			break;
		}
	cfg_free(g->cfg);
	free(g);
}

/* ---- the device set ------------------------------------------------------ */

static int slots_reserve(struct gateway *gw, size_t n)
{
	struct gw_slot *p;
	size_t cap;

	if (n <= gw->cap_devices)
		return 0;
	cap = gw->cap_devices ? gw->cap_devices : 16;
	while (cap < n)
		cap *= 2;
	p = realloc(gw->devices, cap * sizeof(*p));
	if (!p)
		return -ENOMEM;
	gw->devices = p;
	gw->cap_devices = cap;
	return 0;
}

/* Make dc's device (from generation g) and append it, unstarted. */
static int make_device_in(struct gateway *gw, struct gw_gen *g, const struct cfg_device *dc)
{
	struct gw_adapter *a;
	struct gwd_device *d;
	int r = slots_reserve(gw, gw->n_devices + 1);

	if (r == 0)
		r = loader_set_get(gw->adapters, dc->adapter, &a);
	if (r == 0)
		r = device_create(g->cfg, dc, a, gw->engine, loop_timers(gw->loop), &d);
	if (r < 0) {
		/* One bad device must not take the others down. */
		log_err(dc->name, "device not created: %s", strerror(-r));
		return r;
	}
	gw->devices[gw->n_devices++] = (struct gw_slot){.dev = d, .gen = g, .dc = dc};
	g->users++;
	return 0;
}

static int make_device(struct gateway *gw, const struct cfg_device *dc)
{
	return make_device_in(gw, gw->gen, dc);
}

static void slot_destroy(struct gateway *gw, struct gwd_device *d, struct gw_gen *g)
{
	device_destroy(d);
	g->users--;
	gen_release(gw, g);
}

static ssize_t find_slot(const struct gateway *gw, const char *name)
{
	for (size_t i = 0; i < gw->n_devices; i++)
		if (strcmp(gw->devices[i].dc->name, name) == 0)
			return (ssize_t)i;
	return -1;
}

static struct gw_retiree *find_retiree(const struct gateway *gw, const char *name)
{
	for (struct gw_retiree *t = gw->retiring; t; t = t->next)
		if (strcmp(t->name, name) == 0)
			return t;
	return NULL;
}

/* Start the device just appended: now, or at its turn when pacing. */
static void start_appended(struct gateway *gw)
{
	uint32_t rate = GW_CFG(gw)->gateway.registration_rate;

	if (gw->pace_next < gw->n_devices - 1)
		return; /* the pacer is running and will come to it */
	if (rate == 0 || gw->stopping) {
		if (!gw->stopping && device_start(gw->devices[gw->n_devices - 1].dev) == 0)
			gw->n_started++;
		gw->pace_next = gw->n_devices;
		return;
	}
	gw->n_started++; /* counted when queued, as gateway_start does */
	gw->pace_base = gw->pace_next;
	gw->pace_t0 = clock_now_ms();
	pace_tick(&gw->pace_timer, gw);
}

int gateway_add_device(struct gateway *gw, const struct cfg_device *dc)
{
	int r;

	if (gw->stopping)
		return -ESHUTDOWN;
	if (find_slot(gw, dc->name) >= 0)
		return -EEXIST;
	if (find_retiree(gw, dc->name))
		return -EBUSY;
	r = make_device(gw, dc);
	if (r == 0)
		start_appended(gw);
	return r;
}

static int pending_push(struct gateway *gw, const char *name)
{
	char *dup;

	if (gw->n_pending == gw->cap_pending) {
		size_t cap = gw->cap_pending ? gw->cap_pending * 2 : 8;
		char **p = realloc(gw->pending, cap * sizeof(*p));

		if (!p)
			return -ENOMEM;
		gw->pending = p;
		gw->cap_pending = cap;
	}
	dup = strdup(name);
	if (!dup)
		return -ENOMEM;
	gw->pending[gw->n_pending++] = dup;
	return 0;
}

static int str_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every retiring device is gone: make the pending ones, in the file's order,
 * from the current configuration (a device it no longer has is dropped). */
static void pending_drain(struct gateway *gw)
{
	const struct cfg *cfg = GW_CFG(gw);
	char **names = gw->pending;
	size_t n = gw->n_pending;

	gw->pending = NULL;
	gw->n_pending = gw->cap_pending = 0;
	qsort(names, n, sizeof(*names), str_cmp);
	for (size_t i = 0; n && i < cfg->n_devices; i++) {
		const char *name = cfg->devices[i].name;

		if (bsearch(&name, names, n, sizeof(*names), str_cmp) &&
		    gateway_add_device(gw, &cfg->devices[i]) == 0)
			log_info(name, "started with its new configuration");
	}
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

static void retired(struct gwd_device *d, void *ud)
{
	struct gw_retiree *t = ud;
	struct gateway *gw = t->gw;

	for (struct gw_retiree **pp = &gw->retiring; *pp; pp = &(*pp)->next)
		if (*pp == t) {
			*pp = t->next;
			break;
		}
	slot_destroy(gw, t->dev, t->gen);
	log_info(t->name, "removed");
	free(t->name);
	free(t);
	if (!gw->retiring && gw->n_pending && !gw->stopping)
		pending_drain(gw);
}

/* Add dc's device now, or once the retiring devices are gone. */
static int add_or_defer(struct gateway *gw, const struct cfg_device *dc)
{
	if (gw->retiring)
		return pending_push(gw, dc->name);
	return gateway_add_device(gw, dc);
}

/* Take slot i out of the set (the caller compacts) and retire its device. */
static int retire_slot(struct gateway *gw, size_t i, bool recreate)
{
	struct gw_slot *s = &gw->devices[i];
	struct gw_retiree *t = calloc(1, sizeof(*t));

	if (!t || !(t->name = strdup(s->dc->name)) ||
	    (recreate && pending_push(gw, s->dc->name) < 0)) {
		if (t)
			free(t->name);
		free(t);
		return -ENOMEM;
	}
	t->gw = gw;
	t->dev = s->dev;
	t->gen = s->gen;
	t->next = gw->retiring;
	gw->retiring = t;
	s->dev = NULL;
	/* A device still waiting for its pacing turn was never started: it
	 * stops at once (device_retire). */
	device_retire(t->dev, RETIRE_DEREGISTER_MS, retired, t);
	return 0;
}

/* Drop the slots whose device was retired, keeping the order (pacing). */
static void compact_slots(struct gateway *gw)
{
	size_t j = 0, next = gw->pace_next, base = gw->pace_base;

	for (size_t i = 0; i < gw->n_devices; i++) {
		if (!gw->devices[i].dev) {
			if (i < gw->pace_next)
				next--;
			if (i < gw->pace_base)
				base--;
			continue;
		}
		gw->devices[j++] = gw->devices[i];
	}
	gw->n_devices = j;
	gw->pace_next = next;
	gw->pace_base = base;
}

static int remove_or_restart(struct gateway *gw, const char *name, bool recreate)
{
	ssize_t i;
	int r;

	if (gw->stopping)
		return -ESHUTDOWN;
	i = find_slot(gw, name);
	if (i < 0)
		return -ENOENT;
	r = retire_slot(gw, (size_t)i, recreate);
	if (r == 0)
		compact_slots(gw);
	return r;
}

int gateway_remove_device(struct gateway *gw, const char *name)
{
	return remove_or_restart(gw, name, false);
}

int gateway_restart_device(struct gateway *gw, const char *name)
{
	return remove_or_restart(gw, name, true);
}

/* ---- devices adapters propose (ABI 1.3) ------------------------------------ */

static bool valid_key(const char *k)
{
	if (!k || !isalpha((unsigned char)*k))
		return false;
	for (; *k; k++)
		if (!isalnum((unsigned char)*k) && *k != '_' && *k != '-')
			return false;
	return true;
}

/* One key = value; in libconfig syntax; -EINVAL for what a file cannot say. */
static int write_setting(FILE *f, const struct gwd_setting *st)
{
	const struct gwd_value *v = &st->value;
	char num[64];

	if (!valid_key(st->key))
		return -EINVAL;
	fprintf(f, "%s = ", st->key);
	switch (v->type) {
	case GWD_V_BOOL:
		fputs(v->v.b ? "true" : "false", f);
		break;
	case GWD_V_INT:
		fprintf(f, "%" PRId64 "L", v->v.i);
		break;
	case GWD_V_UINT:
		if (v->v.u > INT64_MAX)
			return -EINVAL;
		fprintf(f, "%" PRIu64 "L", v->v.u);
		break;
	case GWD_V_DOUBLE:
		if (!isfinite(v->v.d))
			return -EINVAL;
		snprintf(num, sizeof(num), "%.17g", v->v.d);
		fprintf(f, "%s%s", num, strpbrk(num, ".eE") ? "" : ".0");
		break;
	case GWD_V_STRING: {
		char *str = strndup(v->v.bytes.ptr ? v->v.bytes.ptr : "", v->v.bytes.len);

		if (!str || strlen(str) != v->v.bytes.len) {
			free(str);
			return -EINVAL;
		}
		cfg_write_string_literal(f, str);
		free(str);
		break;
	}
	default:
		return -EINVAL;
	}
	fputs("; ", f);
	return 0;
}

static void write_section(FILE *f, const struct cfg *cfg, const char *name)
{
	const config_setting_t *s = config_lookup(&cfg->lc, name);

	if (!s)
		return;
	fprintf(f, "%s = ", name);
	cfg_write_setting(f, s);
	fputs(";\n", f);
}

/* The proposal as a configuration of its own: the running file's gateway,
 * servers and buses, the rule, and one device.  NULL on a bad setting or out
 * of memory (*err says which). */
static char *proposal_text(const struct cfg *cur, const struct cfg_profile *rule,
			   const struct gwd_device_proposal *p, int *err)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	*err = -ENOMEM;
	if (!f)
		return NULL;
	write_section(f, cur, "gateway");
	write_section(f, cur, "servers");
	write_section(f, cur, "buses");
	fputs("profiles = ( ", f);
	cfg_write_setting(f, rule->setting);
	fputs(" );\ndevices = ( { name = ", f);
	cfg_write_string_literal(f, p->name);
	fputs("; profile = ", f);
	cfg_write_string_literal(f, p->rule);
	fputs("; ", f);
	*err = 0;
	for (size_t i = 0; *err == 0 && i < p->n_settings; i++)
		*err = write_setting(f, &p->settings[i]);
	fputs("} );\n", f);
	if (fclose(f) != 0 && *err == 0)
		*err = -ENOMEM;
	if (*err < 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

static int propose_device(void *ctx, const struct gwd_device_proposal *p)
{
	struct gateway *gw = ctx;
	const struct cfg *cur = GW_CFG(gw);
	const struct cfg_profile *rule = NULL;
	struct cfg *ncfg = NULL;
	struct gw_gen *g;
	char *text, *label;
	int r;

	if (gw->stopping)
		return -ESHUTDOWN;
	if (gw->in_start)
		return -EAGAIN;
	if (!p->name || !p->rule || (p->n_settings && !p->settings))
		return -EINVAL;
	if (find_slot(gw, p->name) >= 0 || find_retiree(gw, p->name))
		return -EEXIST;
	for (size_t i = 0; i < cur->n_profiles; i++)
		if (strcmp(cur->profiles[i].name, p->rule) == 0)
			rule = &cur->profiles[i];
	if (!rule) {
		log_warn(p->name, "proposed device refused: no rule (profile) \"%s\"", p->rule);
		return -ENOENT;
	}
	text = proposal_text(cur, rule, p, &r);
	if (!text) {
		log_warn(p->name, "proposed device refused: %s",
			 r == -EINVAL ? "a setting has a bad key or a value a file cannot hold"
				      : strerror(-r));
		return r;
	}
	if (asprintf(&label, "proposed device %s (rule %s)", p->name, p->rule) < 0) {
		free(text);
		return -ENOMEM;
	}
	r = cfg_load_text(label, text, &ncfg);
	free(label);
	free(text);
	/* Checked by the running adapters: beside the devices it will join. */
	if (r == 0 && gateway_check(ncfg, gw->adapters) > 0)
		r = -EINVAL;
	if (r < 0 || ncfg->n_devices != 1) {
		log_warn(p->name, "proposed device refused");
		for (size_t i = 0; ncfg && i < ncfg->n_diags; i++) {
			char *m = cfg_diag_format(&ncfg->diags[i]);
			log_warn(p->name, "%s", m ? m : ncfg->diags[i].msg);
			free(m);
		}
		cfg_free(ncfg);
		return r == -ENOMEM ? r : -EINVAL;
	}
	g = gen_new(ncfg);
	if (!g) {
		cfg_free(ncfg);
		return -ENOMEM;
	}
	g->next = gw->old_gens;
	gw->old_gens = g;
	r = make_device_in(gw, g, &ncfg->devices[0]);
	if (r < 0) {
		gen_release(gw, g);
		return r;
	}
	gw->devices[gw->n_devices - 1].proposed = true;
	log_notice(p->name, "proposed by its adapter (rule %s): starting", p->rule);
	start_appended(gw);
	return 0;
}

/* ---- the gateway --------------------------------------------------------- */

int gateway_new(struct cfg *cfg, struct gw_loop *loop, struct loader_set *adapters,
		struct gateway **out)
{
	struct gateway *gw = calloc(1, sizeof(*gw));
	int r;

	if (!gw || !(gw->gen = gen_new(cfg))) {
		free(gw);
		cfg_free(cfg);
		loader_set_free(adapters);
		return -ENOMEM;
	}
	gw->loop = loop;
	gw->adapters = adapters;
	r = slots_reserve(gw, cfg->n_devices);
	if (r < 0)
		goto fail;
	host_bind_loop(loop);
	gw_timer_init(&gw->pace_timer, loop_timers(loop), pace_tick, gw);
	r = lwm_engine_new(loop_timers(loop), &gw->engine);
	if (r < 0)
		goto fail;
	lwm_engine_set_op_timeout(gw->engine, cfg->gateway.operation_timeout_ms);
	r = resolver_new(loop, NULL, &gw->resolver);
	if (r < 0)
		goto fail;
	lwm_engine_set_resolver(gw->engine, &(struct lwm_resolver){
		.start = resolver_start, .cancel = resolver_cancel, .ctx = gw->resolver});
	lwm_engine_set_max_body(gw->engine, cfg->gateway.max_write_body);
	lwm_engine_set_max_observations(gw->engine, cfg->gateway.max_observations);
	r = fw_fetcher_new(loop, gw->engine, &gw->fetcher);
	if (r < 0)
		goto fail;
	firmware_bind(loop, gw->fetcher);
	r = loop_watch_fd(loop, lwm_engine_fd(gw->engine), EPOLLIN, on_coap_readable, gw,
			  &gw->coap_watch);
	if (r < 0)
		goto fail;
	host_bind_proposer(propose_device, gw);
	for (size_t i = 0; i < cfg->n_devices; i++)
		make_device(gw, &cfg->devices[i]);
	*out = gw;
	return 0;
fail:
	gateway_free(gw);
	return r;
}

/* Start the devices whose turn has come: `rate` per second since pace_t0
 * (device pace_base), the first at once.  Re-arms the one pacing timer for
 * the next batch. */
static void pace_tick(struct gw_timer *t, void *ud)
{
	struct gateway *gw = ud;
	uint64_t rate = GW_CFG(gw)->gateway.registration_rate;
	uint64_t now = clock_now_ms(), allowed, next;

	if (rate == 0) /* a reload turned pacing off: the rest at once */
		rate = UINT32_MAX;
	allowed = gw->pace_base + (now - gw->pace_t0) * rate / 1000u + 1u;
	while (gw->pace_next < gw->n_devices && gw->pace_next < allowed) {
		/* A failure was counted as started when queued; it is logged by the device. */
		if (device_start(gw->devices[gw->pace_next].dev) < 0)
			gw->n_started--;
		gw->pace_next++;
	}
	if (gw->pace_next >= gw->n_devices) {
		log_info(NULL, "registration pacing: all %zu device(s) started", gw->n_devices);
		return;
	}
	/* When the next device is due, but never sooner than the minimum interval. */
	next = gw->pace_t0 + ((gw->pace_next - gw->pace_base) * 1000u + rate - 1u) / rate;
	if (next < now + PACE_MIN_INTERVAL_MS)
		next = now + PACE_MIN_INTERVAL_MS;
	gw_timer_arm(&gw->pace_timer, next);
}

size_t gateway_start(struct gateway *gw)
{
	uint32_t rate = GW_CFG(gw)->gateway.registration_rate;

	gw->n_started = 0;
	if (rate == 0 || gw->n_devices <= 1) {
		gw->in_start = true;
		for (size_t i = 0; i < gw->n_devices; i++)
			if (device_start(gw->devices[i].dev) == 0)
				gw->n_started++;
		gw->in_start = false;
		gw->pace_next = gw->n_devices;
		return gw->n_started;
	}
	log_info(NULL, "registration pacing: starting %zu device(s) at %u per second (%.1f s)",
		 gw->n_devices, rate, (double)(gw->n_devices - 1) / rate);
	gw->n_started = gw->n_devices;
	gw->pace_next = 0;
	gw->pace_base = 0;
	gw->pace_t0 = clock_now_ms();
	pace_tick(&gw->pace_timer, gw);
	return gw->n_started;
}

static void stop_devices(struct gateway *gw)
{
	for (size_t i = 0; i < gw->n_devices; i++)
		device_stop(gw->devices[i].dev);
}

static void deregistered(void *ud)
{
	struct gateway *gw = ud;

	stop_devices(gw);
	if (gw->stop_done)
		gw->stop_done(gw->stop_ud);
}

void gateway_stop(struct gateway *gw, uint32_t timeout_ms, void (*done)(void *ud), void *ud)
{
	gw->stopping = true;
	gw->stop_done = done;
	gw->stop_ud = ud;
	/* Devices still waiting for their turn stay unstarted. */
	gw_timer_disarm(&gw->pace_timer);
	lwm_engine_shutdown(gw->engine, timeout_ms, deregistered, gw);
}

void gateway_free(struct gateway *gw)
{
	if (!gw)
		return;
	if (gw->pace_timer.q)
		gw_timer_disarm(&gw->pace_timer);
	host_bind_proposer(NULL, NULL);
	while (gw->retiring) {
		struct gw_retiree *t = gw->retiring;
		gw->retiring = t->next;
		device_destroy(t->dev);
		free(t->name);
		free(t);
	}
	for (size_t i = 0; i < gw->n_pending; i++)
		free(gw->pending[i]);
	free(gw->pending);
	for (size_t i = 0; i < gw->n_devices; i++)
		device_destroy(gw->devices[i].dev);
	statefile_flush(); /* the last values written reach the disk */
	free(gw->devices);
	firmware_bind(NULL, NULL);
	fw_fetcher_free(gw->fetcher);
	loop_unwatch_fd(gw->coap_watch);
	resolver_free(gw->resolver); /* after the clients, who may use it */
	lwm_engine_free(gw->engine);
	loader_set_free(gw->adapters);
	while (gw->old_gens) {
		struct gw_gen *g = gw->old_gens;
		gw->old_gens = g->next;
		cfg_free(g->cfg);
		free(g);
	}
	cfg_free(gw->gen->cfg);
	free(gw->gen);
	free(gw);
}

/* ---- reload -------------------------------------------------------------- */

static void put_setting(FILE *f, const config_setting_t *s);

static int member_cmp(const void *a, const void *b)
{
	const char *x = config_setting_name(*(config_setting_t *const *)a);
	const char *y = config_setting_name(*(config_setting_t *const *)b);

	return strcmp(x ? x : "", y ? y : "");
}

/* A setting's value in a canonical text: a group's members by name (their
 * order in the file means nothing), lists and arrays in order, numbers by
 * value (0x10 and 16 are the same). */
static void put_setting(FILE *f, const config_setting_t *s)
{
	int n;

	switch (config_setting_type(s)) {
	case CONFIG_TYPE_GROUP: {
		config_setting_t **m;

		n = config_setting_length(s);
		m = calloc(n ? (size_t)n : 1, sizeof(*m));
		if (!m) {
			fputs("\x01", f); /* never equal to anything: a restart */
			return;
		}
		for (int i = 0; i < n; i++)
			m[i] = config_setting_get_elem(s, (unsigned)i);
		qsort(m, (size_t)n, sizeof(*m), member_cmp);
		fputc('{', f);
		for (int i = 0; i < n; i++) {
			fprintf(f, "%s=", config_setting_name(m[i]));
			put_setting(f, m[i]);
			fputc(';', f);
		}
		fputc('}', f);
		free(m);
		return;
	}
	case CONFIG_TYPE_LIST:
	case CONFIG_TYPE_ARRAY:
		n = config_setting_length(s);
		fputc('(', f);
		for (int i = 0; i < n; i++) {
			put_setting(f, config_setting_get_elem(s, (unsigned)i));
			fputc(',', f);
		}
		fputc(')', f);
		return;
	case CONFIG_TYPE_INT:
	case CONFIG_TYPE_INT64:
		fprintf(f, "%lld", config_setting_get_int64(s));
		return;
	case CONFIG_TYPE_FLOAT:
		fprintf(f, "%.17g", config_setting_get_float(s));
		return;
	case CONFIG_TYPE_BOOL:
		fputs(config_setting_get_bool(s) ? "true" : "false", f);
		return;
	case CONFIG_TYPE_STRING: {
		/* Length first: no string can fake the text after it. */
		const char *v = config_setting_get_string(s);
		fprintf(f, "%zu\"%s\"", strlen(v), v);
		return;
	}
	default:
		fputs("?", f);
	}
}

static void put_section(FILE *f, const char *what, const config_setting_t *s)
{
	fprintf(f, "%s:", what);
	if (s)
		put_setting(f, s);
	fputc('\n', f);
}

/* Everything a device is made from, as one canonical text: two devices
 * with equal texts are made the same.  The device's group, its profile's,
 * its bus's and each of its servers' (with what the daemon derives: the
 * short server ID, the endpoint), and the gateway settings a device takes.
 * Files named in it (credentials) are not read: see gatewayd.conf(5).
 * NULL when out of memory. */
static char *device_fingerprint(const struct cfg *cfg, const struct cfg_device *dc)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		return NULL;
	fprintf(f, "gw:%zu\"%s\";%u;%u\nep:%zu\"%s\"\n", strlen(cfg->gateway.state_dir),
		cfg->gateway.state_dir, cfg->gateway.store_count, cfg->gateway.store_bytes,
		strlen(dc->endpoint), dc->endpoint);
	put_section(f, "device", dc->node.own);
	put_section(f, "profile", dc->profile ? dc->profile->setting : NULL);
	put_section(f, "bus", dc->bus ? dc->bus->node.own : NULL);
	for (size_t i = 0; i < dc->n_servers; i++) {
		fprintf(f, "server %u ", dc->servers[i]->short_id);
		put_section(f, "", dc->servers[i]->setting);
	}
	put_section(f, "bootstrap", dc->bootstrap ? dc->bootstrap->setting : NULL);
	if (fclose(f) != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

static bool same_device(const struct cfg *a, const struct cfg_device *da, const struct cfg *b,
			const struct cfg_device *db)
{
	char *fa = device_fingerprint(a, da), *fb = device_fingerprint(b, db);
	bool same = fa && fb && strcmp(fa, fb) == 0;

	free(fa);
	free(fb);
	return same;
}

struct named {
	const char *name;
	size_t i;
};

static int named_cmp(const void *a, const void *b)
{
	return strcmp(((const struct named *)a)->name, ((const struct named *)b)->name);
}

/* Every diag of cfg, logged and (when out) one per line in *out. */
static void reload_errors(const struct cfg *cfg, char **out)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = out ? open_memstream(&buf, &len) : NULL;

	for (size_t i = 0; cfg && i < cfg->n_diags; i++) {
		char *s = cfg_diag_format(&cfg->diags[i]);
		log_err(NULL, "reload: %s", s ? s : cfg->diags[i].msg);
		if (f)
			fprintf(f, "%s\n", s ? s : cfg->diags[i].msg);
		free(s);
	}
	if (f && fclose(f) == 0)
		*out = buf;
	else if (f)
		free(buf);
}

/* Apply ncfg (valid): compare device by device, by name, and touch only
 * what differs.  Sorting both sides keeps 10,000 devices cheap. */
static int reload_devices(struct gateway *gw, struct cfg *ncfg, struct gateway_reload_result *res)
{
	size_t n_old = gw->n_devices, n_new = ncfg->n_devices, i = 0, j = 0;
	struct named *o = calloc(n_old ? n_old : 1, sizeof(*o));
	struct named *n = calloc(n_new ? n_new : 1, sizeof(*n));
	bool *add = calloc(n_new ? n_new : 1, sizeof(*add));
	struct gw_gen *g = gen_new(ncfg);
	bool retired_any = false;

	if (!o || !n || !add || !g) {
		free(o);
		free(n);
		free(add);
		free(g);
		return -ENOMEM;
	}
	for (size_t k = 0; k < n_old; k++)
		o[k] = (struct named){gw->devices[k].dc->name, k};
	for (size_t k = 0; k < n_new; k++)
		n[k] = (struct named){ncfg->devices[k].name, k};
	qsort(o, n_old, sizeof(*o), named_cmp);
	qsort(n, n_new, sizeof(*n), named_cmp);
	while (i < n_old || j < n_new) {
		int c = i == n_old ? 1 : j == n_new ? -1 : strcmp(o[i].name, n[j].name);

		if (c < 0 && gw->devices[o[i].i].proposed) {
			i++; /* not the file's: it stays */
		} else if (c < 0) {
			log_notice(o[i].name, "reload: removed from the configuration");
			if (retire_slot(gw, o[i].i, false) == 0) {
				res->removed++;
				retired_any = true;
			}
			i++;
		} else if (c > 0) {
			add[n[j].i] = true;
			res->added++;
			j++;
		} else {
			struct gw_slot *s = &gw->devices[o[i].i];

			if (!s->proposed &&
			    same_device(s->gen->cfg, s->dc, ncfg, &ncfg->devices[n[j].i])) {
				res->unchanged++;
			} else {
				log_notice(o[i].name, "reload: changed: restarting it");
				if (retire_slot(gw, o[i].i, true) == 0) {
					res->restarted++;
					retired_any = true;
				}
			}
			i++;
			j++;
		}
	}
	if (retired_any)
		compact_slots(gw);
	/* The new file is current; the old one stays while devices use it. */
	gw->gen->next = gw->old_gens;
	gw->old_gens = gw->gen;
	gw->gen = g;
	gen_release(gw, gw->old_gens);
	/* In the file's order, as at start-up; after what is being removed
	 * or restarted is gone, when there is such a device. */
	for (size_t k = 0; k < n_new; k++)
		if (add[k]) {
			log_notice(ncfg->devices[k].name, "reload: added");
			add_or_defer(gw, &ncfg->devices[k]);
		}
	free(o);
	free(n);
	free(add);
	return 0;
}

/* Check ncfg with adapter instances of its own: the running devices hold
 * their buses and lines with the settings in force, which the new file may
 * change. */
static int check_alone(struct gateway *gw, struct cfg *ncfg)
{
	struct loader_set *set;
	size_t n;
	int r = loader_set_new(loader_set_dir(gw->adapters), loader_set_host(gw->adapters), &set);

	if (r < 0) {
		cfg_diag_add(ncfg, NULL, "cannot check the devices: %s", strerror(-r));
		return r;
	}
	n = gateway_check(ncfg, set);
	loader_set_free(set);
	return n > 0 ? -EINVAL : 0;
}

int gateway_reload(struct gateway *gw, struct gateway_reload_result *res)
{
	struct gateway_reload_result dummy;
	struct cfg *ncfg = NULL, *cur = GW_CFG(gw);
	int r;

	uint64_t t0 = clock_now_ms(), t1;

	if (!res)
		res = &dummy;
	memset(res, 0, sizeof(*res));
	if (gw->stopping)
		return -ESHUTDOWN;
	r = cfg_load(cur->file, &ncfg);
	if (r == 0)
		r = check_alone(gw, ncfg);
	t1 = clock_now_ms();
	if (r < 0) {
		log_err(NULL, "reload: %s is invalid; keeping the running configuration",
			cur->file);
		reload_errors(ncfg, res == &dummy ? NULL : &res->errors);
		cfg_free(ncfg);
		return r;
	}
	if (strcmp(ncfg->gateway.models_dir, cur->gateway.models_dir) != 0)
		log_notice(NULL, "reload: models_dir takes effect at the next restart");
	if (strcmp(gateway_adapter_dir(ncfg, NULL), gateway_adapter_dir(cur, NULL)) != 0)
		log_notice(NULL, "reload: adapter_dir takes effect at the next restart");
	r = reload_devices(gw, ncfg, res);
	if (r < 0) {
		log_err(NULL, "reload: %s; keeping the running configuration", strerror(-r));
		cfg_free(ncfg);
		return r;
	}
	/* Gateway-wide settings that apply live. */
	log_set_level(GW_CFG(gw)->gateway.log_level);
	lwm_engine_set_op_timeout(gw->engine, GW_CFG(gw)->gateway.operation_timeout_ms);
	log_notice(NULL, "reload: %zu added, %zu removed, %zu restarted, %zu unchanged "
		   "(read and checked in %" PRIu64 " ms, compared and applied in %" PRIu64 " ms)",
		   res->added, res->removed, res->restarted, res->unchanged, t1 - t0,
		   clock_now_ms() - t1);
	return 0;
}

size_t gateway_device_count(const struct gateway *gw)
{
	return gw->n_devices;
}

size_t gateway_registered_count(const struct gateway *gw)
{
	return lwm_engine_registered_count(gw->engine);
}

/* NULL for a slot whose device is being removed (a reload or gatewayctl): callers
 * skip it. */
struct gwd_device *gateway_device_at(const struct gateway *gw, size_t i)
{
	return i < gw->n_devices ? gw->devices[i].dev : NULL;
}

struct gwd_device *gateway_find_device(const struct gateway *gw, const char *name)
{
	for (size_t i = 0; i < gw->n_devices; i++)
		if (gw->devices[i].dev && strcmp(device_name(gw->devices[i].dev), name) == 0)
			return gw->devices[i].dev;
	return NULL;
}

const struct cfg *gateway_config(const struct gateway *gw)
{
	return GW_CFG(gw);
}
