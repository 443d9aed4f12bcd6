#include "sim_model.h"

#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <string.h>

#define SIM_GAMMA UINT64_C(0x9e3779b97f4a7c15)

uint64_t sim_mix64(uint64_t x)
{
	x += SIM_GAMMA;
	x = (x ^ (x >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	x = (x ^ (x >> 27)) * UINT64_C(0x94d049bb133111eb);
	return x ^ (x >> 31);
}

uint64_t sim_splitmix64(uint64_t *state)
{
	uint64_t r = sim_mix64(*state);

	*state += SIM_GAMMA;
	return r;
}

uint64_t sim_hash_str(const char *s)
{
	uint64_t h = UINT64_C(0xcbf29ce484222325);

	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= UINT64_C(0x100000001b3);
	}
	return h;
}

uint64_t sim_channel_seed(uint64_t device_seed, const char *channel)
{
	return sim_mix64(device_seed ^ sim_hash_str(channel));
}

/* ---- names ------------------------------------------------------------------ */

static const char *const kind_names[] = {
	[SIM_CONSTANT] = "constant",
	[SIM_SINE] = "sine",
	[SIM_SAWTOOTH] = "sawtooth",
	[SIM_SQUARE] = "square",
	[SIM_RANDOM_WALK] = "random_walk",
	[SIM_COUNTER] = "counter",
	[SIM_OUTPUT] = "output",
	[SIM_EXECUTE] = "execute",
};

static const char *const type_names[] = {
	[SIM_T_DOUBLE] = "double",
	[SIM_T_INT] = "int",
	[SIM_T_BOOL] = "bool",
	[SIM_T_STRING] = "string",
};

static const char *const action_names[] = {
	[SIM_RESET] = "reset",
	[SIM_TOGGLE] = "toggle",
	[SIM_INCREMENT] = "increment",
};

static const char *const fail_names[] = {
	[SIM_FAIL_NONE] = "none",
	[SIM_FAIL_TIMEOUT] = "timeout",
	[SIM_FAIL_ERROR] = "error",
	[SIM_FAIL_SILENT] = "silent",
};

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

static int lookup(const char *const *names, size_t n, const char *s)
{
	for (size_t i = 0; s && i < n; i++)
		if (strcmp(names[i], s) == 0)
			return (int)i;
	return -EINVAL;
}

static const char *name_of(const char *const *names, size_t n, unsigned i)
{
	return i < n ? names[i] : "?";
}

int sim_kind_parse(const char *s, enum sim_kind *out)
{
	int i = lookup(kind_names, N_OF(kind_names), s);

	if (i < 0)
		return i;
	*out = (enum sim_kind)i;
	return 0;
}

const char *sim_kind_name(enum sim_kind k)
{
	return name_of(kind_names, N_OF(kind_names), k);
}

bool sim_kind_is_wave(enum sim_kind k)
{
	return k != SIM_OUTPUT && k != SIM_EXECUTE;
}

int sim_type_parse(const char *s, enum sim_type *out)
{
	int i = lookup(type_names, N_OF(type_names), s);

	if (i < 0)
		return i;
	*out = (enum sim_type)i;
	return 0;
}

const char *sim_type_name(enum sim_type t)
{
	return name_of(type_names, N_OF(type_names), t);
}

int sim_action_parse(const char *s, enum sim_action *out)
{
	int i = lookup(action_names, N_OF(action_names), s);

	if (i < 0)
		return i;
	*out = (enum sim_action)i;
	return 0;
}

const char *sim_action_name(enum sim_action a)
{
	return name_of(action_names, N_OF(action_names), a);
}

int sim_fail_parse(const char *s, enum sim_fail_mode *out)
{
	int i = lookup(fail_names, N_OF(fail_names), s);

	if (i < 0)
		return i;
	*out = (enum sim_fail_mode)i;
	return 0;
}

const char *sim_fail_name(enum sim_fail_mode m)
{
	return name_of(fail_names, N_OF(fail_names), m);
}

/* ---- waveforms ---------------------------------------------------------------- */

double sim_default_period(enum sim_kind k)
{
	return k == SIM_RANDOM_WALK || k == SIM_COUNTER ? 1.0 : 60.0;
}

double sim_default_step(enum sim_kind k)
{
	return k == SIM_COUNTER ? 1.0 : 0.1;
}

void sim_wave_state_reset(struct sim_wave_state *st)
{
	memset(st, 0, sizeof(*st));
}

/* Position within the current cycle, in [0, 1). */
static double cycle_fraction(const struct sim_wave *w, uint64_t t_ms)
{
	double period_ms = w->period_s * 1000.0;

	return fmod((double)t_ms, period_ms) / period_ms;
}

/* Whole steps (periods) elapsed in t_ms. */
static uint64_t ticks(const struct sim_wave *w, uint64_t t_ms)
{
	return (uint64_t)floor((double)t_ms / (w->period_s * 1000.0));
}

/* One step of the walk: uniform in [-step, +step), from the tick's number
 * alone, so any tick can be recomputed without the ones before it. */
static double walk_delta(const struct sim_wave *w, uint64_t tick)
{
	uint64_t r = sim_mix64(w->seed + tick * SIM_GAMMA);
	double u = (double)(r >> 11) * 0x1p-53;

	return w->step * (2.0 * u - 1.0);
}

static double walk_bound(const struct sim_wave *w, double v)
{
	double lo = w->base - w->amplitude, hi = w->base + w->amplitude;

	if (w->amplitude <= 0.0)
		return v;
	/* Reflect off the bounds, so the walk does not stick to them. */
	if (v > hi)
		v = 2.0 * hi - v;
	else if (v < lo)
		v = 2.0 * lo - v;
	return v < lo ? lo : v > hi ? hi : v;
}

static double walk_value(const struct sim_wave *w, struct sim_wave_state *st, uint64_t t_ms)
{
	uint64_t n = ticks(w, t_ms);

	/* Resume from the cached position when possible; going back in time
	 * replays from the start, which gives the same numbers. */
	if (!st->walk_valid || st->walk_tick > n) {
		st->walk_tick = 0;
		st->walk_value = w->base;
		st->walk_valid = true;
	}
	while (st->walk_tick < n) {
		st->walk_tick++;
		st->walk_value = walk_bound(w, st->walk_value + walk_delta(w, st->walk_tick));
	}
	return st->walk_value;
}

static double counter_value(const struct sim_wave *w, const struct sim_wave_state *st,
			    uint64_t t_ms)
{
	uint64_t n = t_ms > st->counter_origin_ms ? ticks(w, t_ms - st->counter_origin_ms) : 0;

	return w->base + st->counter_extra + w->step * (double)n;
}

double sim_wave_value(const struct sim_wave *w, struct sim_wave_state *st, uint64_t t_ms)
{
	double f;

	switch (w->kind) {
	case SIM_SINE:
		f = cycle_fraction(w, t_ms);
		return w->base + w->amplitude * sin(2.0 * M_PI * f);
	case SIM_SAWTOOTH:
		f = cycle_fraction(w, t_ms);
		return w->base + w->amplitude * (2.0 * f - 1.0);
	case SIM_SQUARE:
		f = cycle_fraction(w, t_ms);
		return f < 0.5 ? w->base + w->amplitude : w->base - w->amplitude;
	case SIM_RANDOM_WALK:
		return walk_value(w, st, t_ms);
	case SIM_COUNTER:
		return counter_value(w, st, t_ms);
	case SIM_CONSTANT:
	case SIM_OUTPUT:
	case SIM_EXECUTE:
		break;
	}
	return w->base;
}

void sim_counter_reset(struct sim_wave_state *st, uint64_t t_ms)
{
	st->counter_origin_ms = t_ms;
	st->counter_extra = 0.0;
}

void sim_counter_increment(const struct sim_wave *w, struct sim_wave_state *st)
{
	st->counter_extra += w->step;
}

/* ---- failures ------------------------------------------------------------------ */

bool sim_fail_hits(const struct sim_fail *f, uint64_t op_index)
{
	if (f->mode == SIM_FAIL_NONE || op_index < f->after)
		return false;
	return f->count == 0 || op_index - f->after < f->count;
}
