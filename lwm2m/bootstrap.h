/* Client-initiated bootstrap (LwM2M TS Core 1.1/1.2, Bootstrap Interface).
 *
 * A bootstrap context talks to one bootstrap server over its own session
 * (NoSec or DTLS) and provisions the Security (/0), Server (/1) and Access
 * Control (/2) instances of a data model it is given: Bootstrap-Request
 * (POST /bs?ep=..&pct=..), then the server's Bootstrap-Write, -Read,
 * -Discover, -Delete and -Finish.  With LwM2M 1.2 it first asks for a
 * Bootstrap-Pack (GET /bspack?ep=..), the whole configuration in one
 * answer, and falls back to the Bootstrap-Request when the server answers
 * that with an error.  The result is validated at Finish and
 * saved atomically to a state file, so that a restart registers directly.
 *
 * The bootstrap server account itself is /0/x with Bootstrap-Server (/0/x/1)
 * true; it comes from the configuration, survives every Bootstrap-Delete and
 * is never saved; a bootstrap that fails leaves it as it was, and a client
 * has at most one (a second one is refused at Finish).  Its credentials
 * stay in the struct lwm_security given here, never in the model: a
 * server may write its own account (servers commonly do), which the model
 * keeps, but the session uses the configured credentials. */
#ifndef LWM_BOOTSTRAP_H
#define LWM_BOOTSTRAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine.h"
#include "model.h"
#include "security.h"

struct lwm_bootstrap;

struct lwm_bootstrap_config {
	const char *name;       /* for log lines (the device's name); copied */
	const char *endpoint;   /* endpoint client name; copied */
	const char *server_uri; /* the bootstrap server: coap:// or coaps://; copied */
	/* DTLS credentials towards the bootstrap server (coaps://), NULL for
	 * NoSec; copied. */
	const struct lwm_security *security;
	const char *version;    /* "1.0", "1.1" or "1.2": pct= from 1.1 on; copied */
	/* Where the result is kept (STATE_DIR/<device>.bootstrap); copied.
	 * NULL: not kept (tests). */
	const char *state_file;
	/* Seconds to wait for Bootstrap-Finish after the last bootstrap
	 * message; 0: LWM_BOOTSTRAP_FINISH_TIMEOUT_S.  A Finish answered 4.06
	 * does not end the session: the server may correct and finish again
	 * within this time. */
	uint32_t finish_timeout_s;
};

/* CoAP's EXCHANGE_LIFETIME: how long a bootstrap server may stay silent. */
#define LWM_BOOTSTRAP_FINISH_TIMEOUT_S 247u

struct lwm_bootstrap_ops {
	/* Bootstrap-Finish was accepted and the result saved: the model holds
	 * at least one usable account (lwm_bootstrap_accounts).  Runs from a
	 * timer, outside libcoap's handlers: the callee may free b. */
	void (*finished)(struct lwm_bootstrap *b, void *ud);
};

/* m is borrowed (shared with the device's clients) and must outlive b; the
 * bootstrap server account is added to it as /0/x (first free x) unless
 * an instance with Bootstrap-Server true is there already. */
int lwm_bootstrap_new(struct lwm_engine *e, struct lwm_model *m,
		      const struct lwm_bootstrap_config *cfg, const struct lwm_bootstrap_ops *ops,
		      void *ud, struct lwm_bootstrap **out);
void lwm_bootstrap_free(struct lwm_bootstrap *b);
/* Bootstrap: failures are retried with backoff and jitter until Finish is
 * accepted or lwm_bootstrap_stop.  The Bootstrap-Request goes now when it
 * is the first since a registration succeeded (or ever); otherwise after
 * the back-off of a failed attempt (2 s doubling to 300 s, +-25%), which
 * keeps growing over bootstraps whose accounts do not register.
 * -EALREADY when a bootstrap is under way. */
int lwm_bootstrap_start(struct lwm_bootstrap *b);
/* A registration with a management server succeeded: the next bootstrap
 * may go at once again. */
void lwm_bootstrap_registered(struct lwm_bootstrap *b);
void lwm_bootstrap_stop(struct lwm_bootstrap *b);
/* The result of a finished bootstrap cannot be used after all (e.g. a
 * server name does not resolve): count it as a failed attempt and bootstrap
 * again after the backoff. */
void lwm_bootstrap_retry(struct lwm_bootstrap *b, const char *why);
/* A bootstrap is under way (requested, serving the server, or backing off). */
bool lwm_bootstrap_active(const struct lwm_bootstrap *b);
/* Bootstrap attempts that failed since the last start. */
unsigned lwm_bootstrap_failures(const struct lwm_bootstrap *b);

/* ---- the bootstrapped result ------------------------------------------- */

/* One management server account: a Security instance that is not a
 * bootstrap account, paired by Short Server ID with a Server instance. */
struct lwm_account {
	uint16_t sec_iid, srv_iid;
	uint16_t ssid;
	char uri[256];
	enum lwm_sec_mode mode;
	uint32_t lifetime; /* 0: no limit (LwM2M 1.2) */
	char binding[8];
};

/* Check the model as Bootstrap-Finish must: at least one usable account, a
 * non-bootstrap Security instance with a Short Server ID, a parseable
 * coap:// or coaps:// URI that fits its mode, a mode libcoap's DTLS
 * library supports with keys that parse (lwm_security_from_account;
 * X.509 Certificate Usage 2 or 3), and a Server
 * instance with that Short Server ID, a lifetime (0, no limit, from
 * version "1.2" on; version NULL is "1.0") and a UDP binding.
 * Other Security instances are left unused.  Returns the number of usable
 * accounts, or -EINVAL with the reason in why (the first unusable
 * instance's, when there is one). */
int lwm_bootstrap_validate(struct lwm_model *m, const char *version, char *why, size_t whylen);
/* The accounts of a validated model, in Security instance order: up to max
 * written; returns how many there are (or -EINVAL as above). */
int lwm_bootstrap_accounts(struct lwm_model *m, const char *version, struct lwm_account *out,
			   size_t max);
/* The DTLS credentials of an account (*out NULL for NoSec).  0 or a
 * negative errno, with a message (never a key) in err. */
int lwm_account_security(struct lwm_model *m, const struct lwm_account *a,
			 struct lwm_security **out, char *err, size_t errlen);

/* ---- persistence -------------------------------------------------------- */

/* Save /0 (bootstrap accounts left out), /1 and /2 to file: SenML CBOR,
 * mode 0600, written to file.tmp, fsync'ed, renamed over file, directory
 * fsync'ed.  0 or a negative errno with a message in err. */
int lwm_bootstrap_save(struct lwm_model *m, const char *file, char *err, size_t errlen);
/* Replace the model's non-bootstrap /0, /1 and /2 instances with what file
 * holds (a saved account at the instance of a bootstrap account replaces
 * that too), and validate it.  -ENOENT: no file (never bootstrapped);
 * -EBADMSG: unreadable or invalid (the model is left without
 * management accounts; bootstrap again); the reason in err. */
int lwm_bootstrap_load(struct lwm_model *m, const char *file, const char *version, char *err,
		       size_t errlen);
/* lwm_bootstrap_load of b's state file into b's model, keeping the
 * configured bootstrap account there (put back at a free instance when a
 * saved account took its place).  Same results. */
int lwm_bootstrap_restore(struct lwm_bootstrap *b, char *err, size_t errlen);
/* Remove the model's non-bootstrap /0, /1 and /2 instances. */
void lwm_bootstrap_clear(struct lwm_model *m);

/* The Bootstrap-Discover payload for p (root or an object; RFC 6690):
 * `</>;lwm2m=1.1,</0>;ver=1.1,</0/0>;ssid=101;uri="coap://..",</1>;ver=1.1,
 * </1/0>;ssid=101,</2>;ver=1.1,</3>;ver=1.1,</3/0>`: objects 0 to 2 and
 * those with instances, with their version (capped at the client's for
 * OMA's objects) where it is not 1.0.  version NULL or "1.0" leaves out the
 * lwm2m= link.  0, -ENOENT (an object the device does not have) or
 * out->err. */
int lwm_bootstrap_discover(struct lwm_model *m, const struct lwm_path *p, const char *version,
			   struct lwm_buf *out);

#endif
