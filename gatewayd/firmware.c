/* A device's Object 5: see firmware.h. */
#include "firmware.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "clock.h"
#include "fw_fetch.h"
#include "fw_hook.h"
#include "fw_pkg.h"
#include "log.h"
#include "loop.h"
#include "statefile.h"
#include "lwm2m/client.h"
#include "lwm2m/codec.h"
#include "lwm2m/model.h"

/* Object 5's resources. */
enum {
	R_PACKAGE = 0,
	R_URI = 1,
	R_UPDATE = 2,
	R_STATE = 3,
	R_RESULT = 5,
	R_NAME = 6,
	R_VERSION = 7,
	R_PROTOCOLS = 8,
	R_METHOD = 9,
	R_CANCEL = 10,
	R_SEVERITY = 11,
	R_CHANGE_TIME = 12,
	R_DEFER = 13,
	R_AUTO = 14,
};

/* What is being done with the device, while Updating. */
enum phase {
	PH_NONE = 0,
	PH_OPEN,
	PH_WRITE,
	PH_CLOSE,
	PH_APPLY,
	PH_RECOVER,        /* fw_recover after a restart */
	PH_AWAIT_VERSION,  /* after a restart, without fw_recover: the version */
	PH_HOOK,
};

#define STR_MAX 256 /* /5/0/1, 6 and 7 are 0..255 bytes */

struct fw_obj {
	struct fw_env env;
	char *path_state, *path_part, *path_pkg;
	enum fw_state state;
	int result;
	bool pull;                /* the download is a pull (resumable) */
	char uri[STR_MAX], name[STR_MAX], version[STR_MAX];
	int64_t severity;
	uint64_t defer_s;
	bool auto_update;

	/* The package being received into .part. */
	int part_fd;
	struct fw_pkg *pkg;
	uint64_t limit;           /* what this download may take (pull) */
	unsigned gen;             /* bumped when a download is dropped */
	/* Push: the sink the engine streams Block1 into (its own allocation:
	 * the engine may hold it after this object is gone). */
	struct fw_sink *sink;
	bool sink_busy;
	unsigned sink_gen;
	bool push_ended;          /* its last block came; the Write runs next */
	struct lwm_op *write_op;  /* answered once the package is on disk */
	/* .part -> .pkg: fsync and rename on a thread of their own. */
	pthread_t th;
	bool th_running;
	int th_fd, th_err;
	unsigned th_gen;
	/* Pull. */
	struct fw_fetch *fetch;

	/* The verified package in .pkg. */
	bool have_info;
	struct fw_pkg_info info;
	struct gwd_fw_info ginfo;
	int pkg_fd;

	/* Delivery. */
	enum phase phase;
	struct gwd_op *op;
	bool ignore_done;         /* inside fw_abort: its -ECANCELED is ours */
	uint64_t offset;
	size_t last_len;
	uint8_t *chunk;
	size_t chunk_size;
	unsigned pct, pct_logged;
	struct gw_timer kick, deadline, defer_timer;
	uint64_t defer_until;
	struct fw_hook *hook;
	char hook_version[STR_MAX];
	char reported[STR_MAX];   /* the version the adapter last reported */
	bool started;
};

/* A transfer the engine holds may outlive its device (the device goes while
 * a push is in flight): fw is then NULL and release frees the sink. */
struct fw_sink {
	struct lwm_block1_sink sink; /* first */
	struct fw_obj *fw;
};

static struct gw_loop *bound_loop;
static struct fw_fetcher *bound_fetcher;

void firmware_bind(struct gw_loop *loop, struct fw_fetcher *fetcher)
{
	bound_loop = loop;
	bound_fetcher = fetcher;
}

struct gw_loop *firmware_loop(void)
{
	return bound_loop;
}

struct fw_fetcher *firmware_fetcher(void)
{
	return bound_fetcher;
}

static const char *const state_names[] = {"Idle", "Downloading", "Downloaded", "Updating"};

/* ---- status -> Update Result ------------------------------------------------------- */

int firmware_download_result(int status)
{
	switch (status) {
	case 0:
		return 0;
	case -EFBIG:
	case -ENOSPC:
	case -EDQUOT:
		return 2;
	case -ENOMEM:
		return 3;
	case -ECONNRESET:
	case -ETIMEDOUT:
	case -EACCES:
	case -EPROTO:
	case -ECANCELED:
		return 4;
	case -EBADMSG:
		return 5;
	case -ENOTSUP:
		return 6;
	case -EINVAL:
	case -ENOENT:
	case -EHOSTUNREACH:
		return 7;
	case -EPROTONOSUPPORT:
		return 9;
	default:
		return 8;
	}
}

int firmware_update_result(int status)
{
	switch (status) {
	case 0:
		return 1;
	case -ENOSPC:
		return 2;
	case -ENOMEM:
		return 3;
	case -EBADMSG:
		return 5;
	case -ENOTSUP:
		return 6;
	case -ECANCELED:
		return 10;
	default:
		return 8;
	}
}

/* ---- the model --------------------------------------------------------------------- */

static struct lwm_path res_path(uint16_t rid)
{
	return lwm_path_make(3, 5, 0, rid, 0);
}

static void put(struct fw_obj *fw, uint16_t rid, const struct lwm_value *v, bool event)
{
	struct lwm_path p = res_path(rid);

	if (lwm_model_set(fw->env.model, &p, v) == 1 && fw->env.changed)
		fw->env.changed(fw->env.ud, &p, event);
}

static void put_int(struct fw_obj *fw, uint16_t rid, int64_t i, bool event)
{
	struct lwm_value v = {.type = LWM_T_INTEGER, .v.i = i};

	put(fw, rid, &v, event);
}

static void put_str(struct fw_obj *fw, uint16_t rid, const char *s)
{
	struct lwm_value v = {.type = LWM_T_STRING};

	v.v.bytes.ptr = (const uint8_t *)s;
	v.v.bytes.len = strlen(s);
	put(fw, rid, &v, false);
}

static void put_settings(struct fw_obj *fw)
{
	struct lwm_value d = {.type = LWM_T_UNSIGNED, .v.u = fw->defer_s};
	struct lwm_value a = {.type = LWM_T_BOOLEAN, .v.b = fw->auto_update};

	put_int(fw, R_SEVERITY, fw->severity, false);
	put(fw, R_DEFER, &d, false);
	put(fw, R_AUTO, &a, false);
}

static void persist(struct fw_obj *fw);

/* Last State Change Time goes first, as the object says. */
static void set_state(struct fw_obj *fw, enum fw_state s)
{
	struct lwm_value t = {.type = LWM_T_TIME, .v.i = clock_wall_s()};

	if (fw->state == s)
		return;
	put(fw, R_CHANGE_TIME, &t, false);
	log_info(fw->env.name, "firmware: %s -> %s (result %d)", state_names[fw->state],
		 state_names[s], fw->result);
	fw->state = s;
	put_int(fw, R_STATE, s, true);
}

static void set_result(struct fw_obj *fw, int r)
{
	fw->result = r;
	put_int(fw, R_RESULT, r, true);
}

static void set_text(struct fw_obj *fw, uint16_t rid, char *dst, const char *s)
{
	snprintf(dst, STR_MAX, "%s", s ? s : "");
	put_str(fw, rid, dst);
}

/* ---- the state file ------------------------------------------------------------------- */

static void hex_put(FILE *f, const char *key, const char *s)
{
	fprintf(f, "%s ", key);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		fprintf(f, "%02x", *p);
	fputc('\n', f);
}

static void hex_get(const char *hex, char *dst)
{
	size_t n = 0;
	unsigned x;

	while (n + 1 < STR_MAX && hex[0] && hex[1] && sscanf(hex, "%2x", &x) == 1) {
		dst[n++] = (char)x;
		hex += 2;
	}
	dst[n] = '\0';
}

/* "key value" lines; strings in hex.  Written off the loop (statefile.c). */
static void persist(struct fw_obj *fw)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		return;
	fprintf(f, "state %d\nresult %d\npull %d\nseverity %" PRId64 "\ndefer %" PRIu64
		   "\nauto %d\n",
		fw->state, fw->result, fw->pull, fw->severity, fw->defer_s, fw->auto_update);
	hex_put(f, "uri", fw->uri);
	hex_put(f, "name", fw->name);
	hex_put(f, "version", fw->version);
	if (fclose(f) == 0)
		statefile_put(fw->env.name, fw->path_state, buf, len);
	free(buf);
}

static void load_state(struct fw_obj *fw)
{
	FILE *f = fopen(fw->path_state, "re");
	char line[2 * STR_MAX + 32], key[16], val[2 * STR_MAX + 1];

	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		long long v;
		val[0] = '\0';
		if (sscanf(line, "%15s %512s", key, val) < 1)
			continue;
		v = strtoll(val, NULL, 10);
		if (strcmp(key, "state") == 0 && v >= FW_IDLE && v <= FW_UPDATING)
			fw->state = (enum fw_state)v;
		else if (strcmp(key, "result") == 0 && v >= 0 && v <= 11)
			fw->result = (int)v;
		else if (strcmp(key, "pull") == 0)
			fw->pull = v != 0;
		else if (strcmp(key, "severity") == 0 && v >= 0 && v <= 2)
			fw->severity = v;
		else if (strcmp(key, "defer") == 0 && v >= 0)
			fw->defer_s = (uint64_t)v;
		else if (strcmp(key, "auto") == 0)
			fw->auto_update = v != 0;
		else if (strcmp(key, "uri") == 0)
			hex_get(val, fw->uri);
		else if (strcmp(key, "name") == 0)
			hex_get(val, fw->name);
		else if (strcmp(key, "version") == 0)
			hex_get(val, fw->version);
	}
	fclose(f);
}

/* ---- the spool ---------------------------------------------------------------------- */

static void part_close(struct fw_obj *fw)
{
	if (fw->part_fd >= 0)
		close(fw->part_fd);
	fw->part_fd = -1;
	fw_pkg_free(fw->pkg);
	fw->pkg = NULL;
}

/* Nothing half-written stays. */
static void part_discard(struct fw_obj *fw)
{
	part_close(fw);
	if (!fw->th_running)
		unlink(fw->path_part);
}

static void pkg_discard(struct fw_obj *fw)
{
	if (fw->pkg_fd >= 0)
		close(fw->pkg_fd);
	fw->pkg_fd = -1;
	fw->have_info = false;
	unlink(fw->path_pkg);
}

static int part_append(struct fw_obj *fw, const uint8_t *data, size_t len)
{
	int r;

	if (fw->part_fd < 0)
		return -EBADF;
	r = fw_pkg_feed(fw->pkg, data, len);
	if (r < 0)
		return r;
	while (len) {
		ssize_t n = write(fw->part_fd, data, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno == EDQUOT || errno == EFBIG ? -ENOSPC : -errno;
		data += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Feed the bytes of an existing file to a fresh inspector (a restart:
 * resume a pull, re-check a package).  Start-up work, in 64 KiB reads. */
static int inspect_file(int fd, struct fw_pkg **out)
{
	uint8_t *buf = malloc(64 * 1024);
	struct fw_pkg *p = NULL;
	uint64_t off = 0;
	int r = buf ? fw_pkg_new(&p) : -ENOMEM;

	while (r == 0) {
		ssize_t n = pread(fd, buf, 64 * 1024, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			r = n < 0 ? -errno : 0;
			break;
		}
		r = fw_pkg_feed(p, buf, (size_t)n);
		off += (uint64_t)n;
	}
	free(buf);
	if (r < 0) {
		fw_pkg_free(p);
		return r;
	}
	*out = p;
	return 0;
}

/* Open .part: afresh, or (resume) keeping what is there. */
static int part_open(struct fw_obj *fw, bool resume)
{
	int r;

	part_close(fw);
	fw->part_fd = open(fw->path_part,
			   O_RDWR | O_CREAT | O_CLOEXEC | (resume ? O_APPEND : O_TRUNC), 0600);
	if (fw->part_fd < 0) {
		r = -errno;
		log_err(fw->env.name, "firmware: cannot open %s: %s", fw->path_part, strerror(-r));
		return r;
	}
	r = resume ? inspect_file(fw->part_fd, &fw->pkg) : fw_pkg_new(&fw->pkg);
	if (r < 0)
		part_discard(fw);
	return r;
}

/* What a package may take: the configured limit, the device's, the disk. */
static uint64_t space_limit(const struct fw_obj *fw)
{
	uint64_t lim = fw->env.max_size ? fw->env.max_size : UINT64_MAX;
	struct statvfs vfs;

	if (fw->env.adapter_updates && fw->env.caps.max_size && fw->env.caps.max_size < lim)
		lim = fw->env.caps.max_size;
	if (statvfs(fw->env.state_dir, &vfs) == 0) {
		uint64_t avail = (uint64_t)vfs.f_bavail * vfs.f_frsize;
		avail = avail > FW_DISK_RESERVE ? avail - FW_DISK_RESERVE : 0;
		if (avail < lim)
			lim = avail;
	}
	return lim;
}

/* ---- downloads (push and pull) --------------------------------------------------------- */

static void cancel_download(struct fw_obj *fw);

static int download_begin(struct fw_obj *fw, bool pull)
{
	int r;

	cancel_download(fw);
	pkg_discard(fw);
	r = part_open(fw, false);
	if (r < 0)
		return r;
	fw->pull = pull;
	fw->limit = space_limit(fw);
	fw->pct = fw->pct_logged = 0;
	set_text(fw, R_NAME, fw->name, "");
	set_text(fw, R_VERSION, fw->version, "");
	set_result(fw, 0);
	set_state(fw, FW_DOWNLOADING);
	persist(fw);
	return 0;
}

static void answer_write(struct fw_obj *fw, int status)
{
	struct lwm_op *op = fw->write_op;

	fw->write_op = NULL;
	if (op)
		lwm_op_complete(op, status);
}

static void download_failed(struct fw_obj *fw, int status)
{
	int res = firmware_download_result(status);

	log_notice(fw->env.name, "firmware: download failed after %" PRIu64 " bytes (%s): "
		   "Update Result %d", fw->pkg ? fw_pkg_length(fw->pkg) : 0,
		   strerror(status < 0 ? -status : EIO), res);
	fw->gen++;
	part_discard(fw);
	set_result(fw, res);
	set_state(fw, FW_IDLE);
	persist(fw);
	answer_write(fw, res == 2 ? -EFBIG : res == 5 || res == 6 ? -EINVAL : -EIO);
}

static void start_update(struct fw_obj *fw);

/* The package is whole, checked, and renamed to .pkg (or err). */
static void finish_done(struct fw_obj *fw, int err)
{
	if (err < 0) {
		unlink(fw->path_part);
		download_failed(fw, err);
		return;
	}
	fw->pkg_fd = open(fw->path_pkg, O_RDONLY | O_CLOEXEC);
	if (fw->pkg_fd < 0) {
		download_failed(fw, -errno);
		return;
	}
	fw->have_info = true;
	if (fw->info.version[0])
		set_text(fw, R_VERSION, fw->version, fw->info.version);
	log_info(fw->env.name, "firmware: package of %" PRIu64 " bytes stored (%s%s%s)",
		 fw->info.size, fw->info.format == GWD_FW_FMT_MCUBOOT ? "MCUboot " : "raw",
		 fw->info.version, fw->info.format == GWD_FW_FMT_MCUBOOT ? "" : "");
	set_state(fw, FW_DOWNLOADED);
	persist(fw);
	answer_write(fw, 0);
	if (fw->auto_update)
		gw_timer_arm(&fw->kick, clock_now_ms());
}

static int sync_and_rename(int fd, const char *from, const char *to, const char *dir)
{
	int err = fdatasync(fd) < 0 ? -errno : 0;
	int dfd;

	close(fd);
	if (err == 0 && rename(from, to) < 0)
		err = -errno;
	if (err == 0 && (dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
		fsync(dfd);
		close(dfd);
	}
	return err;
}

static void finish_posted(void *ud)
{
	struct fw_obj *fw = ud;
	bool dropped = fw->th_gen != fw->gen;

	pthread_join(fw->th, NULL);
	fw->th_running = false;
	if (dropped) {
		/* Cancelled or reset meanwhile: nothing of it stays. */
		unlink(fw->path_part);
		if (fw->state != FW_DOWNLOADED && fw->state != FW_UPDATING)
			unlink(fw->path_pkg);
		return;
	}
	finish_done(fw, fw->th_err);
}

static void *finish_thread(void *ud)
{
	struct fw_obj *fw = ud;

	fw->th_err = sync_and_rename(fw->th_fd, fw->path_part, fw->path_pkg, fw->env.state_dir);
	if (loop_post(bound_loop, finish_posted, fw) < 0) {
		/* Cannot happen short of memory; the loop never hears of it. */
		log_err(fw->env.name, "firmware: lost the end of a package's fsync");
	}
	return NULL;
}

/* Every byte is in .part: check the package, then make it durable.
 * Returns 1 (finishing on a thread: the Write is answered then), 0 (done:
 * Downloaded), or a negative errno for the Write (its result is set). */
static int download_complete(struct fw_obj *fw)
{
	const char *why;
	int r = fw_pkg_finish(fw->pkg, fw->env.raw_sha256, &fw->info, &why);

	if (r < 0) {
		log_notice(fw->env.name, "firmware: package refused: %s", why);
		download_failed(fw, -EBADMSG);
		return -EINVAL;
	}
	if (fw->env.adapter_updates && (fw->env.caps.flags & GWD_FW_CAP_MCUBOOT_ONLY) &&
	    fw->info.format != GWD_FW_FMT_MCUBOOT) {
		log_notice(fw->env.name, "firmware: package refused: the device takes MCUboot "
			   "images only");
		download_failed(fw, -ENOTSUP);
		return -EINVAL;
	}
	fw_pkg_free(fw->pkg);
	fw->pkg = NULL;
	if (bound_loop) {
		fw->th_fd = fw->part_fd;
		fw->th_gen = fw->gen;
		fw->part_fd = -1;
		fw->th_running = true;
		if (pthread_create(&fw->th, NULL, finish_thread, fw) == 0)
			return 1;
		fw->th_running = false;
		fw->part_fd = fw->th_fd;
	}
	/* No loop (tests) or no thread: here. */
	r = sync_and_rename(fw->part_fd, fw->path_part, fw->path_pkg, fw->env.state_dir);
	fw->part_fd = -1;
	finish_done(fw, r);
	return r < 0 ? -EIO : 0;
}

/* ---- pull ------------------------------------------------------------------------------- */

static int fetch_size(void *ud, uint64_t total)
{
	struct fw_obj *fw = ud;

	if (total > fw->limit) {
		log_notice(fw->env.name, "firmware: the package's %" PRIu64 " bytes are more than "
			   "the %" PRIu64 " it may take", total, fw->limit);
		return -EFBIG;
	}
	return 0;
}

static int fetch_data(void *ud, uint64_t off, const uint8_t *p, size_t len)
{
	struct fw_obj *fw = ud;

	if (!fw->pkg || off != fw_pkg_length(fw->pkg))
		return -EPROTO;
	if (off + len > fw->limit)
		return -EFBIG;
	return part_append(fw, p, len);
}

static void fetch_done(void *ud, int status)
{
	struct fw_obj *fw = ud;

	fw->fetch = NULL;
	if (status < 0)
		download_failed(fw, status);
	else
		download_complete(fw);
}

static const struct fw_fetch_ops fetch_ops = {
	.size = fetch_size, .data = fetch_data, .done = fetch_done,
};

/* The protocol bit of a URI's scheme; 0 when none of the four. */
static uint32_t scheme_bit(const char *uri)
{
	static const struct {
		const char *prefix;
		uint32_t bit;
	} schemes[] = {
		{"coap://", FW_PROTO_COAP},
		{"coaps://", FW_PROTO_COAPS},
		{"http://", FW_PROTO_HTTP},
		{"https://", FW_PROTO_HTTPS},
	};

	for (size_t i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++)
		if (strncasecmp(uri, schemes[i].prefix, strlen(schemes[i].prefix)) == 0)
			return schemes[i].bit;
	return 0;
}

/* RFC 3986 scheme ":" "//" authority, and nothing a string may not hold. */
static bool uri_plausible(const char *uri)
{
	const char *p = uri;

	if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')))
		return false;
	while ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
	       *p == '+' || *p == '-' || *p == '.')
		p++;
	if (strncmp(p, "://", 3) != 0 || !p[3] || p[3] == '/')
		return false;
	for (p = uri; *p; p++)
		if ((unsigned char)*p <= ' ' || *p == 0x7f)
			return false;
	return true;
}

static void pull_start(struct fw_obj *fw, bool resume)
{
	uint32_t have = bound_fetcher ? fw_fetcher_protocols(bound_fetcher) : 0;
	struct fw_fetch_params prm = {.uri = fw->uri, .give_up_ms = fw->env.give_up_ms,
				      .security = fw->env.security, .ca_file = fw->env.ca_file};
	int r;

	if (!(scheme_bit(fw->uri) & have)) {
		log_notice(fw->env.name, "firmware: cannot pull \"%s\": protocol not supported by "
			   "this build", fw->uri);
		if (resume)
			part_discard(fw);
		set_result(fw, 9);
		set_state(fw, FW_IDLE);
		persist(fw);
		return;
	}
	if (resume) {
		/* What is kept counts against what it may take. */
		r = part_open(fw, true);
		fw->limit = space_limit(fw) + (fw->pkg ? fw_pkg_length(fw->pkg) : 0);
		if (fw->env.max_size && fw->limit > fw->env.max_size)
			fw->limit = fw->env.max_size;
	} else {
		r = download_begin(fw, true);
	}
	if (r < 0) {
		download_failed(fw, r);
		return;
	}
	prm.offset = fw_pkg_length(fw->pkg);
	if (resume)
		log_info(fw->env.name, "firmware: resuming the download of %s at byte %" PRIu64,
			 fw->uri, prm.offset);
	r = fw_fetch_start(bound_fetcher, &prm, &fetch_ops, fw, &fw->fetch);
	if (r < 0) {
		fw->fetch = NULL;
		download_failed(fw, r);
	}
}

static void cancel_download(struct fw_obj *fw)
{
	if (fw->fetch)
		fw_fetch_cancel(fw->fetch);
	fw->fetch = NULL;
	fw->gen++; /* a push still coming is refused; a finishing thread's end dropped */
	part_discard(fw);
}

/* ---- push ------------------------------------------------------------------------------ */

static struct fw_obj *sink_fw(struct lwm_block1_sink *s)
{
	return ((struct fw_sink *)s)->fw;
}

static int sink_begin(struct lwm_block1_sink *s, uint64_t total_hint)
{
	struct fw_obj *fw = sink_fw(s);
	int r;

	(void)total_hint; /* checked against the limit by the table already */
	if (!fw || fw->state != FW_IDLE)
		return -EPERM;
	r = download_begin(fw, false);
	if (r < 0) {
		set_result(fw, firmware_download_result(r));
		return r;
	}
	fw->sink_gen = fw->gen;
	log_info(fw->env.name, "firmware: package push started%s", "");
	return 0;
}

static int sink_chunk(struct lwm_block1_sink *s, uint64_t off, const uint8_t *data, size_t len)
{
	struct fw_obj *fw = sink_fw(s);

	(void)off;
	if (!fw || fw->sink_gen != fw->gen)
		return -EPERM; /* cancelled or reset meanwhile */
	return part_append(fw, data, len);
}

static int sink_end(struct lwm_block1_sink *s)
{
	struct fw_obj *fw = sink_fw(s);

	if (!fw || fw->sink_gen != fw->gen)
		return -EPERM;
	fw->push_ended = true;
	return 0;
}

static void sink_abort(struct lwm_block1_sink *s)
{
	struct fw_obj *fw = sink_fw(s);
	int why = s->abort_reason;

	if (!fw || fw->sink_gen != fw->gen)
		return; /* ours already dropped it */
	if (why == -ECANCELED) {
		/* The server starts over: its new transfer begins afresh. */
		part_discard(fw);
		set_state(fw, FW_IDLE);
		persist(fw);
		return;
	}
	log_notice(fw->env.name, "firmware: package push dropped (%s)",
		   why == -ETIMEDOUT ? "no block for too long" :
		   why == -ECONNRESET ? "transfer replaced or session gone" :
		   why == -EPROTO ? "block out of sequence" : strerror(why < 0 ? -why : EIO));
	download_failed(fw, why ? why : -EIO);
}

static void sink_release(struct lwm_block1_sink *s)
{
	struct fw_obj *fw = sink_fw(s);

	if (!fw) {
		free(s); /* its device went first */
		return;
	}
	fw->sink_busy = false;
	if (fw->push_ended) {
		/* The Write never reached us (refused on its way): drop it. */
		fw->push_ended = false;
		if (fw->sink_gen == fw->gen)
			download_failed(fw, -EPROTO);
	}
}

static int refuse_begin(struct lwm_block1_sink *s, uint64_t total_hint)
{
	(void)s;
	(void)total_hint;
	return -EPERM;
}

/* For a push that may not start now (not Idle, or another one running). */
static struct lwm_block1_sink refuse_sink = {.begin = refuse_begin};

struct lwm_block1_sink *firmware_body_sink(struct fw_obj *fw, uint16_t format, uint64_t size1,
					   size_t *limit)
{
	uint64_t lim;

	/* Only the bytes themselves are streamed; a package inside another
	 * format (TLV, CBOR) is an ordinary Write, bounded as any. */
	if (format != LWM_FMT_OPAQUE)
		return NULL;
	if (fw->sink_busy || fw->state != FW_IDLE)
		return &refuse_sink;
	lim = space_limit(fw);
	*limit = lim > SIZE_MAX ? SIZE_MAX : (size_t)lim;
	if (size1 > lim) {
		/* The table refuses it with 4.13 before storing a byte. */
		log_notice(fw->env.name, "firmware: push of %" PRIu64 " bytes refused: more than "
			   "the %" PRIu64 " the package may take", size1, lim);
		set_result(fw, 2);
		persist(fw);
	}
	if (!fw->sink && !(fw->sink = calloc(1, sizeof(*fw->sink))))
		return NULL; /* the memory sink, bounded: refused beyond it */
	fw->sink->sink = (struct lwm_block1_sink){
		.begin = sink_begin, .chunk = sink_chunk, .end = sink_end,
		.abort = sink_abort, .release = sink_release,
	};
	fw->sink->fw = fw;
	fw->sink_busy = true;
	fw->push_ended = false;
	fw->sink_gen = fw->gen - 1; /* nothing until begin */
	return &fw->sink->sink;
}

/* ---- delivery ------------------------------------------------------------------------- */

static void update_succeeded(struct fw_obj *fw)
{
	bool reports = fw->env.adapter_updates &&
		       (fw->env.caps.flags & GWD_FW_CAP_REPORTS_VERSION) && fw->reported[0];
	/* The device's own word (the adapter's report, the hook's "version"
	 * line), else the package's. */
	const char *v = fw->hook_version[0] ? fw->hook_version :
			reports ? fw->reported :
			fw->info.version[0] ? fw->info.version :
			fw->version[0] ? fw->version : NULL;

	fw->phase = PH_NONE;
	gw_timer_disarm(&fw->deadline);
	if (v && fw->env.set_version)
		fw->env.set_version(fw->env.ud, v);
	log_notice(fw->env.name, "firmware: update applied%s%s", v ? ", now running " : "",
		   v ? v : "");
	pkg_discard(fw);
	set_result(fw, 1);
	set_state(fw, FW_IDLE);
	persist(fw);
}

static void update_failed(struct fw_obj *fw, int status)
{
	int res = firmware_update_result(status);

	fw->phase = PH_NONE;
	fw->defer_until = 0;
	gw_timer_disarm(&fw->deadline);
	log_notice(fw->env.name, "firmware: update failed (%s): Update Result %d",
		   strerror(status < 0 ? -status : EIO), res);
	set_result(fw, res);
	/* A package found bad goes; otherwise it stays for another Update. */
	if (res == 5 || res == 6) {
		pkg_discard(fw);
		set_state(fw, FW_IDLE);
	} else {
		set_state(fw, FW_DOWNLOADED);
	}
	persist(fw);
}

static void op_result(struct fw_obj *fw, int status);

/* Issue the phase's fw_* call with a fresh op. */
static void call_op(struct fw_obj *fw, enum phase ph)
{
	const struct gwd_adapter_ops *ops = fw->env.ops;
	struct gwd_op *op = fw->env.op_new(fw->env.ud);
	int r = -EIO;

	if (!op) {
		update_failed(fw, -ENOMEM);
		return;
	}
	fw->phase = ph;
	fw->op = op;
	switch (ph) {
	case PH_OPEN:
		r = ops->fw_open(fw->env.actx, &fw->ginfo, op);
		break;
	case PH_WRITE: {
		uint64_t left = fw->info.size - fw->offset;
		size_t n = left < fw->chunk_size ? (size_t)left : fw->chunk_size;
		ssize_t got;
		do
			got = pread(fw->pkg_fd, fw->chunk, n, (off_t)fw->offset);
		while (got < 0 && errno == EINTR);
		if (got != (ssize_t)n) {
			r = -EIO;
			log_err(fw->env.name, "firmware: cannot read the package at %" PRIu64,
				fw->offset);
			break;
		}
		fw->last_len = n;
		r = ops->fw_write(fw->env.actx, fw->offset, fw->chunk, n, op);
		break;
	}
	case PH_CLOSE:
		r = ops->fw_close(fw->env.actx, op);
		break;
	case PH_APPLY:
		r = ops->fw_apply(fw->env.actx, op);
		break;
	case PH_RECOVER:
		r = ops->fw_recover(fw->env.actx, &fw->ginfo, op);
		break;
	default:
		break;
	}
	if (r < 0) {
		fw->op = NULL;
		fw->env.op_drop(fw->env.ud, op);
		op_result(fw, r);
	}
}

static uint64_t apply_deadline(const struct fw_obj *fw)
{
	uint32_t ms = fw->env.adapter_updates && fw->env.caps.apply_timeout_ms
			      ? fw->env.caps.apply_timeout_ms : FW_APPLY_TIMEOUT_MS;

	return clock_now_ms() + ms;
}

/* The device cannot take it now (-EBUSY): Update Result 11 and another
 * try later, for up to Maximum Defer Period; 0 allows no deferral. */
static void defer_update(struct fw_obj *fw)
{
	uint64_t now = clock_now_ms();

	fw->phase = PH_NONE;
	if (!fw->defer_s || (fw->defer_until && now >= fw->defer_until)) {
		log_notice(fw->env.name, "firmware: the device is busy and the update may not be "
			   "deferred %s", fw->defer_s ? "any longer" : "(Maximum Defer Period 0)");
		update_failed(fw, -EBUSY);
		return;
	}
	if (!fw->defer_until)
		fw->defer_until = now + fw->defer_s * 1000u;
	log_info(fw->env.name, "firmware: the device is busy: update deferred");
	set_result(fw, 11);
	set_state(fw, FW_DOWNLOADED);
	persist(fw);
	gw_timer_arm(&fw->defer_timer, now + FW_DEFER_RETRY_MS);
}

static void op_result(struct fw_obj *fw, int status)
{
	switch (fw->phase) {
	case PH_OPEN:
		if (status == -EBUSY)
			return defer_update(fw);
		if (status < 0)
			return update_failed(fw, status);
		if (fw->state != FW_UPDATING) {
			set_result(fw, 0);
			set_state(fw, FW_UPDATING);
			persist(fw);
		}
		fw->defer_until = 0;
		fw->offset = 0;
		if (fw->info.size == 0)
			return call_op(fw, PH_CLOSE);
		return call_op(fw, PH_WRITE);
	case PH_WRITE:
		if (status < 0)
			return update_failed(fw, status);
		fw->offset += fw->last_len;
		firmware_progress(fw, (unsigned)(fw->offset * 100 / fw->info.size));
		return call_op(fw, fw->offset < fw->info.size ? PH_WRITE : PH_CLOSE);
	case PH_CLOSE:
		if (status < 0)
			return update_failed(fw, status);
		gw_timer_arm(&fw->deadline, apply_deadline(fw));
		return call_op(fw, PH_APPLY);
	case PH_APPLY:
	case PH_RECOVER:
		if (status < 0)
			return update_failed(fw, status);
		return update_succeeded(fw);
	default:
		return;
	}
}

void firmware_op_done(struct fw_obj *fw, int status)
{
	if (!fw->op)
		return;
	fw->op = NULL;
	if (fw->ignore_done)
		return;
	op_result(fw, status);
}

/* Stop the adapter's part of an update; its op's -ECANCELED is ours. */
static void abort_adapter(struct fw_obj *fw)
{
	if (fw->phase >= PH_OPEN && fw->phase <= PH_RECOVER && fw->env.ops->fw_abort) {
		fw->ignore_done = true;
		fw->env.ops->fw_abort(fw->env.actx);
		fw->ignore_done = false;
	}
	fw->op = NULL;
}

static void hook_progress(void *ud, unsigned percent)
{
	firmware_progress(ud, percent);
}

static void hook_version(void *ud, const char *version)
{
	struct fw_obj *fw = ud;

	snprintf(fw->hook_version, sizeof(fw->hook_version), "%s", version);
}

static void hook_done(void *ud, int status)
{
	struct fw_obj *fw = ud;

	fw->hook = NULL;
	if (status < 0)
		update_failed(fw, status);
	else
		update_succeeded(fw);
}

static const struct fw_hook_ops hook_ops = {
	.progress = hook_progress, .version = hook_version, .done = hook_done,
};

static const char *lookup_key(void *ud, const char *key)
{
	struct fw_obj *fw = ud;

	return fw->env.lookup ? fw->env.lookup(fw->env.ud, key) : NULL;
}

static void hook_start(struct fw_obj *fw)
{
	char hex[65];
	struct fw_hook_params p = {
		.command = fw->env.command,
		.image_path = fw->path_pkg,
		.device_name = fw->env.name,
		.endpoint = fw->env.endpoint,
		.pkg_name = fw->name[0] ? fw->name : NULL,
		.pkg_version = fw->version[0] ? fw->version : NULL,
		.sha256_hex = hex,
		.size = fw->info.size,
		.timeout_ms = fw->env.command_timeout_ms,
		.lookup = lookup_key,
		.lookup_ud = fw,
	};
	int r;

	fw_sha256_to_hex(fw->info.sha256, hex);
	fw->hook_version[0] = '\0';
	set_result(fw, 0);
	set_state(fw, FW_UPDATING);
	persist(fw);
	fw->phase = PH_HOOK;
	/* Without a loop (unit tests) nothing can watch a program. */
	r = bound_loop ? fw_hook_start(bound_loop, &p, &hook_ops, fw, &fw->hook) : -ENOSYS;
	if (r < 0) {
		fw->hook = NULL;
		log_err(fw->env.name, "firmware: cannot run firmware_command: %s", strerror(-r));
		update_failed(fw, -EIO);
	}
}

static void fill_ginfo(struct fw_obj *fw)
{
	fw->ginfo = (struct gwd_fw_info){
		.size = fw->info.size,
		.name = fw->name[0] ? fw->name : NULL,
		.version = fw->version[0] ? fw->version : NULL,
		.path = fw->path_pkg,
		.sha256 = fw->info.sha256,
		.format = fw->info.format,
		.image_offset = fw->info.image_offset,
		.image_size = fw->info.image_size,
	};
}

static void start_update(struct fw_obj *fw)
{
	if (fw->state != FW_DOWNLOADED || fw->phase != PH_NONE)
		return;
	if (!fw->have_info) {
		update_failed(fw, -EIO);
		return;
	}
	fill_ginfo(fw);
	fw->pct = fw->pct_logged = 0;
	if (fw->env.adapter_updates) {
		/* Updating once the device took fw_open (a busy one defers). */
		call_op(fw, PH_OPEN);
		if (fw->phase == PH_OPEN && fw->state != FW_UPDATING) {
			set_result(fw, 0);
			set_state(fw, FW_UPDATING);
			persist(fw);
		}
	} else if (fw->env.command) {
		hook_start(fw);
	} else {
		update_failed(fw, -ENOTSUP);
	}
}

static void kick_cb(struct gw_timer *t, void *ud)
{
	(void)t;
	start_update(ud);
}

static void defer_cb(struct gw_timer *t, void *ud)
{
	struct fw_obj *fw = ud;

	(void)t;
	if (fw->state == FW_DOWNLOADED && fw->result == 11 && fw->started)
		start_update(fw);
}

static void deadline_cb(struct gw_timer *t, void *ud)
{
	struct fw_obj *fw = ud;

	(void)t;
	log_notice(fw->env.name, "firmware: the device did not come back with the new firmware "
		   "in time");
	abort_adapter(fw);
	update_failed(fw, -ETIMEDOUT);
}

void firmware_progress(struct fw_obj *fw, unsigned percent)
{
	if (percent > 100)
		percent = 100;
	fw->pct = percent;
	if (percent >= fw->pct_logged + 25 || (percent == 100 && fw->pct_logged != 100)) {
		fw->pct_logged = percent - percent % 25;
		log_info(fw->env.name, "firmware: delivery %u%%", percent);
	}
}

void firmware_version_reported(struct fw_obj *fw, const char *version)
{
	if (version)
		snprintf(fw->reported, sizeof(fw->reported), "%s", version);
	if (fw->phase == PH_AWAIT_VERSION && version && fw->version[0] &&
	    strcmp(version, fw->version) == 0)
		update_succeeded(fw);
}

/* ---- the server's operations ------------------------------------------------------------ */

/* An empty Package or Package URI: back to Idle, the package gone. */
static int reset(struct fw_obj *fw)
{
	if (fw->state == FW_UPDATING)
		return -EPERM;
	cancel_download(fw);
	pkg_discard(fw);
	gw_timer_disarm(&fw->defer_timer);
	gw_timer_disarm(&fw->kick);
	fw->defer_until = 0;
	set_text(fw, R_URI, fw->uri, "");
	set_text(fw, R_NAME, fw->name, "");
	set_text(fw, R_VERSION, fw->version, "");
	set_result(fw, 0);
	set_state(fw, FW_IDLE);
	persist(fw);
	answer_write(fw, -ECANCELED);
	return LWM_OP_DONE;
}

static int write_package(struct fw_obj *fw, const struct lwm_value *v, struct lwm_op *lop)
{
	int r;

	if (fw->push_ended) {
		/* The Block1 push whose last block just came (its body is in
		 * the spool, the value here is empty). */
		fw->push_ended = false;
		r = download_complete(fw);
		if (r == 1) {
			fw->write_op = lop;
			return LWM_OP_PENDING;
		}
		return r < 0 ? r : LWM_OP_DONE;
	}
	if (v->v.bytes.len == 0)
		return reset(fw);
	/* The whole package in one request. */
	if (fw->state != FW_IDLE || fw->sink_busy)
		return -EPERM;
	if (v->v.bytes.len > space_limit(fw)) {
		set_result(fw, 2);
		persist(fw);
		return -EINVAL;
	}
	r = download_begin(fw, false);
	if (r < 0) {
		set_result(fw, firmware_download_result(r));
		return r;
	}
	r = part_append(fw, v->v.bytes.ptr, v->v.bytes.len);
	if (r < 0) {
		download_failed(fw, r);
		return -EIO;
	}
	r = download_complete(fw);
	if (r == 1) {
		fw->write_op = lop;
		return LWM_OP_PENDING;
	}
	return r < 0 ? r : LWM_OP_DONE;
}

static int write_uri(struct fw_obj *fw, const struct lwm_value *v)
{
	char uri[STR_MAX];

	if (v->v.bytes.len == 0)
		return reset(fw);
	if (fw->state != FW_IDLE || fw->sink_busy)
		return -EPERM;
	if (v->v.bytes.len >= sizeof(uri) || memchr(v->v.bytes.ptr, 0, v->v.bytes.len))
		return -EINVAL;
	memcpy(uri, v->v.bytes.ptr, v->v.bytes.len);
	uri[v->v.bytes.len] = '\0';
	set_text(fw, R_URI, fw->uri, uri);
	if (!uri_plausible(uri)) {
		log_notice(fw->env.name, "firmware: Package URI \"%s\" is not a URI", uri);
		set_result(fw, 7);
		persist(fw);
		return -EINVAL;
	}
	pull_start(fw, false);
	return LWM_OP_DONE;
}

int firmware_write(struct fw_obj *fw, const struct lwm_record *recs, size_t n,
		   struct lwm_op *lop)
{
	int r = LWM_OP_DONE;

	for (size_t i = 0; i < n && r == LWM_OP_DONE; i++) {
		const struct lwm_record *rec = &recs[i];
		const struct lwm_value *v = &rec->value;

		if (rec->path.len != 3 || LWM_PATH_OID(&rec->path) != 5 ||
		    LWM_PATH_IID(&rec->path) != 0)
			return -ENOENT;
		switch (LWM_PATH_RID(&rec->path)) {
		case R_PACKAGE:
			r = write_package(fw, v, lop);
			break;
		case R_URI:
			r = write_uri(fw, v);
			break;
		case R_SEVERITY:
			if (v->type != LWM_T_INTEGER || v->v.i < 0 || v->v.i > 2)
				return -EINVAL;
			fw->severity = v->v.i;
			put_settings(fw);
			persist(fw);
			break;
		case R_DEFER:
			fw->defer_s = v->type == LWM_T_UNSIGNED ? v->v.u :
				      v->type == LWM_T_INTEGER && v->v.i >= 0 ? (uint64_t)v->v.i : 0;
			put_settings(fw);
			persist(fw);
			break;
		case R_AUTO:
			if (v->type != LWM_T_BOOLEAN)
				return -EINVAL;
			fw->auto_update = v->v.b;
			put_settings(fw);
			persist(fw);
			break;
		default:
			return -EPERM;
		}
	}
	return r;
}

int firmware_execute(struct fw_obj *fw, uint16_t rid, struct lwm_op *lop)
{
	(void)lop;
	switch (rid) {
	case R_UPDATE:
		/* Only a downloaded package can be installed (4.05 otherwise). */
		if (fw->state != FW_DOWNLOADED || fw->phase != PH_NONE)
			return -EPERM;
		gw_timer_disarm(&fw->defer_timer);
		fw->defer_until = 0;
		gw_timer_arm(&fw->kick, clock_now_ms());
		return LWM_OP_DONE;
	case R_CANCEL:
		/* Before the Update only: once installing, 4.05. */
		if (fw->state != FW_DOWNLOADING && fw->state != FW_DOWNLOADED)
			return -EPERM;
		log_notice(fw->env.name, "firmware: update cancelled by the server");
		cancel_download(fw);
		pkg_discard(fw);
		gw_timer_disarm(&fw->defer_timer);
		gw_timer_disarm(&fw->kick);
		fw->defer_until = 0;
		answer_write(fw, -ECANCELED);
		set_result(fw, 10);
		set_state(fw, FW_IDLE);
		persist(fw);
		return LWM_OP_DONE;
	default:
		return -ENOENT;
	}
}

bool firmware_owns(const struct fw_obj *fw, const struct lwm_path *p)
{
	(void)fw;
	return p->len >= 2 && LWM_PATH_OID(p) == 5 && LWM_PATH_IID(p) == 0;
}

/* ---- life cycle ---------------------------------------------------------------------------- */

static int make_path(char **out, const struct fw_env *env, const char *suffix)
{
	return asprintf(out, "%s/%s%s", env->state_dir, env->name, suffix) < 0 ? -ENOMEM : 0;
}

static int build_model(struct fw_obj *fw)
{
	struct lwm_model *m = fw->env.model;
	uint32_t protos = bound_fetcher ? fw_fetcher_protocols(bound_fetcher) : 0;
	struct lwm_path p;
	uint16_t k = 0;
	int r = lwm_model_add_instance(m, 5, 0);

	if (r < 0 && r != -EEXIST)
		return r;
	for (uint16_t rid = R_PACKAGE; rid <= R_AUTO; rid++) {
		p = res_path(rid);
		if (rid != 4)
			lwm_model_add_resource(m, &p);
	}
	/* What this build can pull, and so how a package can come. */
	for (uint16_t bit = 0; bit < 4; bit++) {
		struct lwm_value v = {.type = LWM_T_INTEGER, .v.i = bit};
		if (!(protos & (1u << bit)))
			continue;
		p = lwm_path_make(4, 5, 0, R_PROTOCOLS, k++);
		lwm_model_set(m, &p, &v);
	}
	put_int(fw, R_METHOD, protos ? 2 : 1, false);
	put_str(fw, R_URI, fw->uri);
	put_str(fw, R_NAME, fw->name);
	put_str(fw, R_VERSION, fw->version);
	put_int(fw, R_STATE, fw->state, false);
	put_int(fw, R_RESULT, fw->result, false);
	put_settings(fw);
	{
		struct lwm_value t = {.type = LWM_T_TIME, .v.i = clock_wall_s()};
		put(fw, R_CHANGE_TIME, &t, false);
	}
	return 0;
}

/* Take up what the last run left. */
static void take_up_state(struct fw_obj *fw)
{
	enum fw_state was = fw->state;
	int result = fw->result;
	struct stat st;

	if (fw->state == FW_DOWNLOADED || fw->state == FW_UPDATING) {
		struct fw_pkg *p = NULL;
		const char *why = "cannot be read";
		int r = -EIO;

		fw->pkg_fd = open(fw->path_pkg, O_RDONLY | O_CLOEXEC);
		if (fw->pkg_fd >= 0 && (r = inspect_file(fw->pkg_fd, &p)) == 0)
			r = fw_pkg_finish(p, fw->env.raw_sha256, &fw->info, &why);
		fw_pkg_free(p);
		if (r < 0) {
			log_warn(fw->env.name, "firmware: the stored package %s (%s): back to Idle",
				 fw->path_pkg, fw->pkg_fd < 0 ? strerror(errno) : why);
			pkg_discard(fw);
			fw->state = FW_IDLE;
			fw->result = fw->pkg_fd < 0 ? 8 : 5;
		} else {
			fw->have_info = true;
			fill_ginfo(fw);
		}
	}
	if (fw->state == FW_DOWNLOADING && !fw->pull) {
		/* A push cannot resume: the server's transfer is gone. */
		log_notice(fw->env.name, "firmware: the package push was cut by a restart "
			   "(Update Result 4)");
		fw->state = FW_IDLE;
		fw->result = 4;
	}
	if (fw->state != FW_DOWNLOADING && stat(fw->path_part, &st) == 0)
		unlink(fw->path_part);
	if (fw->state != FW_DOWNLOADED && fw->state != FW_UPDATING && stat(fw->path_pkg, &st) == 0)
		unlink(fw->path_pkg);
	if (fw->state != was || fw->result != result)
		persist(fw);
}

int firmware_new(const struct fw_env *env, struct fw_obj **out)
{
	struct fw_obj *fw = calloc(1, sizeof(*fw));
	int r;

	if (!fw)
		return -ENOMEM;
	fw->env = *env;
	fw->part_fd = fw->pkg_fd = fw->th_fd = -1;
	fw->severity = 1; /* Mandatory */
	fw->chunk_size = env->caps.chunk_size ? env->caps.chunk_size : 4096;
	if (fw->chunk_size > FW_CHUNK_MAX)
		fw->chunk_size = FW_CHUNK_MAX;
	gw_timer_init(&fw->kick, env->timers, kick_cb, fw);
	gw_timer_init(&fw->deadline, env->timers, deadline_cb, fw);
	gw_timer_init(&fw->defer_timer, env->timers, defer_cb, fw);
	r = make_path(&fw->path_state, env, ".fw");
	if (r == 0)
		r = make_path(&fw->path_part, env, ".fw.part");
	if (r == 0)
		r = make_path(&fw->path_pkg, env, ".fw.pkg");
	if (r == 0 && env->adapter_updates && !(fw->chunk = malloc(fw->chunk_size)))
		r = -ENOMEM;
	if (r < 0) {
		firmware_free(fw);
		return r;
	}
	load_state(fw);
	take_up_state(fw);
	r = build_model(fw);
	if (r < 0) {
		firmware_free(fw);
		return r;
	}
	*out = fw;
	return 0;
}

static bool is_our_post(void (*fn)(void *ud), void *ud, void *ctx)
{
	return fn == finish_posted && ud == ctx;
}

void firmware_free(struct fw_obj *fw)
{
	if (!fw)
		return;
	firmware_stop(fw);
	if (fw->th_running) {
		/* Wait for its fsync (shutdown only), and forget its post. */
		pthread_join(fw->th, NULL);
		fw->th_running = false;
		if (bound_loop)
			loop_drop_posts(bound_loop, is_our_post, fw);
	}
	if (fw->fetch)
		fw_fetch_cancel(fw->fetch);
	if (fw->hook)
		fw_hook_cancel(fw->hook);
	if (fw->sink && fw->sink_busy)
		fw->sink->fw = NULL; /* the engine frees it when it lets it go */
	else
		free(fw->sink);
	answer_write(fw, -ECANCELED);
	part_close(fw);
	if (fw->pkg_fd >= 0)
		close(fw->pkg_fd);
	gw_timer_disarm(&fw->kick);
	gw_timer_disarm(&fw->deadline);
	gw_timer_disarm(&fw->defer_timer);
	free(fw->chunk);
	free(fw->path_state);
	free(fw->path_part);
	free(fw->path_pkg);
	free(fw);
}

void firmware_start(struct fw_obj *fw)
{
	if (fw->started)
		return;
	fw->started = true;
	if (fw->state == FW_DOWNLOADING && fw->pull && !fw->fetch && fw->part_fd < 0)
		pull_start(fw, true);
	else if (fw->state == FW_DOWNLOADED && fw->result == 11)
		gw_timer_arm(&fw->defer_timer, clock_now_ms() + FW_DEFER_RETRY_MS);
	if (fw->state != FW_UPDATING || fw->phase != PH_NONE)
		return;
	/* The daemon stopped while the device was installing: ask it. */
	gw_timer_arm(&fw->deadline, apply_deadline(fw));
	if (fw->env.adapter_updates && fw->env.ops->fw_recover) {
		log_info(fw->env.name, "firmware: asking the device how the update ended");
		call_op(fw, PH_RECOVER);
	} else {
		log_info(fw->env.name, "firmware: waiting for the device to report version %s",
			 fw->version[0] ? fw->version : "(unknown)");
		fw->phase = PH_AWAIT_VERSION;
	}
}

void firmware_stop(struct fw_obj *fw)
{
	if (!fw->started)
		return;
	fw->started = false;
	gw_timer_disarm(&fw->kick);
	gw_timer_disarm(&fw->defer_timer);
	if (fw->fetch) {
		/* Resumed at the next start, from what .part holds. */
		fw_fetch_cancel(fw->fetch);
		fw->fetch = NULL;
		part_close(fw);
	}
	switch (fw->phase) {
	case PH_OPEN:
	case PH_WRITE:
	case PH_CLOSE:
		/* Nothing was installed: the device is back to normal. */
		abort_adapter(fw);
		update_failed(fw, -EIO);
		break;
	case PH_APPLY:
	case PH_RECOVER:
	case PH_AWAIT_VERSION:
	case PH_HOOK:
		/* The outcome is learnt at the next start (state stays Updating). */
		abort_adapter(fw);
		if (fw->hook)
			fw_hook_cancel(fw->hook);
		fw->hook = NULL;
		fw->phase = PH_NONE;
		gw_timer_disarm(&fw->deadline);
		break;
	case PH_NONE:
		break;
	}
}

enum fw_state firmware_state(const struct fw_obj *fw)
{
	return fw->state;
}

int firmware_result(const struct fw_obj *fw)
{
	return fw->result;
}

unsigned firmware_delivery_percent(const struct fw_obj *fw)
{
	return fw->pct;
}

void firmware_describe(const struct fw_obj *fw, char *buf, size_t len)
{
	int n = snprintf(buf, len, "%s", state_names[fw->state]);

	if (n < 0 || (size_t)n >= len)
		return;
	if (fw->state == FW_DOWNLOADING)
		n += snprintf(buf + n, len - (size_t)n, " %" PRIu64 " B", firmware_bytes(fw));
	else if (fw->state == FW_UPDATING)
		n += snprintf(buf + n, len - (size_t)n, " %u%%", fw->pct);
	if (fw->result && n > 0 && (size_t)n < len)
		snprintf(buf + n, len - (size_t)n, ", result %d", fw->result);
}

uint64_t firmware_bytes(const struct fw_obj *fw)
{
	return fw->pkg ? fw_pkg_length(fw->pkg) : fw->have_info ? fw->info.size : 0;
}
