/* Bootstrap without the network: the checks at Bootstrap-Finish, the
 * Bootstrap-Discover payload, and the saved state (round trip, a corrupt
 * or unusable file, the file's mode).  Then, on the fake clock against a
 * bootstrap server played by the test on a loopback socket, the back-off
 * between bootstraps whose accounts never register. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "gatewayd/clock.h"
#include "gatewayd/log.h"
#include "gatewayd/timerq.h"
#include "lwm2m/bootstrap.h"
#include "lwm2m/codec.h"
#include "lwm2m/engine.h"

static void set(struct lwm_model *m, uint16_t oid, uint16_t iid, uint16_t rid,
		struct lwm_value v)
{
	struct lwm_path p = lwm_path_make(3, oid, iid, rid, 0);
	int r = lwm_model_add_instance(m, oid, iid);

	assert_true(r == 0 || r == -EEXIST);
	assert_true(lwm_model_set(m, &p, &v) >= 0);
}

static struct lwm_value str(const char *s)
{
	struct lwm_value v = {.type = LWM_T_STRING};
	v.v.bytes.ptr = (const uint8_t *)s;
	v.v.bytes.len = strlen(s);
	return v;
}

static struct lwm_value opaque(const char *s)
{
	struct lwm_value v = str(s);
	v.type = LWM_T_OPAQUE;
	return v;
}

static struct lwm_value num(int64_t i)
{
	struct lwm_value v = {.type = LWM_T_INTEGER};
	v.v.i = i;
	return v;
}

static struct lwm_value boolean(bool b)
{
	struct lwm_value v = {.type = LWM_T_BOOLEAN};
	v.v.b = b;
	return v;
}

/* /0/0 the bootstrap account; /0/1 + /1/0 a NoSec account for ssid 101. */
static struct lwm_model *sample(void)
{
	struct lwm_model *m = lwm_model_new();

	assert_non_null(m);
	set(m, 0, 0, 0, str("coap://bs.example.com"));
	set(m, 0, 0, 1, boolean(true));
	set(m, 0, 0, 2, num(3));
	set(m, 0, 1, 0, str("coap://server.example.com:5683"));
	set(m, 0, 1, 1, boolean(false));
	set(m, 0, 1, 2, num(3));
	set(m, 0, 1, 10, num(101));
	set(m, 1, 0, 0, num(101));
	set(m, 1, 0, 1, num(600));
	set(m, 1, 0, 6, boolean(false));
	set(m, 1, 0, 7, str("U"));
	set(m, 3, 0, 0, str("Acme"));
	return m;
}

static void valid_account(void **state)
{
	struct lwm_model *m = sample();
	struct lwm_account a[2];
	char why[200];

	assert_int_equal(lwm_bootstrap_validate(m, "1.1", why, sizeof(why)), 1);
	assert_int_equal(lwm_bootstrap_accounts(m, "1.1", a, 2), 1);
	assert_int_equal(a[0].sec_iid, 1);
	assert_int_equal(a[0].srv_iid, 0);
	assert_int_equal(a[0].ssid, 101);
	assert_string_equal(a[0].uri, "coap://server.example.com:5683");
	assert_int_equal(a[0].mode, LWM_SEC_NOSEC);
	assert_int_equal(a[0].lifetime, 600);
	assert_string_equal(a[0].binding, "U");
	lwm_model_free(m);
}

/* An account this client cannot use beside one it can: the usable one is
 * enough, the other is left unused. */
static void unusable_account_beside_usable(void **state)
{
	struct lwm_model *m = sample();
	struct lwm_account a[2];
	char why[200];

	set(m, 0, 2, 0, str("coaps://x509.example.com"));
	set(m, 0, 2, 1, boolean(false));
	set(m, 0, 2, 2, num(2));
	set(m, 0, 2, 10, num(102));
	set(m, 1, 2, 0, num(102));
	set(m, 1, 2, 1, num(60));
	assert_int_equal(lwm_bootstrap_validate(m, "1.1", why, sizeof(why)), 1);
	assert_int_equal(lwm_bootstrap_accounts(m, "1.1", a, 2), 1);
	assert_int_equal(a[0].ssid, 101);
	lwm_model_free(m);
}

static void expect_refused(struct lwm_model *m, const char *reason)
{
	char why[200];

	assert_int_equal(lwm_bootstrap_validate(m, "1.1", why, sizeof(why)), -EINVAL);
	if (!strstr(why, reason))
		fail_msg("reason \"%s\" does not say \"%s\"", why, reason);
	lwm_model_free(m);
}

static void refused_at_finish(void **state)
{
	struct lwm_model *m = sample();

	/* No Server instance for the account. */
	lwm_model_remove_instance(m, 1, 0);
	expect_refused(m, "no Server instance with Short Server ID 101");

	/* Only the bootstrap account. */
	m = sample();
	lwm_model_remove_instance(m, 0, 1);
	expect_refused(m, "no LwM2M server account");

	/* A URI that is not CoAP. */
	m = sample();
	set(m, 0, 1, 0, str("http://server.example.com"));
	expect_refused(m, "not coap:// or coaps://");

	/* coaps:// with NoSec. */
	m = sample();
	set(m, 0, 1, 0, str("coaps://server.example.com"));
	expect_refused(m, "does not fit security mode nosec");

	/* PSK without a key. */
	m = sample();
	set(m, 0, 1, 0, str("coaps://server.example.com"));
	set(m, 0, 1, 2, num(0));
	set(m, 0, 1, 3, opaque("dev1"));
	expect_refused(m, "psk credentials incomplete (key /0/x/5 missing)");

	/* Certificates that are not certificates. */
	m = sample();
	set(m, 0, 1, 0, str("coaps://server.example.com"));
	set(m, 0, 1, 2, num(2));
	set(m, 0, 1, 3, opaque("not DER"));
	set(m, 0, 1, 4, opaque("not DER either"));
	set(m, 0, 1, 5, opaque("no key"));
	expect_refused(m, "our certificate (/0/x/3) is not a DER certificate");

	/* Certificate usage that needs a system trust store. */
	m = sample();
	set(m, 0, 1, 0, str("coaps://server.example.com"));
	set(m, 0, 1, 2, num(2));
	set(m, 0, 1, 3, opaque("x"));
	set(m, 0, 1, 4, opaque("x"));
	set(m, 0, 1, 5, opaque("x"));
	set(m, 0, 1, 15, num(1));
	expect_refused(m, "certificate usage 1 not supported");

	/* No such mode. */
	m = sample();
	set(m, 0, 1, 2, num(4));
	expect_refused(m, "security mode 4 not supported");

	/* No Short Server ID. */
	m = sample();
	lwm_model_remove_instance(m, 0, 1);
	set(m, 0, 1, 0, str("coap://server.example.com"));
	set(m, 0, 1, 1, boolean(false));
	set(m, 0, 1, 2, num(3));
	expect_refused(m, "no Short Server ID");

	/* A second bootstrap account: a client has at most one. */
	m = sample();
	set(m, 0, 5, 0, str("coap://other-bs.example.com"));
	set(m, 0, 5, 1, boolean(true));
	set(m, 0, 5, 2, num(3));
	expect_refused(m, "more than one bootstrap account (/0/0 and /0/5)");
}

/* Lifetime 0 is no limit from LwM2M 1.2 on; before, no valid lifetime. */
static void lifetime_zero(void **state)
{
	struct lwm_model *m = sample();
	struct lwm_account a;
	char why[200];

	set(m, 1, 0, 1, num(0));
	assert_int_equal(lwm_bootstrap_accounts(m, "1.2", &a, 1), 1);
	assert_int_equal(a.lifetime, 0);
	assert_int_equal(lwm_bootstrap_validate(m, "1.1", why, sizeof(why)), -EINVAL);
	assert_non_null(strstr(why, "no valid Lifetime"));
	set(m, 1, 0, 1, num(-1));
	assert_int_equal(lwm_bootstrap_validate(m, "1.2", why, sizeof(why)), -EINVAL);
	lwm_model_free(m);
}

static void psk_account_security(void **state)
{
	struct lwm_model *m = sample();
	struct lwm_account a;
	struct lwm_security *sec = NULL;
	char err[200];

	set(m, 0, 1, 0, str("coaps://server.example.com"));
	set(m, 0, 1, 2, num(0));
	set(m, 0, 1, 3, opaque("dev1"));
	set(m, 0, 1, 5, opaque("\x01\x02\x03\x04"));
	assert_int_equal(lwm_bootstrap_accounts(m, "1.1", &a, 1), 1);
	assert_int_equal(a.mode, LWM_SEC_PSK);
	assert_int_equal(lwm_account_security(m, &a, &sec, err, sizeof(err)), 0);
	assert_non_null(sec);
	assert_int_equal(lwm_security_mode(sec), LWM_SEC_PSK);
	assert_string_equal(lwm_security_psk_identity(sec), "dev1");
	lwm_security_free(sec);
	lwm_model_free(m);
}

static char *discover(struct lwm_model *m, const struct lwm_path *p, const char *version)
{
	struct lwm_buf b;
	char *s;

	lwm_buf_init(&b, 0);
	assert_int_equal(lwm_bootstrap_discover(m, p, version, &b), 0);
	s = strndup((const char *)b.data, b.len);
	lwm_buf_free(&b);
	return s;
}

static void discover_payload(void **state)
{
	struct lwm_model *m = sample();
	struct lwm_path root = {0}, obj = lwm_path_make(1, 1, 0, 0, 0);
	struct lwm_path acl = lwm_path_make(1, 2, 0, 0, 0);
	struct lwm_path none = lwm_path_make(1, 3304, 0, 0, 0);
	struct lwm_buf b;
	char *s;

	/* The bootstrap account has no ssid or uri; objects 0..2 are listed
	 * even without instances (here /2); objects announce their version
	 * when it is not 1.0, capped at the client's for OMA's objects. */
	s = discover(m, &root, "1.1");
	assert_string_equal(s, "</>;lwm2m=1.1,</0>;ver=1.1,</0/0>,</0/1>;ssid=101;"
			       "uri=\"coap://server.example.com:5683\",</1>;ver=1.1,"
			       "</1/0>;ssid=101,</2>;ver=1.1,</3>;ver=1.1,</3/0>");
	free(s);
	s = discover(m, &obj, "1.1");
	assert_string_equal(s, "</>;lwm2m=1.1,</1>;ver=1.1,</1/0>;ssid=101");
	free(s);
	s = discover(m, &acl, "1.2");
	assert_string_equal(s, "</>;lwm2m=1.2,</2>;ver=1.1");
	free(s);
	/* 1.0 has no lwm2m= link, and OMA's objects are 1.0 there. */
	s = discover(m, &obj, "1.0");
	assert_string_equal(s, "</1/0>;ssid=101");
	free(s);
	/* An object the device does not have: 4.04. */
	lwm_buf_init(&b, 0);
	assert_int_equal(lwm_bootstrap_discover(m, &none, "1.1", &b), -ENOENT);
	lwm_buf_free(&b);
	/* The URI is a quoted-string: its quotes are escaped. */
	set(m, 0, 1, 0, str("coap://a\"b\\c"));
	s = discover(m, &root, "1.0");
	if (!strstr(s, "</0/1>;ssid=101;uri=\"coap://a\\\"b\\\\c\","))
		fail_msg("uri not escaped: %s", s);
	free(s);
	lwm_model_free(m);
}

static char *state_file(void)
{
	char tmpl[] = "/tmp/gw-bootstrap-XXXXXX";
	char *dir = mkdtemp(tmpl), *file;

	assert_non_null(dir);
	assert_true(asprintf(&file, "%s/dev.bootstrap", dir) > 0);
	return file;
}

static void remove_state(char *file)
{
	char *slash = strrchr(file, '/');

	unlink(file);
	*slash = '\0';
	rmdir(file);
	free(file);
}

static void persistence_round_trip(void **state)
{
	struct lwm_model *m = sample(), *back = lwm_model_new();
	char *file = state_file(), err[300];
	const struct lwm_value *v;
	struct lwm_path p;
	struct stat st;

	set(m, 0, 1, 0, str("coaps://server.example.com"));
	set(m, 0, 1, 2, num(0));
	set(m, 0, 1, 3, opaque("dev1"));
	set(m, 0, 1, 5, opaque("\x01\x02\x03\x04"));
	/* A stale temporary file others may read does not leak the keys. */
	{
		char tmp[4200];
		int fd;
		snprintf(tmp, sizeof(tmp), "%s.tmp", file);
		fd = open(tmp, O_WRONLY | O_CREAT, 0644);
		assert_true(fd >= 0);
		assert_int_equal(fchmod(fd, 0644), 0);
		close(fd);
	}
	assert_int_equal(lwm_bootstrap_save(m, file, err, sizeof(err)), 0);
	assert_int_equal(stat(file, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);

	/* The bootstrap account comes from the configuration: kept as is. */
	set(back, 0, 0, 0, str("coap://other-bs.example.com"));
	set(back, 0, 0, 1, boolean(true));
	/* Stale accounts are replaced. */
	set(back, 1, 5, 0, num(9));
	assert_int_equal(lwm_bootstrap_load(back, file, "1.1", err, sizeof(err)), 0);
	p = lwm_path_make(3, 0, 0, 0, 0);
	v = lwm_model_get(back, &p);
	assert_non_null(v);
	assert_memory_equal(v->v.bytes.ptr, "coap://other-bs.example.com", v->v.bytes.len);
	p = lwm_path_make(2, 1, 5, 0, 0);
	assert_false(lwm_model_exists(back, &p));
	p = lwm_path_make(3, 0, 1, 5, 0);
	v = lwm_model_get(back, &p);
	assert_non_null(v);
	assert_int_equal(v->type, LWM_T_OPAQUE);
	assert_int_equal(v->v.bytes.len, 4);
	assert_memory_equal(v->v.bytes.ptr, "\x01\x02\x03\x04", 4);
	p = lwm_path_make(3, 1, 0, 1, 0);
	assert_int_equal(lwm_model_get(back, &p)->v.i, 600);
	/* Only /0../2 are saved: the device's objects are its own. */
	p = lwm_path_make(2, 3, 0, 0, 0);
	assert_false(lwm_model_exists(back, &p));
	/* The Server instance can be triggered again. */
	p = lwm_path_make(3, 1, 0, 9, 0);
	assert_true(lwm_model_exists(back, &p));
	assert_int_equal(lwm_bootstrap_validate(back, "1.1", err, sizeof(err)), 1);
	lwm_model_free(back);
	lwm_model_free(m);
	remove_state(file);
}

/* A saved account at the instance the configured bootstrap account has
 * now: the saved account is restored there (the bootstrap context puts its
 * account back elsewhere). */
static void saved_account_takes_bootstrap_instance(void **state)
{
	struct lwm_model *m = lwm_model_new(), *back = lwm_model_new();
	char *file = state_file(), err[300];
	struct lwm_path p = lwm_path_make(3, 0, 0, 0, 0);
	const struct lwm_value *v;

	set(m, 0, 0, 0, str("coap://dm.example.com"));
	set(m, 0, 0, 1, boolean(false));
	set(m, 0, 0, 2, num(3));
	set(m, 0, 0, 10, num(5));
	set(m, 1, 0, 0, num(5));
	set(m, 1, 0, 1, num(60));
	assert_int_equal(lwm_bootstrap_save(m, file, err, sizeof(err)), 0);
	set(back, 0, 0, 0, str("coap://bs.example.com"));
	set(back, 0, 0, 1, boolean(true));
	assert_int_equal(lwm_bootstrap_load(back, file, "1.1", err, sizeof(err)), 0);
	v = lwm_model_get(back, &p);
	assert_non_null(v);
	assert_int_equal(v->v.bytes.len, strlen("coap://dm.example.com"));
	assert_memory_equal(v->v.bytes.ptr, "coap://dm.example.com", v->v.bytes.len);
	p = lwm_path_make(3, 0, 0, 1, 0);
	assert_false(lwm_model_get(back, &p)->v.b);
	lwm_model_free(back);
	lwm_model_free(m);
	remove_state(file);
}

static void write_file(const char *file, const void *data, size_t len)
{
	int fd = open(file, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	close(fd);
}

static void corrupt_or_missing_state(void **state)
{
	struct lwm_model *m = sample();
	char *file = state_file(), err[300];
	struct lwm_path p = lwm_path_make(2, 0, 1, 0, 0);

	/* Never bootstrapped. */
	assert_int_equal(lwm_bootstrap_load(m, file, "1.1", err, sizeof(err)), -ENOENT);

	/* Garbage: reported with the file's name; no account is left. */
	write_file(file, "\xff\x00garbage", 9);
	assert_int_equal(lwm_bootstrap_load(m, file, "1.1", err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, file));
	assert_false(lwm_model_exists(m, &p));
	p = lwm_path_make(2, 0, 0, 0, 0); /* the bootstrap account stays */
	assert_true(lwm_model_exists(m, &p));

	/* Truncated. */
	lwm_model_free(m);
	m = sample();
	assert_int_equal(lwm_bootstrap_save(m, file, err, sizeof(err)), 0);
	assert_int_equal(truncate(file, 10), 0);
	assert_int_equal(lwm_bootstrap_load(m, file, "1.1", err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "corrupt"));

	/* Well-formed but unusable: a Security instance alone. */
	lwm_model_free(m);
	m = sample();
	lwm_model_remove_instance(m, 1, 0);
	assert_int_equal(lwm_bootstrap_save(m, file, err, sizeof(err)), 0);
	assert_int_equal(lwm_bootstrap_load(m, file, "1.1", err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "no usable account"));
	lwm_model_free(m);
	remove_state(file);
}

/* No silent caps: more instances than a fixed array would hold are all
 * deleted, and a state file of more records than a Bootstrap-Write used to
 * carry is read back whole. */
static void many_instances(void **state)
{
	struct lwm_model *m = sample(), *back = lwm_model_new();
	char *file = state_file(), err[300];
	struct lwm_path p;

	for (uint16_t i = 0; i < 300; i++) {
		set(m, 2, i, 0, num(3));
		set(m, 2, i, 1, num(i));
		set(m, 2, i, 3, num(101));
	}
	assert_int_equal(lwm_bootstrap_save(m, file, err, sizeof(err)), 0);
	set(back, 0, 0, 0, str("coap://bs.example.com"));
	set(back, 0, 0, 1, boolean(true));
	assert_int_equal(lwm_bootstrap_load(back, file, "1.1", err, sizeof(err)), 0);
	p = lwm_path_make(3, 2, 299, 1, 0);
	assert_non_null(lwm_model_get(back, &p));
	assert_int_equal(lwm_model_get(back, &p)->v.i, 299);

	/* Bootstrap-Delete of / takes every instance, the 257th too. */
	lwm_bootstrap_clear(m);
	p = lwm_path_make(2, 2, 256, 0, 0);
	assert_false(lwm_model_exists(m, &p));
	assert_int_equal(lwm_model_next_instance(m, 2, -1), -ENOENT);
	p = lwm_path_make(2, 0, 0, 0, 0); /* the bootstrap account stays */
	assert_true(lwm_model_exists(m, &p));
	lwm_model_free(back);
	lwm_model_free(m);
	remove_state(file);
}

/* ---- no bootstrap loop ------------------------------------------------------------ */

struct loop_env {
	int sock;                 /* the bootstrap server */
	char uri[64];
	struct timerq timers;
	struct lwm_engine *engine;
	struct lwm_model *model;
	struct lwm_bootstrap *b;
	unsigned finished;
};

/* The device's side after a bootstrap whose account refuses every Register
 * (with Bootstrap on Registration Failure set): bootstrap again. */
static void finished_then_refused(struct lwm_bootstrap *b, void *ud)
{
	struct loop_env *e = ud;

	e->finished++;
	assert_int_equal(lwm_bootstrap_start(b), 0);
}

static const struct lwm_bootstrap_ops loop_ops = {.finished = finished_then_refused};

/* A Bootstrap-Pack-Request waiting on the server's socket (timeout_ms 0:
 * only one already there) is answered with a pack of one NoSec account,
 * through libcoap, and the client takes it in.  False when none came. */
static bool serve_pack(struct loop_env *e, int timeout_ms)
{
	struct pollfd pfd = {.fd = e->sock, .events = POLLIN};
	struct pollfd cfd = {.fd = lwm_engine_fd(e->engine), .events = POLLIN};
	struct sockaddr_storage peer;
	socklen_t plen = sizeof(peer);
	uint8_t req[1500], resp[1500];
	struct lwm_record recs[7];
	struct lwm_path root = {0};
	struct lwm_buf pack;
	size_t n = 0, tkl;
	ssize_t len;

	if (poll(&pfd, 1, timeout_ms) != 1)
		return false;
	len = recvfrom(e->sock, req, sizeof(req), 0, (struct sockaddr *)&peer, &plen);
	assert_true(len >= 4);
	assert_int_equal(req[1], 0x01); /* GET /bspack (1.2) */
	tkl = req[0] & 0x0f;
	memset(recs, 0, sizeof(recs));
	recs[0].path = lwm_path_make(3, 0, 1, 0, 0);
	recs[0].value = str("coap://127.0.0.1:5683");
	recs[1].path = lwm_path_make(3, 0, 1, 1, 0);
	recs[1].value = boolean(false);
	recs[2].path = lwm_path_make(3, 0, 1, 2, 0);
	recs[2].value = num(3);
	recs[3].path = lwm_path_make(3, 0, 1, 10, 0);
	recs[3].value = num(1);
	recs[4].path = lwm_path_make(3, 1, 1, 0, 0);
	recs[4].value = num(1);
	recs[5].path = lwm_path_make(3, 1, 1, 1, 0);
	recs[5].value = num(300);
	recs[6].path = lwm_path_make(3, 1, 1, 7, 0);
	recs[6].value = str("U");
	lwm_buf_init(&pack, 0);
	assert_int_equal(lwm_encode(LWM_FMT_SENML_CBOR, &root, recs, 7, &pack), 0);
	/* ACK 2.05, the request's MID and token, Content-Format 112. */
	resp[n++] = (uint8_t)(0x60 | tkl);
	resp[n++] = 0x45;
	resp[n++] = req[2];
	resp[n++] = req[3];
	memcpy(resp + n, req + 4, tkl);
	n += tkl;
	resp[n++] = 0xc1;
	resp[n++] = LWM_FMT_SENML_CBOR;
	resp[n++] = 0xff;
	assert_true(n + pack.len <= sizeof(resp));
	memcpy(resp + n, pack.data, pack.len);
	n += pack.len;
	lwm_buf_free(&pack);
	assert_int_equal(sendto(e->sock, resp, n, 0, (struct sockaddr *)&peer, plen), (ssize_t)n);
	assert_int_equal(poll(&cfd, 1, 10000), 1);
	lwm_engine_io(e->engine);
	/* `finished` comes from a timer, outside libcoap's handler. */
	timerq_run(&e->timers, clock_now_ms());
	return true;
}

/* Each bootstrap ends well, but its account never registers: the device
 * bootstraps again, each time after a longer wait (2 s doubling to 300 s,
 * +-25%), never in a loop.  Half an hour of the fake clock holds about 13
 * Bootstrap-Requests, not thousands.  A successful registration makes
 * the next bootstrap go at once again. */
static void no_bootstrap_loop_without_registration(void **state)
{
	struct loop_env *e = calloc(1, sizeof(*e));
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t salen = sizeof(sa);
	struct lwm_bootstrap_config bc = {.name = "d", .endpoint = "ep", .version = "1.2"};
	uint64_t t0, last = 0, times[64];
	unsigned n = 0;

	assert_non_null(e);
	log_setup(LOG_TARGET_STDERR, LOG_CRIT);
	e->sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	assert_true(e->sock >= 0);
	assert_int_equal(bind(e->sock, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(getsockname(e->sock, (struct sockaddr *)&sa, &salen), 0);
	snprintf(e->uri, sizeof(e->uri), "coap://127.0.0.1:%u", ntohs(sa.sin_port));
	bc.server_uri = e->uri;
	clock_fake_set(1000000);
	timerq_init(&e->timers);
	e->model = lwm_model_new();
	assert_non_null(e->model);
	assert_int_equal(lwm_engine_new(&e->timers, &e->engine), 0);
	assert_int_equal(lwm_bootstrap_new(e->engine, e->model, &bc, &loop_ops, e, &e->b), 0);

	t0 = clock_now_ms();
	assert_int_equal(lwm_bootstrap_start(e->b), 0);
	/* The first request leaves at once. */
	assert_true(serve_pack(e, 10000));
	times[n++] = clock_now_ms();
	assert_int_equal(e->finished, 1);
	while (clock_now_ms() - t0 < 30 * 60 * 1000u) {
		/* A request already there went out without any wait. */
		if (serve_pack(e, 0)) {
			assert_true(n < 64);
			times[n++] = clock_now_ms();
			continue;
		}
		clock_fake_advance(100);
		timerq_run(&e->timers, clock_now_ms());
	}
	assert_int_equal(e->finished, n);
	if (n < 8 || n > 18)
		fail_msg("%u bootstraps in 30 minutes, expected about 13", n);
	for (unsigned i = 1; i < n; i++) {
		uint64_t gap = times[i] - times[i - 1];
		uint64_t want = i > 8 ? 300000u : 2000u << (i - 1);
		if (want > 300000u)
			want = 300000u;
		if (gap < want * 3 / 4)
			fail_msg("bootstrap %u came %llu ms after the previous one; at least %llu "
				 "expected", i + 1, (unsigned long long)gap,
				 (unsigned long long)(want * 3 / 4));
		last = gap;
	}
	assert_true(last >= 225000u);
	/* A registration succeeded: the next bootstrap goes at once. */
	lwm_bootstrap_stop(e->b);
	lwm_bootstrap_registered(e->b);
	e->finished = 0;
	assert_int_equal(lwm_bootstrap_start(e->b), 0);
	assert_true(serve_pack(e, 10000));
	assert_int_equal(e->finished, 1);
	lwm_bootstrap_stop(e->b);

	lwm_bootstrap_free(e->b);
	lwm_engine_free(e->engine);
	lwm_model_free(e->model);
	timerq_fini(&e->timers);
	close(e->sock);
	clock_fake_off();
	free(e);
}

/* ---- a bootstrap server's host name (issue 16, item 12a/b) ---------------- */

/* A resolver that holds each look-up until the test answers.  "localhost"
 * is in /etc/hosts: nothing reaches DNS, before or after names moved off
 * the loop. */
static struct {
	int starts, cancels;
	bool held;
	void (*done)(void *ud, int err, const struct sockaddr *sa, socklen_t len);
	void *ud;
} fr;

static int fr_start(void *ctx, const char *host, const char *port,
		    void (*done)(void *ud, int err, const struct sockaddr *sa, socklen_t len),
		    void *ud, void **handle)
{
	assert_string_equal(host, "localhost");
	assert_string_equal(port, "5783");
	assert_false(fr.held);
	fr.starts++;
	fr.held = true;
	fr.done = done;
	fr.ud = ud;
	*handle = &fr;
	return 0;
}

static void fr_cancel(void *ctx, void *handle)
{
	assert_true(fr.held);
	fr.held = false;
	fr.cancels++;
}

static void bootstrap_name_is_resolved_and_retried(void **state)
{
	static const struct lwm_resolver fake = {.start = fr_start, .cancel = fr_cancel};
	static const struct lwm_bootstrap_ops no_ops;
	struct lwm_bootstrap_config cfg = {
		.name = "d", .endpoint = "ep", .server_uri = "coap://localhost:5783"};
	struct lwm_model *m = lwm_model_new();
	struct lwm_engine *e;
	struct lwm_bootstrap *b;
	struct timerq tq;

	clock_fake_set(1000000);
	timerq_init(&tq);
	assert_int_equal(lwm_engine_new(&tq, &e), 0);
	lwm_engine_set_resolver(e, &fake);
	assert_int_equal(lwm_bootstrap_new(e, m, &cfg, &no_ops, NULL, &b), 0);
	assert_int_equal(fr.starts, 0); /* nothing looked up when made */
	assert_int_equal(lwm_bootstrap_start(b), 0);
	assert_int_equal(fr.starts, 1);
	assert_true(lwm_bootstrap_active(b));
	/* Does not resolve: a failed attempt, retried on the back-off. */
	fr.held = false;
	fr.done(fr.ud, -EHOSTUNREACH, NULL, 0);
	assert_int_equal(lwm_bootstrap_failures(b), 1);
	assert_true(lwm_bootstrap_active(b));
	clock_fake_advance(60000);
	timerq_run(&tq, clock_now_ms());
	assert_int_equal(fr.starts, 2);
	/* Freed while looking up: cancelled. */
	lwm_bootstrap_free(b);
	assert_int_equal(fr.cancels, 1);
	lwm_engine_free(e);
	lwm_model_free(m);
	timerq_fini(&tq);
	clock_fake_off();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(valid_account),
		cmocka_unit_test(bootstrap_name_is_resolved_and_retried),
		cmocka_unit_test(refused_at_finish),
		cmocka_unit_test(unusable_account_beside_usable),
		cmocka_unit_test(psk_account_security),
		cmocka_unit_test(lifetime_zero),
		cmocka_unit_test(discover_payload),
		cmocka_unit_test(persistence_round_trip),
		cmocka_unit_test(saved_account_takes_bootstrap_instance),
		cmocka_unit_test(corrupt_or_missing_state),
		cmocka_unit_test(many_instances),
		cmocka_unit_test(no_bootstrap_loop_without_registration),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
