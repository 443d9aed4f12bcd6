/* The sim adapter's model: waveforms, seeded random walk, counters and the
 * failure schedule.  Pure functions of their inputs (no host, no clock, no
 * globals), so tests can check exact values. */
#ifndef SIM_MODEL_H
#define SIM_MODEL_H

#include <stdbool.h>
#include <stdint.h>

/* ---- deterministic randomness ---------------------------------------------- */

/* splitmix64: advances *state and returns the next 64-bit output. */
uint64_t sim_splitmix64(uint64_t *state);
/* One splitmix64 output for a given state, without a state to advance. */
uint64_t sim_mix64(uint64_t x);
/* FNV-1a, 64-bit: seeds from names. */
uint64_t sim_hash_str(const char *s);
/* A channel's own seed, from the device's seed and the channel's name, so
 * that a channel's values do not depend on the order of the points. */
uint64_t sim_channel_seed(uint64_t device_seed, const char *channel);

/* ---- channels ------------------------------------------------------------------ */

enum sim_kind {
	SIM_CONSTANT,
	SIM_SINE,
	SIM_SAWTOOTH,
	SIM_SQUARE,
	SIM_RANDOM_WALK,
	SIM_COUNTER,
	SIM_OUTPUT,
	SIM_EXECUTE,
};

/* 0 or -EINVAL for an unknown name. */
int sim_kind_parse(const char *s, enum sim_kind *out);
const char *sim_kind_name(enum sim_kind k);
/* Whether the kind's value is computed from time (everything but output
 * and execute). */
bool sim_kind_is_wave(enum sim_kind k);

/* The value type a channel reports. */
enum sim_type {
	SIM_T_DOUBLE,
	SIM_T_INT,
	SIM_T_BOOL,
	SIM_T_STRING,
};

int sim_type_parse(const char *s, enum sim_type *out);
const char *sim_type_name(enum sim_type t);

/* What an execute channel does to its target. */
enum sim_action {
	SIM_RESET,     /* counter: back to base; output: back to initial */
	SIM_TOGGLE,    /* bool output: flip */
	SIM_INCREMENT, /* counter: one step now; numeric output: + 1 */
};

int sim_action_parse(const char *s, enum sim_action *out);
const char *sim_action_name(enum sim_action a);

/* A time-driven channel's parameters (see README.md for the formulas). */
struct sim_wave {
	enum sim_kind kind;
	double base;
	double amplitude;
	double period_s; /* > 0 */
	double step;
	uint64_t seed;   /* the channel's seed (sim_channel_seed) */
};

/* Default period by kind: a wave's cycle (60 s), or the interval between a
 * counter's or random walk's steps (1 s). */
double sim_default_period(enum sim_kind k);
/* Default step: random walk 0.1, counter 1. */
double sim_default_step(enum sim_kind k);

/* What a time-driven channel remembers: the random walk's last position
 * (only a cache: the value stays a function of time), and the counter's
 * origin and manual increments.  Zero it (sim_wave_state_reset) when the
 * device starts. */
struct sim_wave_state {
	uint64_t walk_tick; /* steps taken to reach walk_value */
	double walk_value;
	bool walk_valid;
	uint64_t counter_origin_ms; /* ticks count from here */
	double counter_extra;       /* manual increments since the origin */
};

void sim_wave_state_reset(struct sim_wave_state *st);
/* The channel's value at t_ms milliseconds after the device started. */
double sim_wave_value(const struct sim_wave *w, struct sim_wave_state *st, uint64_t t_ms);
/* Counter actions at time t_ms. */
void sim_counter_reset(struct sim_wave_state *st, uint64_t t_ms);
void sim_counter_increment(const struct sim_wave *w, struct sim_wave_state *st);

/* ---- failures ------------------------------------------------------------------- */

enum sim_fail_mode {
	SIM_FAIL_NONE,
	SIM_FAIL_TIMEOUT, /* ops complete with -ETIMEDOUT after a delay */
	SIM_FAIL_ERROR,   /* ops complete with -EIO at once */
	SIM_FAIL_SILENT,  /* ops never complete (until the device stops) */
};

int sim_fail_parse(const char *s, enum sim_fail_mode *out);
const char *sim_fail_name(enum sim_fail_mode m);

struct sim_fail {
	enum sim_fail_mode mode;
	uint64_t after; /* ops that succeed before failures start */
	uint64_t count; /* ops that fail before recovery; 0 = forever */
};

/* Whether the op with this 0-based index (counting every read, write and
 * execute the device accepted) fails. */
bool sim_fail_hits(const struct sim_fail *f, uint64_t op_index);

#endif
