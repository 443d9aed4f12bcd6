/* The "ble" adapter: Bluetooth LE sensors through BlueZ over D-Bus (sd-bus).
 *
 * One controller (struct ble_ctl) per BlueZ adapter named in the config
 * (hciN or its address) and D-Bus address: one sd-bus connection, attached
 * to the daemon's loop by an fd watch and a timer, never a blocking call.
 * It runs one discovery session (SetDiscoveryFilter {Transport: le,
 * DuplicateData: true}, StartDiscovery), tracks BlueZ's objects
 * (GetManagedObjects, InterfacesAdded/Removed) and hands each Device1
 * PropertiesChanged (ServiceData, ManufacturerData, RSSI) to the devices
 * configured with that MAC, whose decoder (ble_decode.h) turns it into
 * readings reported at once: no polling.  bluetoothd restarting
 * (NameOwnerChanged) or the controller going away and back is followed
 * without restarting anything; a broken bus connection is reopened with a
 * back-off.
 *
 * Presence: a device silent for its `timeout` is set DOWN and comes back UP
 * on its next advert.  GATT: a device with GATT points is connected within
 * the controller's budget (connections and concurrent attempts), waits for
 * ServicesResolved, then reads, writes and subscribes (StartNotify) by
 * characteristic UUID; subscriptions are re-armed after every reconnect.
 * Discovery rules (bus keys) propose newly heard devices to the daemon
 * (host->propose_device), bounded, optionally remembered in state_dir.
 * Firmware (`firmware = "smp"`): MCUmgr SMP over the device's GATT link,
 * the protocol in smp.c, the update's steps in the "firmware" part below.
 * Users' documentation: README.md. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <systemd/sd-bus.h>

#include "gatewayd/adapter.h"
#include "ble_decode.h"
#include "smp.h"

#define BLUEZ "org.bluez"
#define IFACE_ADAPTER "org.bluez.Adapter1"
#define IFACE_DEVICE "org.bluez.Device1"
#define IFACE_SERVICE "org.bluez.GattService1"
#define IFACE_CHAR "org.bluez.GattCharacteristic1"
#define IFACE_PROPS "org.freedesktop.DBus.Properties"
#define IFACE_OM "org.freedesktop.DBus.ObjectManager"

#define MAX_DATA 8 /* service data / manufacturer data entries in one change */

struct ble_ad;
struct ble_ctl;
struct ble_dev;

enum fmt { FMT_NONE, FMT_BTHOME, FMT_ATC, FMT_RUUVI, FMT_GENERIC };
static const char *const fmt_names[] = {"none", "bthome", "atc", "ruuvi", "generic"};

enum pt_kind { PT_ADV, PT_RSSI, PT_LAST_SEEN, PT_GATT, PT_SEEN, PT_PROPOSED };

struct ble_pt {
	char *name;
	enum pt_kind kind;
	const char *measure; /* borrowed from the config */
	uint8_t index;
	bool has_gen;        /* generic field (advert) or value type (GATT) */
	struct ble_gen_field gen;
	/* GATT */
	char uuid[37], svc[37]; /* characteristic, its service ("" any) */
	bool notify;
	sd_bus_slot *notify_slot; /* StartNotify in flight */
	char *cpath;            /* the characteristic's object path, once known */
	/* last value */
	bool has_value;
	double value;
};

/* A finished op, completed from a timer: never inside the op call. */
struct ble_done {
	struct ble_done *next;
	struct gwd_op *op;
	int status;
	bool has_v;
	double v;
};

/* A GATT read or write, waiting for the connection or in flight. */
struct ble_req {
	struct ble_req *next;
	struct ble_dev *d;
	uint32_t ch;
	struct gwd_op *op;
	bool write;
	uint8_t buf[8];
	size_t len;
	sd_bus_slot *slot;
};

enum link { L_IDLE, L_CONNECTING, L_RESOLVING, L_READY };

/* MAC -> the devices configured with it, and whether it was heard.  Adverts
 * come by the thousand a second and each is looked up once here: walking
 * every device (and every MAC heard) per advert was most of an advert's
 * cost with 1,000 sensors (tests/bench, ble_adverts_rate).  Open addressing;
 * entries stay, as the count of MACs heard does. */
struct mac_slot {
	uint64_t key; /* the MAC's 48 bits | MAC_KEY_SET; 0: empty slot */
	struct ble_dev *devs; /* chained by next_same_mac */
	bool heard;
};
struct mac_tab {
	struct mac_slot *slot;
	size_t cap, n; /* cap: 0 or a power of two */
};
#define MAC_KEY_SET (1ull << 48)

/* Where a firmware update (MCUmgr SMP) stands. */
enum fw_phase {
	FW_IDLE,
	FW_OPEN,     /* fw_open: waiting for the link and the SMP characteristic */
	FW_UPLOAD,   /* fw_write: upload requests */
	FW_CLOSE,    /* fw_close: image state read, the new image in slot 1? */
	FW_READY,    /* between ops */
	FW_TEST,     /* fw_apply: image state write (test) */
	FW_RESET,    /* reset sent: waiting for the link to drop */
	FW_REBOOT,   /* the device reboots: waiting for it to come back */
	FW_CHECK,    /* back: image state read */
	FW_CONFIRM,  /* image state write (confirm) */
};

struct ble_fw {
	bool enabled, chunk_set;
	uint32_t chunk_max; /* data bytes per upload request */
	uint32_t apply_timeout_ms, timeout_ms;
	uint64_t max_size;
	enum fw_phase phase;
	struct gwd_op *op;
	struct gwd_timer *timer;  /* the response's deadline */
	char *cpath;              /* the SMP characteristic, once resolved */
	uint16_t mtu;
	bool notifying;
	sd_bus_slot *notify_slot, *write_slot;
	/* the package */
	uint64_t total;
	uint8_t sha[32];
	uint64_t tlv_off;         /* where the TLV area starts */
	uint8_t tlv[512];         /* its first bytes, for the image's hash */
	bool has_hash;
	uint8_t hash[32];         /* the image's SHA-256 (TLV 0x10): slots know it */
	/* the host's chunk being uploaded */
	uint8_t *chunk;
	size_t chunk_len;
	uint64_t chunk_base, dev_off, sent_end;
	/* the request in flight and the response being reassembled */
	uint8_t seq;
	uint8_t req[SMP_MAX_REQ];
	size_t req_len;
	unsigned tries, drops;
	uint8_t rx[2048];
	size_t rx_len;
};

struct ble_dev {
	const struct gwd_host *host;
	struct ble_ad *ad;
	struct gwd_device *dev;
	struct ble_dev *next_in_ctl;
	struct ble_dev *next_same_mac; /* in the controller's mac_tab */
	struct ble_ctl *ctl;
	bool started, is_ctl_dev;

	/* config */
	const char *ctl_name, *dbus_addr;
	uint8_t mac[6];
	char macs[18];
	enum fmt fmt;
	bool has_key;
	uint8_t key[16];
	uint64_t timeout_ms, connect_timeout_ms;
	bool has_uuid, has_company;
	uint16_t gen_uuid, gen_company;
	int64_t max_conn, max_connecting;
	struct ble_rule_cfg {
		const char *profile, *fmt, *prefix, *pattern;
		int64_t max;
		bool remember;
	} rule;
	struct ble_pt *pt;
	size_t n_pt, cap_pt;
	bool wants_link; /* a GATT point that notifies: always connected */

	/* presence */
	struct gwd_timer *presence;
	bool down;
	unsigned n_down;
	bool had_readings;
	int16_t rssi;
	bool has_rssi;
	double last_seen; /* Unix time */
	int last_err;     /* last decoder error logged */
	struct ble_bthome_state bth;
	bool trigger_based; /* BTHome: adverts on events only, no silence timeout */

	/* GATT link */
	enum link link;
	sd_bus_slot *link_slot;
	struct gwd_timer *retry;
	uint64_t backoff_ms;
	bool retry_pending;
	struct ble_req *waiting, *inflight;

	/* completions */
	struct ble_done *done, **done_tail;
	struct gwd_timer *done_timer;

	struct ble_fw fw;
};

struct ble_char {
	struct ble_char *next;
	char *path, *svc_path;
	char uuid[37];
	uint16_t mtu; /* BlueZ 5.66's MTU property; 0: not told */
};

struct ble_svc {
	struct ble_svc *next;
	char *path;
	char uuid[37];
};

/* A discovery rule, from a bus group. */
struct ble_rule {
	struct ble_rule *next;
	char *profile, *pattern, *prefix, *file;
	enum fmt fmt;
	unsigned max;
	bool full_logged;
	char (*admitted)[18]; /* MACs proposed (or remembered) */
	size_t n_admitted;
	char (*later)[18];    /* proposals the daemon asked to retry (-EAGAIN) */
	size_t n_later;
};

struct ble_ctl {
	struct ble_ctl *next;
	struct ble_ad *ad;
	char *addr; /* D-Bus address, NULL: the system bus */
	char *name; /* hciN or the controller's address */
	sd_bus *bus;
	struct gwd_watch *watch;
	struct gwd_timer *bus_timer, *reopen, *rules_timer;
	uint64_t reopen_ms;
	bool broken;
	char *path; /* the Adapter1 object, NULL while absent */
	struct ble_dev *devs;
	unsigned max_conn, max_connecting, n_conn, n_connecting;
	struct ble_char *chars;
	struct ble_svc *svcs;
	struct ble_rule *rules;
	unsigned seen; /* distinct devices heard */
	struct mac_tab macs; /* every MAC configured or heard */
};

struct ble_ad {
	const struct gwd_host *host;
	struct ble_ctl *ctls;
};

static const struct gwd_host *H;

/* ---- small helpers ---------------------------------------------------------- */

static int parse_mac(const char *s, uint8_t mac[6])
{
	unsigned b[6];
	char end;

	if (strlen(s) != 17 || sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3],
				      &b[4], &b[5], &end) != 6)
		return -EINVAL;
	for (int i = 0; i < 6; i++) {
		if (!isxdigit((unsigned char)s[3 * i]) || !isxdigit((unsigned char)s[3 * i + 1]))
			return -EINVAL;
		mac[i] = (uint8_t)b[i];
	}
	return 0;
}

static void mac_str(const uint8_t mac[6], char out[18])
{
	snprintf(out, 18, "%02X:%02X:%02X:%02X:%02X:%02X", mac[0], mac[1], mac[2], mac[3], mac[4],
		 mac[5]);
}

/* "2A6E", "0x2a6e" or a full 128-bit UUID -> the lower-case 128-bit form. */
static int parse_uuid(const char *s, char out[37])
{
	size_t n = strlen(s);

	if (n > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		s += 2;
		n -= 2;
	}
	if (n == 4 || n == 8) {
		for (size_t i = 0; i < n; i++)
			if (!isxdigit((unsigned char)s[i]))
				return -EINVAL;
		snprintf(out, 37, "%s%.*s-0000-1000-8000-00805f9b34fb", n == 4 ? "0000" : "",
			 (int)n, s);
	} else if (n == 36) {
		for (size_t i = 0; i < n; i++) {
			bool dash = i == 8 || i == 13 || i == 18 || i == 23;

			if (dash ? s[i] != '-' : !isxdigit((unsigned char)s[i]))
				return -EINVAL;
		}
		memcpy(out, s, 37);
	} else {
		return -EINVAL;
	}
	for (char *p = out; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	return 0;
}

/* The 16-bit form of a SIG base UUID, or -1. */
static int uuid16(const char *s)
{
	char u[37];
	unsigned v;

	if (parse_uuid(s, u) < 0 || strcmp(u + 8, "-0000-1000-8000-00805f9b34fb") != 0 ||
	    strncmp(u, "0000", 4) != 0 || sscanf(u + 4, "%4x", &v) != 1)
		return -1;
	return (int)v;
}

static int parse_hex(const char *s, uint8_t *out, size_t n)
{
	if (strlen(s) != 2 * n)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		unsigned b;

		if (!isxdigit((unsigned char)s[2 * i]) || !isxdigit((unsigned char)s[2 * i + 1]) ||
		    sscanf(s + 2 * i, "%2x", &b) != 1)
			return -EINVAL;
		out[i] = (uint8_t)b;
	}
	return 0;
}

static double wall_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)(ts.tv_nsec / 1000000) / 1000.0;
}

/* ---- completions ------------------------------------------------------------ */

static void done_flush(void *ud)
{
	struct ble_dev *d = ud;

	while (d->done) {
		struct ble_done *x = d->done;
		struct gwd_value v = gwd_value_double(x->v);

		d->done = x->next;
		if (!d->done)
			d->done_tail = &d->done;
		H->complete(x->op, x->status, x->has_v ? &v : NULL);
		free(x);
	}
}

static int defer_complete(struct ble_dev *d, struct gwd_op *op, int status, const double *v)
{
	struct ble_done *x = calloc(1, sizeof(*x));

	if (!x)
		return -ENOMEM;
	x->op = op;
	x->status = status;
	if (v) {
		x->has_v = true;
		x->v = *v;
	}
	*d->done_tail = x;
	d->done_tail = &x->next;
	H->timer_arm(d->done_timer, H->now_ms());
	return 0;
}

/* ---- values of GATT characteristics ------------------------------------------ */

/* Built-in decoding of the SIG characteristics (Environmental Sensing and
 * Battery services): type and scale to the unit of the reading names. */
static bool gatt_builtin(const char *uuid, struct ble_gen_field *g)
{
	static const struct {
		uint16_t id;
		enum ble_gen_type type;
		double scale;
	} tab[] = {
		{0x2a6e, BLE_GEN_S16, 0.01},  /* temperature, °C */
		{0x2a6f, BLE_GEN_U16, 0.01},  /* humidity, % */
		{0x2a6d, BLE_GEN_U32, 0.001}, /* pressure, 0.1 Pa -> hPa */
		{0x2a19, BLE_GEN_U8, 1},      /* battery level, % */
	};
	int id = uuid16(uuid);

	for (size_t i = 0; i < sizeof(tab) / sizeof(tab[0]); i++)
		if (tab[i].id == id) {
			*g = (struct ble_gen_field){
			    .type = tab[i].type, .scale = tab[i].scale, .add = 0};
			return true;
		}
	return false;
}

static const struct {
	const char *name;
	enum ble_gen_type type;
	uint8_t size;
} gen_types[] = {
	{"uint8", BLE_GEN_U8, 1},   {"int8", BLE_GEN_S8, 1},    {"uint16", BLE_GEN_U16, 2},
	{"int16", BLE_GEN_S16, 2},  {"uint24", BLE_GEN_U24, 3}, {"int24", BLE_GEN_S24, 3},
	{"uint32", BLE_GEN_U32, 4}, {"int32", BLE_GEN_S32, 4},  {"float32", BLE_GEN_F32, 4},
};

static size_t gen_size(enum ble_gen_type t)
{
	for (size_t i = 0; i < sizeof(gen_types) / sizeof(gen_types[0]); i++)
		if (gen_types[i].type == t)
			return gen_types[i].size;
	return 0;
}

static bool gen_signed(enum ble_gen_type t)
{
	return t == BLE_GEN_S8 || t == BLE_GEN_S16 || t == BLE_GEN_S24 || t == BLE_GEN_S32;
}

/* A value the server wrote, in the point's own unit, to the bytes of the
 * characteristic: the inverse of its scale, rounded, range checked. */
static int gatt_encode(const struct ble_gen_field *g, const struct gwd_value *v, uint8_t *buf,
		       size_t *len)
{
	size_t sz = gen_size(g->type);
	double x;
	uint32_t raw;

	switch (v->type) {
	case GWD_V_DOUBLE: x = v->v.d; break;
	case GWD_V_INT: x = (double)v->v.i; break;
	case GWD_V_UINT: x = (double)v->v.u; break;
	case GWD_V_BOOL: x = v->v.b; break;
	default: return -EINVAL;
	}
	if (!isfinite(x))
		return -EINVAL;
	x = (x - g->add) / g->scale;
	if (g->type == BLE_GEN_F32) {
		float f = (float)x;

		memcpy(&raw, &f, sizeof(raw));
	} else {
		double lo, hi;

		x = nearbyint(x);
		lo = gen_signed(g->type) ? -ldexp(1, (int)(8 * sz - 1)) : 0;
		hi = gen_signed(g->type) ? ldexp(1, (int)(8 * sz - 1)) - 1 : ldexp(1, (int)(8 * sz)) - 1;
		if (x < lo || x > hi)
			return -ERANGE;
		raw = (uint32_t)(int64_t)x;
	}
	for (size_t b = 0; b < sz; b++)
		buf[g->big_endian ? sz - 1 - b : b] = (uint8_t)(raw >> (8 * b));
	*len = sz;
	return 0;
}

/* ---- presence ----------------------------------------------------------------- */

static void set_down(struct ble_dev *d, bool down, int cause)
{
	if (d->down == down)
		return;
	d->down = down;
	/* The count keeps a flapping sensor's lines apart (the log limits
	 * repeats of one message). */
	if (down)
		H->log(d->dev, GWD_LOG_WARNING, "ble: %s silent for %.1f s: down (%u times)",
		       d->macs, (double)d->timeout_ms / 1000.0, ++d->n_down);
	else
		H->log(d->dev, GWD_LOG_NOTICE, "ble: %s heard again: up (after down %u times)",
		       d->macs, d->n_down);
	if (GWD_HOST_HAS(H, set_state))
		H->set_state(d->dev, down ? GWD_STATE_DOWN : GWD_STATE_UP, down ? cause : 0);
}

static void on_presence(void *ud)
{
	struct ble_dev *d = ud;

	/* A connected GATT device does not advertise: the link is its presence.
	 * Nor is a device being updated (rebooting, even) silent. */
	if (d->link == L_READY || d->fw.phase != FW_IDLE)
		return;
	set_down(d, true, -ETIMEDOUT);
}

static void heard(struct ble_dev *d)
{
	d->last_seen = wall_now();
	set_down(d, false, 0);
	/* A trigger-based BTHome device speaks only when something happens. */
	if (d->trigger_based)
		H->timer_disarm(d->presence);
	else if (d->timeout_ms)
		H->timer_arm(d->presence, H->now_ms() + d->timeout_ms);
	for (uint32_t i = 0; i < d->n_pt; i++)
		if (d->pt[i].kind == PT_LAST_SEEN) {
			struct gwd_value v = gwd_value_double(d->last_seen);

			d->pt[i].has_value = true;
			d->pt[i].value = d->last_seen;
			H->report(d->dev, i, &v);
		}
}

static void report_pt(struct ble_dev *d, uint32_t i, double value)
{
	struct gwd_value v = gwd_value_double(value);

	d->pt[i].has_value = true;
	d->pt[i].value = value;
	H->report(d->dev, i, &v);
}

/* ---- adverts -------------------------------------------------------------------- */

struct ble_data {
	bool mfr;
	uint16_t id; /* 16-bit service UUID (or -1 as 0xffff... see has16), company id */
	bool has16;
	const uint8_t *p;
	size_t n;
};

/* One Device1 change: what BlueZ told us, borrowed from the message. */
struct ble_adv {
	bool has_rssi, has_connected, connected, has_resolved, resolved;
	int16_t rssi;
	struct ble_data data[MAX_DATA];
	size_t n_data;
};

static void log_decode_err(struct ble_dev *d, const struct ble_data *x, int r)
{
	bool plain = x->n && !(x->p[0] & 1);

	/* Once per change, not once per advert: a plaintext advert and an
	 * encrypted one refused are different changes. */
	if (r == -EACCES && plain)
		r = -EPERM;
	if (r == d->last_err)
		return;
	d->last_err = r;
	if (r == -EPERM)
		H->log(d->dev, GWD_LOG_WARNING,
		       "ble: %s: plaintext advert refused: the device has a bind_key "
		       "(a downgrade?)",
		       d->macs);
	else if (r == -EACCES)
		H->log(d->dev, GWD_LOG_WARNING,
		       "ble: %s: encrypted advert refused (wrong bind_key, altered advert, "
		       "or a counter that went back)",
		       d->macs);
	else
		H->log(d->dev, GWD_LOG_WARNING, "ble: %s: %s advert not decoded: %s", d->macs,
		       fmt_names[d->fmt], strerror(-r));
}

static int decode(struct ble_dev *d, const struct ble_data *x, struct ble_reading *out)
{
	struct ble_gen_field fields[BLE_READINGS_MAX];
	size_t nf = 0;

	switch (d->fmt) {
	case FMT_BTHOME: {
		struct ble_bthome_info info;

		if (x->mfr || !x->has16 || x->id != BLE_UUID_BTHOME)
			return 0;
		if (ble_bthome_info(x->p, x->n, &info) == 0 && info.trigger_based != d->trigger_based) {
			d->trigger_based = info.trigger_based;
			H->log(d->dev, GWD_LOG_INFO, "ble: %s is %s: %s", d->macs,
			       info.trigger_based ? "trigger-based" : "no longer trigger-based",
			       info.trigger_based ? "never down for silence"
						  : "down when silent for its timeout");
		}
		return ble_decode_bthome(x->p, x->n, d->has_key ? d->key : NULL, &d->bth, d->mac,
					 out, BLE_READINGS_MAX);
	}
	case FMT_ATC:
		if (x->mfr || !x->has16 || x->id != BLE_UUID_ENV_SENSING)
			return 0;
		return ble_decode_atc_pvvx(x->p, x->n, out, BLE_READINGS_MAX);
	case FMT_RUUVI:
		if (!x->mfr || x->id != BLE_COMPANY_RUUVI)
			return 0;
		return ble_decode_ruuvi(x->p, x->n, out, BLE_READINGS_MAX);
	case FMT_GENERIC:
		if (d->has_company ? !x->mfr || x->id != d->gen_company
				   : x->mfr || !x->has16 || x->id != d->gen_uuid)
			return 0;
		for (size_t i = 0; i < d->n_pt && nf < BLE_READINGS_MAX; i++)
			if (d->pt[i].kind == PT_ADV && d->pt[i].has_gen)
				fields[nf++] = d->pt[i].gen;
		return ble_decode_generic(x->p, x->n, fields, nf, out, BLE_READINGS_MAX);
	case FMT_NONE:
		break;
	}
	return 0;
}

static void dev_advert(struct ble_dev *d, const struct ble_adv *a)
{
	struct ble_reading all[BLE_READINGS_MAX];
	size_t n_all = 0;
	bool any = a->has_rssi || a->n_data;

	if (!d->started)
		return;
	for (size_t k = 0; k < a->n_data; k++) {
		struct ble_reading rd[BLE_READINGS_MAX];
		int n = decode(d, &a->data[k], rd);

		if (n == -EALREADY)
			continue; /* the same packet again: heard, nothing new */
		if (n < 0) {
			log_decode_err(d, &a->data[k], n);
			/* An advert we refuse is not a sign of life of the sensor. */
			if (n == -EACCES)
				any = a->has_rssi;
			continue;
		}
		if (n > 0 && !d->had_readings)
			H->log(d->dev, GWD_LOG_INFO, "ble: %s: first %s readings (%d)", d->macs,
			       fmt_names[d->fmt], n);
		if (n > 0) {
			d->last_err = 0;
			d->had_readings = true;
		}
		for (int r = 0; r < n && n_all < BLE_READINGS_MAX; r++)
			all[n_all++] = rd[r];
	}
	/* Up first, so that the readings are not those of a device down. */
	if (any)
		heard(d);
	if (a->has_rssi) {
		d->rssi = a->rssi;
		d->has_rssi = true;
		for (uint32_t i = 0; i < d->n_pt; i++)
			if (d->pt[i].kind == PT_RSSI)
				report_pt(d, i, a->rssi);
	}
	for (size_t r = 0; r < n_all; r++)
		for (uint32_t i = 0; i < d->n_pt; i++) {
			struct ble_pt *p = &d->pt[i];

			if (p->kind == PT_ADV && strcmp(p->measure, all[r].name) == 0 &&
			    p->index == all[r].index)
				report_pt(d, i, all[r].value);
		}
}

/* ---- controllers: sd-bus on the loop ---------------------------------------------- */

static void ctl_update(struct ble_ctl *c);
static void ctl_close(struct ble_ctl *c, bool reopen);
static void ctl_pump(struct ble_ctl *c);
static void link_lost(struct ble_dev *d, int err);
static void rule_check(struct ble_ctl *c, const char *macs, const struct ble_adv *a);

/* Messages handled per wake-up: a storm of adverts must not keep the loop
 * from its other devices; the rest are handled on the next turn. */
#define BUS_BATCH 64

static void on_bus_io(int fd, uint32_t revents, void *ud)
{
	struct ble_ctl *c = ud;
	int r, n = 0;

	while ((r = sd_bus_process(c->bus, NULL)) > 0 && !c->broken && ++n < BUS_BATCH)
		;
	if (r < 0 && !c->broken) {
		H->log(NULL, GWD_LOG_WARNING, "ble %s: D-Bus connection lost: %s", c->name,
		       strerror(-r));
		c->broken = true;
	}
	if (c->broken) {
		ctl_close(c, true);
	} else {
		ctl_update(c);
		if (r > 0) /* more to do: soon, from the loop */
			H->timer_arm(c->bus_timer, H->now_ms());
	}
}

static void on_bus_timer(void *ud)
{
	on_bus_io(-1, 0, ud);
}

/* Give the loop what sd-bus waits for now: events and its next timeout. */
static void ctl_update(struct ble_ctl *c)
{
	int ev;
	uint64_t usec;

	if (!c->bus)
		return;
	ev = sd_bus_get_events(c->bus);
	if (ev < 0) {
		c->broken = true;
		H->timer_arm(c->bus_timer, H->now_ms());
		return;
	}
	H->watch_set_events(c->watch, (uint32_t)ev);
	if (sd_bus_get_timeout(c->bus, &usec) >= 0 && usec != UINT64_MAX) {
		struct timespec ts;
		uint64_t now;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		now = (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
		H->timer_arm(c->bus_timer, H->now_ms() + (usec > now ? (usec - now + 999) / 1000 : 0));
	} else {
		H->timer_disarm(c->bus_timer);
	}
}

/* "A4:C1:38:00:11:22" -> its mac_tab key, 0 when it is not a MAC. */
static uint64_t mac_key(const char *macs)
{
	uint64_t k = 0;

	for (int i = 0; i < 17; i++) {
		char ch = macs[i];
		int v;

		if (i % 3 == 2) {
			if (ch != ':')
				return 0;
			continue;
		}
		v = ch >= '0' && ch <= '9' ? ch - '0'
		    : ch >= 'A' && ch <= 'F' ? ch - 'A' + 10
		    : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
		if (v < 0)
			return 0;
		k = k << 4 | (uint64_t)v;
	}
	return macs[17] == '\0' ? k | MAC_KEY_SET : 0;
}

static struct mac_slot *mac_probe(const struct mac_tab *t, uint64_t key)
{
	size_t i = (size_t)((key * 0x9E3779B97F4A7C15ull) >> 20) & (t->cap - 1);

	while (t->slot[i].key && t->slot[i].key != key)
		i = (i + 1) & (t->cap - 1);
	return &t->slot[i];
}

/* The slot of key, NULL when absent (add false) or out of memory. */
static struct mac_slot *mac_find(struct mac_tab *t, uint64_t key, bool add)
{
	struct mac_slot *sl;

	if (!key)
		return NULL;
	if (t->cap) {
		sl = mac_probe(t, key);
		if (sl->key || !add)
			return sl->key ? sl : NULL;
	} else if (!add) {
		return NULL;
	}
	if (2 * (t->n + 1) > t->cap) {
		/* Grow at half full: probes stay short. */
		struct mac_tab g = {.cap = t->cap ? 2 * t->cap : 64};

		g.slot = calloc(g.cap, sizeof(*g.slot));
		if (!g.slot)
			return NULL;
		for (size_t i = 0; i < t->cap; i++)
			if (t->slot[i].key)
				*mac_probe(&g, t->slot[i].key) = t->slot[i];
		g.n = t->n;
		free(t->slot);
		*t = g;
	}
	sl = mac_probe(t, key);
	sl->key = key;
	t->n++;
	return sl;
}

static struct ble_dev *dev_by_mac(struct ble_ctl *c, const char *macs)
{
	struct mac_slot *sl = mac_find(&c->macs, mac_key(macs), false);

	return sl ? sl->devs : NULL;
}

/* "/org/bluez/hci0/dev_A4_C1_38_00_11_22[/...]" -> "A4:C1:38:00:11:22" when it
 * is under our controller. */
static bool path_mac(struct ble_ctl *c, const char *path, char macs[18])
{
	size_t n;

	if (!c->path)
		return false;
	n = strlen(c->path);
	if (strncmp(path, c->path, n) != 0 || strncmp(path + n, "/dev_", 5) != 0 ||
	    strlen(path + n + 5) < 17)
		return false;
	memcpy(macs, path + n + 5, 17);
	macs[17] = '\0';
	for (int i = 2; i < 17; i += 3) {
		if (macs[i] != '_')
			return false;
		macs[i] = ':';
	}
	for (char *p = macs; *p; p++)
		*p = (char)toupper((unsigned char)*p);
	return path[n + 5 + 17] == '\0' || path[n + 5 + 17] == '/';
}

/* Reads one "v" holding "ay" into p/n (borrowed from m). */
static int read_variant_bytes(sd_bus_message *m, const uint8_t **p, size_t *n)
{
	const void *ptr = NULL;
	int r = sd_bus_message_enter_container(m, 'v', "ay");

	if (r <= 0) /* not bytes: skipped */
		return sd_bus_message_skip(m, "v") < 0 ? -EBADMSG : 0;
	r = sd_bus_message_read_array(m, 'y', &ptr, n);
	*p = ptr;
	if (r < 0)
		return r;
	return sd_bus_message_exit_container(m) < 0 ? -EBADMSG : 1;
}

/* The Device1 properties of an a{sv} (ServiceData, ManufacturerData, RSSI,
 * Connected, ServicesResolved). */
static int parse_device_props(sd_bus_message *m, struct ble_adv *a)
{
	int r;

	memset(a, 0, sizeof(*a));
	if ((r = sd_bus_message_enter_container(m, 'a', "{sv}")) <= 0)
		return r;
	while ((r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
		const char *k;

		if (sd_bus_message_read(m, "s", &k) < 0)
			return -EBADMSG;
		if (strcmp(k, "RSSI") == 0) {
			if (sd_bus_message_read(m, "v", "n", &a->rssi) >= 0)
				a->has_rssi = true;
			else
				return -EBADMSG;
		} else if (strcmp(k, "Connected") == 0 || strcmp(k, "ServicesResolved") == 0) {
			int b;

			if (sd_bus_message_read(m, "v", "b", &b) < 0)
				return -EBADMSG;
			if (k[0] == 'C') {
				a->has_connected = true;
				a->connected = b;
			} else {
				a->has_resolved = true;
				a->resolved = b;
			}
		} else if (strcmp(k, "ServiceData") == 0 || strcmp(k, "ManufacturerData") == 0) {
			bool mfr = k[0] == 'M';

			if (sd_bus_message_enter_container(m, 'v', mfr ? "a{qv}" : "a{sv}") <= 0) {
				/* Not the type BlueZ documents: ignored, not fatal. */
				if (sd_bus_message_skip(m, "v") < 0 ||
				    sd_bus_message_exit_container(m) < 0)
					return -EBADMSG;
				continue;
			}
			if (sd_bus_message_enter_container(m, 'a', mfr ? "{qv}" : "{sv}") <= 0)
				return -EBADMSG;
			while ((r = sd_bus_message_enter_container(m, 'e', mfr ? "qv" : "sv")) > 0) {
				struct ble_data x = {.mfr = mfr};
				uint16_t q;
				const char *u;
				int u16 = -1;

				r = mfr ? sd_bus_message_read(m, "q", &q) : sd_bus_message_read(m, "s", &u);
				if (r < 0)
					return -EBADMSG;
				if (mfr) {
					x.id = q;
				} else {
					u16 = uuid16(u);
					x.has16 = u16 >= 0;
					x.id = (uint16_t)(u16 >= 0 ? u16 : 0);
				}
				if (read_variant_bytes(m, &x.p, &x.n) > 0 && a->n_data < MAX_DATA)
					a->data[a->n_data++] = x;
				if (sd_bus_message_exit_container(m) < 0)
					return -EBADMSG;
			}
			if (r < 0 || sd_bus_message_exit_container(m) < 0 ||
			    sd_bus_message_exit_container(m) < 0)
				return -EBADMSG;
		} else if (sd_bus_message_skip(m, "v") < 0) {
			return -EBADMSG;
		}
		if (sd_bus_message_exit_container(m) < 0)
			return -EBADMSG;
	}
	if (r < 0)
		return r;
	return sd_bus_message_exit_container(m) < 0 ? -EBADMSG : 1;
}

static void on_link_props(struct ble_dev *d, const struct ble_adv *a);
static void fw_back(struct ble_dev *d);
static void fw_rx(struct ble_dev *d, const uint8_t *p, size_t n);

static void device_changed(struct ble_ctl *c, const char *path, const struct ble_adv *a)
{
	char macs[18];
	struct ble_dev *d;
	bool found = false;

	struct mac_slot *sl;
	uint64_t key;

	if (!path_mac(c, path, macs) || strlen(path) != strlen(c->path) + 5 + 17)
		return;
	key = mac_key(macs);
	sl = mac_find(&c->macs, key, false);
	for (d = sl ? sl->devs : NULL; d; d = d->next_same_mac) {
		found = true;
		if (a->has_connected || a->has_resolved)
			on_link_props(d, a);
		if (d->fw.phase == FW_REBOOT)
			fw_back(d); /* heard after its reset */
		dev_advert(d, a);
	}
	if ((a->n_data || a->has_rssi) && (!sl || !sl->heard)) {
		/* A MAC heard for the first time (sl may have moved: look again). */
		sl = mac_find(&c->macs, key, true);
		if (sl) {
			sl->heard = true;
			c->seen++;
			for (d = c->devs; d; d = d->next_in_ctl)
				for (uint32_t i = 0; d->started && i < d->n_pt; i++)
					if (d->pt[i].kind == PT_SEEN)
						report_pt(d, i, c->seen);
		}
	}
	if (!found && a->n_data)
		rule_check(c, macs, a);
}

static struct ble_char *char_by_path(struct ble_ctl *c, const char *path)
{
	for (struct ble_char *x = c->chars; x; x = x->next)
		if (strcmp(x->path, path) == 0)
			return x;
	return NULL;
}

static void char_notified(struct ble_ctl *c, const char *path, const uint8_t *p, size_t n)
{
	struct ble_char *x = char_by_path(c, path);
	char macs[18];
	struct ble_dev *d;

	if (!x || !path_mac(c, path, macs))
		return;
	for (d = c->devs; d; d = d->next_in_ctl) {
		struct ble_reading rd;

		if (d->is_ctl_dev || strcmp(d->macs, macs) != 0 || !d->started)
			continue;
		if (d->fw.cpath && strcmp(d->fw.cpath, path) == 0) {
			fw_rx(d, p, n);
			continue;
		}
		for (uint32_t i = 0; i < d->n_pt; i++) {
			struct ble_pt *pt = &d->pt[i];

			if (pt->kind != PT_GATT || !pt->cpath || strcmp(pt->cpath, path) != 0)
				continue;
			if (ble_decode_generic(p, n, &pt->gen, 1, &rd, 1) == 1)
				report_pt(d, i, rd.value);
		}
		heard(d);
	}
}

/* The a{sv} of one interface of one object, from GetManagedObjects,
 * InterfacesAdded or PropertiesChanged. */
static int iface_props(struct ble_ctl *c, const char *path, const char *iface, sd_bus_message *m)
{
	int r;

	if (strcmp(iface, IFACE_DEVICE) == 0) {
		struct ble_adv a;

		r = parse_device_props(m, &a);
		if (r > 0)
			device_changed(c, path, &a);
		return r;
	}
	if (strcmp(iface, IFACE_ADAPTER) == 0 || strcmp(iface, IFACE_CHAR) == 0 ||
	    strcmp(iface, IFACE_SERVICE) == 0) {
		const char *address = NULL, *uuid = NULL, *svc = NULL;
		const void *val = NULL;
		size_t nval = 0;
		bool has_val = false;
		uint16_t mtu = 0;

		if ((r = sd_bus_message_enter_container(m, 'a', "{sv}")) <= 0)
			return r;
		while ((r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
			const char *k;

			if (sd_bus_message_read(m, "s", &k) < 0)
				return -EBADMSG;
			if (strcmp(k, "Address") == 0)
				r = sd_bus_message_read(m, "v", "s", &address);
			else if (strcmp(k, "UUID") == 0)
				r = sd_bus_message_read(m, "v", "s", &uuid);
			else if (strcmp(k, "Service") == 0)
				r = sd_bus_message_read(m, "v", "o", &svc);
			else if (strcmp(k, "MTU") == 0 && strcmp(iface, IFACE_CHAR) == 0)
				r = sd_bus_message_read(m, "v", "q", &mtu);
			else if (strcmp(k, "Value") == 0) {
				r = sd_bus_message_enter_container(m, 'v', "ay");
				if (r > 0 && (r = sd_bus_message_read_array(m, 'y', &val, &nval)) >= 0)
					r = sd_bus_message_exit_container(m);
				has_val = r >= 0;
			} else
				r = sd_bus_message_skip(m, "v");
			if (r < 0 || sd_bus_message_exit_container(m) < 0)
				return -EBADMSG;
		}
		if (r < 0 || sd_bus_message_exit_container(m) < 0)
			return -EBADMSG;
		if (strcmp(iface, IFACE_ADAPTER) == 0) {
			const char *base = strrchr(path, '/');

			if (!c->path && ((base && strcmp(base + 1, c->name) == 0) ||
					 (address && strcasecmp(address, c->name) == 0))) {
				c->path = strdup(path);
				if (c->path)
					H->log(NULL, GWD_LOG_NOTICE, "ble %s: controller %s present",
					       c->name, path);
				/* Links start once the devices' objects are known
				 * (their Connected state), by the caller. */
			}
		} else if (strcmp(iface, IFACE_SERVICE) == 0 && uuid) {
			struct ble_svc *s = calloc(1, sizeof(*s));

			if (s && parse_uuid(uuid, s->uuid) == 0 && (s->path = strdup(path))) {
				s->next = c->svcs;
				c->svcs = s;
			} else if (s) {
				free(s);
			}
		} else if (strcmp(iface, IFACE_CHAR) == 0) {
			struct ble_char *x = char_by_path(c, path);

			if (!x && uuid && (x = calloc(1, sizeof(*x)))) {
				if (parse_uuid(uuid, x->uuid) == 0 && (x->path = strdup(path)) &&
				    (!svc || (x->svc_path = strdup(svc)))) {
					x->next = c->chars;
					c->chars = x;
				} else {
					free(x->path);
					free(x);
				}
			}
			if (x && mtu)
				x->mtu = mtu;
			if (has_val && x)
				char_notified(c, path, val, nval);
		}
		return 1;
	}
	return sd_bus_message_skip(m, "a{sv}") < 0 ? -EBADMSG : 1;
}

/* a{sa{sv}}: every interface of one object. */
static int object_ifaces(struct ble_ctl *c, const char *path, sd_bus_message *m)
{
	int r;

	if ((r = sd_bus_message_enter_container(m, 'a', "{sa{sv}}")) <= 0)
		return r;
	while ((r = sd_bus_message_enter_container(m, 'e', "sa{sv}")) > 0) {
		const char *iface;

		if (sd_bus_message_read(m, "s", &iface) < 0 || iface_props(c, path, iface, m) < 0 ||
		    sd_bus_message_exit_container(m) < 0)
			return -EBADMSG;
	}
	if (r < 0)
		return r;
	return sd_bus_message_exit_container(m);
}

static void forget_objects(struct ble_ctl *c, const char *prefix)
{
	size_t n = strlen(prefix);
	struct ble_char **pc = &c->chars;
	struct ble_svc **ps = &c->svcs;

	while (*pc) {
		struct ble_char *x = *pc;

		if (strncmp(x->path, prefix, n) == 0 && (x->path[n] == '/' || !x->path[n])) {
			*pc = x->next;
			free(x->path);
			free(x->svc_path);
			free(x);
		} else {
			pc = &x->next;
		}
	}
	while (*ps) {
		struct ble_svc *s = *ps;

		if (strncmp(s->path, prefix, n) == 0 && (s->path[n] == '/' || !s->path[n])) {
			*ps = s->next;
			free(s->path);
			free(s);
		} else {
			ps = &s->next;
		}
	}
}

/* The controller went away (bluetoothd stopped, adapter removed, bus lost):
 * every link is gone, its subscriptions with it. */
static void controller_lost(struct ble_ctl *c, const char *why)
{
	if (c->path) {
		H->log(NULL, GWD_LOG_WARNING, "ble %s: controller gone (%s)", c->name, why);
		forget_objects(c, c->path);
	}
	free(c->path);
	c->path = NULL;
	for (struct ble_dev *d = c->devs; d; d = d->next_in_ctl)
		link_lost(d, -EHOSTDOWN);
}

static int on_managed_objects(sd_bus_message *m, void *ud, sd_bus_error *e);

static void start_discovery(struct ble_ctl *c);

static int get_objects(struct ble_ctl *c)
{
	return sd_bus_call_method_async(c->bus, NULL, BLUEZ, "/", IFACE_OM, "GetManagedObjects",
					on_managed_objects, c, "");
}

static int on_managed_objects(sd_bus_message *m, void *ud, sd_bus_error *e)
{
	struct ble_ctl *c = ud;
	int r;

	if (sd_bus_message_is_method_error(m, NULL)) {
		/* Not running yet: NameOwnerChanged will tell us when it is. */
		H->log(NULL, GWD_LOG_WARNING, "ble %s: BlueZ not available: %s", c->name,
		       sd_bus_message_get_error(m)->message);
		return 0;
	}
	/* Adapters first: devices are matched against the adapter's path. */
	for (int pass = 0; pass < 2; pass++) {
		if (sd_bus_message_rewind(m, true) < 0 ||
		    sd_bus_message_enter_container(m, 'a', "{oa{sa{sv}}}") <= 0)
			goto bad;
		while ((r = sd_bus_message_enter_container(m, 'e', "oa{sa{sv}}")) > 0) {
			const char *path;
			char macs[18];
			bool mine;

			if (sd_bus_message_read(m, "o", &path) < 0)
				goto bad;
			mine = path_mac(c, path, macs);
			if (pass == 0 ? strstr(path, "/dev_") != NULL : !mine) {
				if (sd_bus_message_skip(m, "a{sa{sv}}") < 0)
					goto bad;
			} else if (object_ifaces(c, path, m) < 0) {
				goto bad;
			}
			if (sd_bus_message_exit_container(m) < 0)
				goto bad;
		}
		if (r < 0)
			goto bad;
	}
	if (!c->path)
		H->log(NULL, GWD_LOG_WARNING, "ble %s: no such controller (yet)", c->name);
	start_discovery(c);
	ctl_pump(c);
	return 0;
bad:
	H->log(NULL, GWD_LOG_WARNING, "ble %s: malformed GetManagedObjects reply", c->name);
	return 0;
}

static int on_discovery_reply(sd_bus_message *m, void *ud, sd_bus_error *e)
{
	struct ble_ctl *c = ud;

	if (sd_bus_message_is_method_error(m, NULL) &&
	    !sd_bus_message_is_method_error(m, "org.bluez.Error.InProgress"))
		H->log(NULL, GWD_LOG_WARNING, "ble %s: discovery: %s", c->name,
		       sd_bus_message_get_error(m)->message);
	else if (!sd_bus_message_is_method_error(m, NULL))
		H->log(NULL, GWD_LOG_INFO, "ble %s: discovering", c->name);
	return 0;
}

static void start_discovery(struct ble_ctl *c)
{
	sd_bus_message *m = NULL;
	int r;

	if (!c->path)
		return;
	/* Every advert, repeated ones included (DuplicateData): they are the
	 * readings.  Both calls queued in order on the one connection. */
	r = sd_bus_message_new_method_call(c->bus, &m, BLUEZ, c->path, IFACE_ADAPTER,
					   "SetDiscoveryFilter");
	if (r >= 0)
		r = sd_bus_message_append(m, "a{sv}", 2, "Transport", "s", "le", "DuplicateData",
					  "b", 1);
	if (r >= 0)
		r = sd_bus_call_async(c->bus, NULL, m, on_discovery_reply, c, 0);
	sd_bus_message_unref(m);
	if (r >= 0)
		r = sd_bus_call_method_async(c->bus, NULL, BLUEZ, c->path, IFACE_ADAPTER,
					     "StartDiscovery", on_discovery_reply, c, "");
	if (r < 0)
		H->log(NULL, GWD_LOG_WARNING, "ble %s: cannot start discovery: %s", c->name,
		       strerror(-r));
}

static int on_ifaces_added(sd_bus_message *m, void *ud, sd_bus_error *e)
{
	struct ble_ctl *c = ud;
	const char *path;
	bool had = c->path != NULL;

	if (sd_bus_message_read(m, "o", &path) < 0 || object_ifaces(c, path, m) < 0)
		return 0;
	if (!had && c->path) { /* the controller is back */
		start_discovery(c);
		ctl_pump(c);
	}
	return 0;
}

static int on_ifaces_removed(sd_bus_message *m, void *ud, sd_bus_error *e)
{
	struct ble_ctl *c = ud;
	const char *path, *iface;

	if (sd_bus_message_read(m, "o", &path) < 0 ||
	    sd_bus_message_enter_container(m, 'a', "s") <= 0)
		return 0;
	while (sd_bus_message_read(m, "s", &iface) > 0) {
		if (strcmp(iface, IFACE_ADAPTER) == 0 && c->path && strcmp(path, c->path) == 0)
			controller_lost(c, "removed");
		else if (strcmp(iface, IFACE_DEVICE) == 0 || strcmp(iface, IFACE_CHAR) == 0 ||
			 strcmp(iface, IFACE_SERVICE) == 0)
			forget_objects(c, path);
	}
	return 0;
}

static int on_props_changed(sd_bus_message *m, void *ud, sd_bus_error *e)
{
	struct ble_ctl *c = ud;
	const char *iface, *path = sd_bus_message_get_path(m);

	if (!path || sd_bus_message_read(m, "s", &iface) < 0)
		return 0;
	if (strcmp(iface, IFACE_DEVICE) == 0 || strcmp(iface, IFACE_CHAR) == 0)
		iface_props(c, path, iface, m);
	return 0;
}

static int on_name_owner(sd_bus_message *m, void *ud, sd_bus_error *e)
{
	struct ble_ctl *c = ud;
	const char *name, *old, *new;

	if (sd_bus_message_read(m, "sss", &name, &old, &new) < 0 || strcmp(name, BLUEZ) != 0)
		return 0;
	if (*old)
		controller_lost(c, "bluetoothd stopped");
	if (*new) {
		H->log(NULL, GWD_LOG_NOTICE, "ble %s: bluetoothd (re)started", c->name);
		get_objects(c);
	}
	return 0;
}

static void on_reopen(void *ud);

static int ctl_open(struct ble_ctl *c)
{
	static const char *const matches[] = {
		"type='signal',interface='" IFACE_OM "',member='InterfacesAdded'",
		"type='signal',interface='" IFACE_OM "',member='InterfacesRemoved'",
		"type='signal',interface='" IFACE_PROPS "',member='PropertiesChanged',"
		"path_namespace='/org/bluez'",
		"type='signal',sender='org.freedesktop.DBus',interface='org.freedesktop.DBus',"
		"member='NameOwnerChanged',arg0='" BLUEZ "'",
	};
	sd_bus_message_handler_t handlers[] = {on_ifaces_added, on_ifaces_removed,
					       on_props_changed, on_name_owner};
	int r, fd;

	if (c->addr) {
		r = sd_bus_new(&c->bus);
		if (r >= 0)
			r = sd_bus_set_address(c->bus, c->addr);
		if (r >= 0)
			r = sd_bus_set_bus_client(c->bus, 1);
		if (r >= 0)
			r = sd_bus_start(c->bus);
	} else {
		r = sd_bus_open_system(&c->bus);
	}
	for (size_t i = 0; r >= 0 && i < sizeof(matches) / sizeof(matches[0]); i++)
		r = sd_bus_add_match_async(c->bus, NULL, matches[i], handlers[i], NULL, c);
	if (r >= 0)
		r = get_objects(c);
	if (r >= 0 && (fd = sd_bus_get_fd(c->bus)) >= 0)
		r = H->watch_fd(fd, GWD_EV_IN, on_bus_io, c, &c->watch);
	else if (r >= 0)
		r = fd;
	if (r < 0) {
		H->log(NULL, GWD_LOG_WARNING, "ble %s: cannot open D-Bus %s: %s", c->name,
		       c->addr ? c->addr : "system bus", strerror(-r));
		sd_bus_flush_close_unref(c->bus);
		c->bus = NULL;
		return r;
	}
	c->broken = false;
	c->reopen_ms = 0;
	ctl_update(c);
	return 0;
}

static void ctl_close(struct ble_ctl *c, bool reopen)
{
	controller_lost(c, "D-Bus closed");
	forget_objects(c, "");
	if (c->watch)
		H->unwatch_fd(c->watch);
	c->watch = NULL;
	H->timer_disarm(c->bus_timer);
	if (c->bus)
		sd_bus_flush_close_unref(c->bus);
	c->bus = NULL;
	c->broken = false;
	if (reopen) {
		c->reopen_ms = c->reopen_ms ? c->reopen_ms * 2 : 500;
		if (c->reopen_ms > 30000)
			c->reopen_ms = 30000;
		H->timer_arm(c->reopen, H->now_ms() + c->reopen_ms);
	}
}

static void on_reopen(void *ud)
{
	struct ble_ctl *c = ud;

	if (!c->bus && ctl_open(c) < 0) {
		c->reopen_ms = c->reopen_ms ? c->reopen_ms * 2 : 500;
		if (c->reopen_ms > 30000)
			c->reopen_ms = 30000;
		H->timer_arm(c->reopen, H->now_ms() + c->reopen_ms);
	}
}

/* ---- GATT links ----------------------------------------------------------------------- */

static void req_fail_all(struct ble_dev *d, struct ble_req **list, int err)
{
	while (*list) {
		struct ble_req *q = *list;

		*list = q->next;
		sd_bus_slot_unref(q->slot);
		H->complete(q->op, err, NULL);
		free(q);
	}
}

static int req_issue(struct ble_dev *d, struct ble_req *q);
static void fw_link_ready(struct ble_dev *d);
static void fw_link_lost(struct ble_dev *d);

/* An update keeps (or brings back) the link until it ends. */
static bool fw_wants_link(const struct ble_dev *d)
{
	return d->fw.phase != FW_IDLE && d->fw.phase != FW_READY;
}

static bool resolve_chars(struct ble_dev *d)
{
	bool all = true;

	for (uint32_t i = 0; i < d->n_pt; i++) {
		struct ble_pt *p = &d->pt[i];
		char macs[18];

		if (p->kind != PT_GATT)
			continue;
		free(p->cpath);
		p->cpath = NULL;
		for (struct ble_char *x = d->ctl->chars; x && !p->cpath; x = x->next) {
			if (strcmp(x->uuid, p->uuid) != 0 || !path_mac(d->ctl, x->path, macs) ||
			    strcmp(macs, d->macs) != 0)
				continue;
			if (p->svc[0]) {
				bool ok = false;

				for (struct ble_svc *s = d->ctl->svcs; s; s = s->next)
					if (x->svc_path && strcmp(s->path, x->svc_path) == 0 &&
					    strcmp(s->uuid, p->svc) == 0)
						ok = true;
				if (!ok)
					continue;
			}
			p->cpath = strdup(x->path);
		}
		if (!p->cpath) {
			all = false;
			H->log(d->dev, GWD_LOG_WARNING, "ble: %s has no characteristic %s (point %s)",
			       d->macs, p->uuid, p->name);
		}
	}
	return all;
}

static int on_notify_reply(sd_bus_message *m, void *ud, sd_bus_error *e)
{
	struct ble_dev *d = ud;

	for (uint32_t i = 0; i < d->n_pt; i++)
		if (d->pt[i].notify_slot == sd_bus_get_current_slot(d->ctl->bus))
			d->pt[i].notify_slot = sd_bus_slot_unref(d->pt[i].notify_slot);

	if (sd_bus_message_is_method_error(m, NULL))
		H->log(d->dev, GWD_LOG_WARNING, "ble: %s: StartNotify: %s", d->macs,
		       sd_bus_message_get_error(m)->message);
	return 0;
}

static void link_ready(struct ble_dev *d)
{
	struct ble_req *q;

	d->link = L_READY;
	d->backoff_ms = 0;
	if (d->ctl->n_connecting)
		d->ctl->n_connecting--;
	H->log(d->dev, GWD_LOG_INFO, "ble: %s connected, services resolved", d->macs);
	heard(d);
	resolve_chars(d);
	/* Subscriptions do not survive a disconnection: armed on every link. */
	for (uint32_t i = 0; i < d->n_pt; i++) {
		struct ble_pt *p = &d->pt[i];

		if (p->kind == PT_GATT && p->notify && p->cpath &&
		    sd_bus_call_method_async(d->ctl->bus, &p->notify_slot, BLUEZ, p->cpath,
					     IFACE_CHAR, "StartNotify", on_notify_reply, d, "") < 0)
			H->log(d->dev, GWD_LOG_WARNING, "ble: %s: StartNotify %s: out of memory",
			       d->macs, p->uuid);
	}
	while ((q = d->waiting)) {
		int r;

		d->waiting = q->next;
		if ((r = req_issue(d, q)) < 0) {
			H->complete(q->op, r, NULL);
			free(q);
		}
	}
	fw_link_ready(d);
	ctl_pump(d->ctl);
}

static void on_link_props(struct ble_dev *d, const struct ble_adv *a)
{
	if (a->has_connected && !a->connected && d->link != L_IDLE) {
		H->log(d->dev, GWD_LOG_NOTICE, "ble: %s disconnected", d->macs);
		link_lost(d, -ECONNRESET);
		return;
	}
	if (a->has_resolved && a->resolved && d->link == L_RESOLVING)
		link_ready(d);
}

static void on_retry(void *ud)
{
	struct ble_dev *d = ud;

	d->retry_pending = false;
	ctl_pump(d->ctl);
}

/* The link is gone (or never came): release its budget, fail what was in
 * flight, and retry later when the device still wants one. */
static void link_lost(struct ble_dev *d, int err)
{
	struct ble_ctl *c = d->ctl;

	if (d->link == L_IDLE)
		return;
	if ((d->link == L_CONNECTING || d->link == L_RESOLVING) && c->n_connecting)
		c->n_connecting--;
	if (c->n_conn)
		c->n_conn--;
	d->link = L_IDLE;
	d->link_slot = sd_bus_slot_unref(d->link_slot);
	for (uint32_t i = 0; i < d->n_pt; i++) /* subscriptions end with the link */
		d->pt[i].notify_slot = sd_bus_slot_unref(d->pt[i].notify_slot);
	req_fail_all(d, &d->inflight, err);
	fw_link_lost(d);
	if (d->started && d->timeout_ms && !d->down)
		H->timer_arm(d->presence, H->now_ms() + d->timeout_ms);
	d->backoff_ms = d->backoff_ms ? d->backoff_ms * 2 : 1000;
	if (d->backoff_ms > 60000)
		d->backoff_ms = 60000;
	if (d->started && (d->wants_link || d->waiting || fw_wants_link(d))) {
		d->retry_pending = true;
		H->timer_arm(d->retry, H->now_ms() + d->backoff_ms);
	}
	ctl_pump(c);
}

static int on_resolved_get(sd_bus_message *m, void *ud, sd_bus_error *e)
{
	struct ble_dev *d = ud;
	int b = 0;

	d->link_slot = sd_bus_slot_unref(d->link_slot);
	if (!sd_bus_message_is_method_error(m, NULL) &&
	    sd_bus_message_read(m, "v", "b", &b) >= 0 && b && d->link == L_RESOLVING)
		link_ready(d);
	return 0;
}

static void dev_path(struct ble_dev *d, char *out, size_t n)
{
	snprintf(out, n, "%s/dev_%.2s_%.2s_%.2s_%.2s_%.2s_%.2s", d->ctl->path, d->macs,
		 d->macs + 3, d->macs + 6, d->macs + 9, d->macs + 12, d->macs + 15);
}

static int on_connect_done(sd_bus_message *m, void *ud, sd_bus_error *e)
{
	struct ble_dev *d = ud;
	const sd_bus_error *err = sd_bus_message_get_error(m);
	char path[128];

	d->link_slot = sd_bus_slot_unref(d->link_slot);
	if (err && !sd_bus_error_has_name(err, "org.bluez.Error.AlreadyConnected")) {
		H->log(d->dev, GWD_LOG_WARNING, "ble: %s: connect failed: %s", d->macs,
		       err->message);
		req_fail_all(d, &d->waiting, -EHOSTUNREACH);
		link_lost(d, -EHOSTUNREACH);
		return 0;
	}
	if (d->link != L_CONNECTING)
		return 0;
	d->link = L_RESOLVING;
	/* ServicesResolved may be true already (a link BlueZ kept): ask. */
	dev_path(d, path, sizeof(path));
	sd_bus_call_method_async(d->ctl->bus, &d->link_slot, BLUEZ, path, IFACE_PROPS, "Get",
				 on_resolved_get, d, "ss", IFACE_DEVICE, "ServicesResolved");
	return 0;
}

static void link_start(struct ble_dev *d)
{
	struct ble_ctl *c = d->ctl;
	sd_bus_message *m = NULL;
	char path[128];
	int r;

	dev_path(d, path, sizeof(path));
	r = sd_bus_message_new_method_call(c->bus, &m, BLUEZ, path, IFACE_DEVICE, "Connect");
	if (r >= 0)
		r = sd_bus_call_async(c->bus, &d->link_slot, m, on_connect_done, d,
				      d->connect_timeout_ms * 1000);
	sd_bus_message_unref(m);
	if (r < 0) {
		H->log(d->dev, GWD_LOG_WARNING, "ble: %s: connect: %s", d->macs, strerror(-r));
		return;
	}
	d->link = L_CONNECTING;
	c->n_conn++;
	c->n_connecting++;
	H->log(d->dev, GWD_LOG_INFO, "ble: %s connecting", d->macs);
}

/* Start the links that are due, within the controller's budget. */
static void ctl_pump(struct ble_ctl *c)
{
	if (!c->bus || !c->path)
		return;
	for (struct ble_dev *d = c->devs; d; d = d->next_in_ctl) {
		if (c->n_conn >= c->max_conn || c->n_connecting >= c->max_connecting)
			break;
		if (d->started && d->link == L_IDLE && !d->retry_pending &&
		    (d->wants_link || d->waiting || fw_wants_link(d)))
			link_start(d);
	}
	ctl_update(c);
}

static int on_req_reply(sd_bus_message *m, void *ud, sd_bus_error *e)
{
	struct ble_req *q = ud, **pp;
	struct ble_dev *d = q->d;
	const sd_bus_error *err = sd_bus_message_get_error(m);
	int status = 0;
	struct gwd_value v;
	bool has_v = false;

	for (pp = &d->inflight; *pp && *pp != q; pp = &(*pp)->next)
		;
	if (*pp)
		*pp = q->next;
	q->slot = sd_bus_slot_unref(q->slot);
	if (err) {
		H->log(d->dev, GWD_LOG_WARNING, "ble: %s: %s of %s: %s", d->macs,
		       q->write ? "WriteValue" : "ReadValue", d->pt[q->ch].uuid, err->message);
		status = sd_bus_error_has_name(err, "org.bluez.Error.NotPermitted") ? -EPERM : -EIO;
	} else if (!q->write) {
		const void *p;
		size_t n;
		struct ble_reading rd;

		if (sd_bus_message_read_array(m, 'y', &p, &n) < 0 ||
		    ble_decode_generic(p, n, &d->pt[q->ch].gen, 1, &rd, 1) != 1) {
			status = -EPROTO;
		} else {
			v = gwd_value_double(rd.value);
			has_v = true;
			d->pt[q->ch].has_value = true;
			d->pt[q->ch].value = rd.value;
		}
	}
	H->complete(q->op, status, has_v ? &v : NULL);
	free(q);
	return 0;
}

/* Send a request; on failure q is left to the caller. */
static int req_issue(struct ble_dev *d, struct ble_req *q)
{
	struct ble_pt *p = &d->pt[q->ch];
	sd_bus_message *m = NULL;
	int r = -ENOENT;

	if (p->cpath) {
		r = sd_bus_message_new_method_call(d->ctl->bus, &m, BLUEZ, p->cpath, IFACE_CHAR,
						   q->write ? "WriteValue" : "ReadValue");
		if (r >= 0 && q->write)
			r = sd_bus_message_append_array(m, 'y', q->buf, q->len);
		if (r >= 0)
			r = sd_bus_message_append(m, "a{sv}", 0);
		if (r >= 0)
			r = sd_bus_call_async(d->ctl->bus, &q->slot, m, on_req_reply, q,
					      d->connect_timeout_ms * 1000);
		sd_bus_message_unref(m);
	}
	if (r < 0)
		return r == -ENOENT ? -ENOENT : -EIO;
	q->next = d->inflight;
	d->inflight = q;
	ctl_update(d->ctl);
	return 0;
}

/* ---- firmware: MCUmgr SMP over GATT ------------------------------------------------------ */

/* One request at a time: written without response, answered by a
 * notification with the same sequence number. */

static void fw_send(struct ble_dev *d);

static void fw_end(struct ble_dev *d, int status, enum fw_phase next)
{
	struct gwd_op *op = d->fw.op;

	H->timer_disarm(d->fw.timer);
	d->fw.req_len = 0;
	d->fw.op = NULL;
	d->fw.phase = next;
	if (op)
		H->complete(op, status, NULL);
}

/* The update is over (applied, failed to, or aborted): the link goes back
 * to what the device's points want. */
static void fw_release(struct ble_dev *d)
{
	struct ble_fw *f = &d->fw;

	H->timer_disarm(f->timer);
	f->phase = FW_IDLE;
	f->op = NULL;
	f->req_len = 0;
	f->notify_slot = sd_bus_slot_unref(f->notify_slot);
	f->write_slot = sd_bus_slot_unref(f->write_slot);
	free(f->chunk);
	f->chunk = NULL;
	if (d->link != L_IDLE && !d->wants_link && !d->waiting && d->ctl && d->ctl->bus &&
	    d->ctl->path) {
		char path[128];

		dev_path(d, path, sizeof(path));
		sd_bus_call_method_async(d->ctl->bus, NULL, BLUEZ, path, IFACE_DEVICE, "Disconnect",
					 NULL, NULL, "");
	}
}

/* Data bytes per upload request: what the ATT MTU leaves (BlueZ tells it
 * from 5.66 on) unless fw_chunk_size says less, else fw_chunk_size. */
static size_t fw_per_req(const struct ble_dev *d)
{
	size_t n = d->fw.chunk_max;

	if (d->fw.mtu > 3 + SMP_UPLOAD_OVERHEAD + 16) {
		size_t m = (size_t)d->fw.mtu - 3 - SMP_UPLOAD_OVERHEAD;

		if (!d->fw.chunk_set || m < n)
			n = m;
	}
	return n > SMP_MAX_DATA ? SMP_MAX_DATA : n;
}

/* The next upload request of the chunk, from where the device is. */
static void fw_upload_next(struct ble_dev *d)
{
	struct ble_fw *f = &d->fw;
	uint64_t end = f->chunk_base + f->chunk_len;
	uint64_t from = f->dev_off;
	size_t n;
	int r;

	if (from >= end) {
		fw_end(d, 0, FW_READY);
		return;
	}
	if (from < f->chunk_base) {
		H->log(d->dev, GWD_LOG_WARNING,
		       "ble: %s: SMP upload: the device wants offset %" PRIu64
		       ", before this chunk (%" PRIu64 ")",
		       d->macs, from, f->chunk_base);
		fw_end(d, -EIO, FW_READY);
		return;
	}
	n = fw_per_req(d);
	if (n > end - from)
		n = (size_t)(end - from);
	r = smp_upload_req(f->req, sizeof(f->req), ++f->seq, from,
			   f->chunk + (from - f->chunk_base), n, f->total, f->sha);
	if (r < 0) {
		fw_end(d, -EIO, FW_READY);
		return;
	}
	f->req_len = (size_t)r;
	f->sent_end = from + n;
	f->tries = 0;
	fw_send(d);
}

static bool fw_image_in(const struct smp_rsp *rsp, const uint8_t hash[32], uint32_t slot,
			const struct smp_image **out)
{
	for (size_t i = 0; i < rsp->n_img; i++)
		if (rsp->img[i].image == 0 && rsp->img[i].slot == slot && rsp->img[i].has_hash &&
		    memcmp(rsp->img[i].hash, hash, 32) == 0) {
			if (out)
				*out = &rsp->img[i];
			return true;
		}
	return false;
}

static void fw_request(struct ble_dev *d, int len)
{
	if (len < 0) {
		fw_end(d, -EIO, FW_READY);
		return;
	}
	d->fw.req_len = (size_t)len;
	d->fw.tries = 0;
	fw_send(d);
}

static void fw_on_rsp(struct ble_dev *d, const struct smp_rsp *rsp)
{
	struct ble_fw *f = &d->fw;
	const struct smp_image *im;
	int st = smp_status(rsp);

	if (!f->req_len || rsp->seq != f->seq || rsp->group != (f->req[4] << 8 | f->req[5]) ||
	    rsp->id != f->req[7])
		return; /* not the answer to what is in flight: a late one */
	H->timer_disarm(f->timer);
	f->req_len = 0;
	if (st < 0) {
		H->log(d->dev, GWD_LOG_WARNING, "ble: %s: SMP group %u command %u: rc %" PRId64 "%s",
		       d->macs, rsp->group, rsp->id, rsp->rc, rsp->v2 ? " (v2)" : "");
		/* Refused after the reset it asked for: it rebooted anyway. */
		fw_end(d, st, f->phase >= FW_TEST ? FW_IDLE : FW_READY);
		if (f->phase == FW_IDLE)
			fw_release(d);
		return;
	}
	switch (f->phase) {
	case FW_UPLOAD:
		if (!rsp->has_off) {
			fw_end(d, -EPROTO, FW_READY);
			return;
		}
		/* Normally the end of what was sent; else the device says where
		 * it is, and the upload goes on from there. */
		if (rsp->off != f->sent_end)
			H->log(d->dev, GWD_LOG_NOTICE,
			       "ble: %s: SMP upload: the device is at %" PRIu64 ", not %" PRIu64,
			       d->macs, rsp->off, f->sent_end);
		f->dev_off = rsp->off;
		fw_upload_next(d);
		return;
	case FW_CLOSE:
		if (!f->has_hash || !fw_image_in(rsp, f->hash, 1, NULL)) {
			H->log(d->dev, GWD_LOG_WARNING,
			       "ble: %s: the uploaded image is not in slot 1 with its hash", d->macs);
			fw_end(d, -EBADMSG, FW_READY);
			return;
		}
		fw_end(d, 0, FW_READY);
		return;
	case FW_TEST:
		f->phase = FW_RESET;
		fw_request(d, smp_reset_req(f->req, sizeof(f->req), ++f->seq));
		return;
	case FW_RESET:
		/* Acknowledged: the link drops as it reboots (fw_link_lost). */
		return;
	case FW_CHECK:
		/* What it runs now, new or old. */
		for (size_t i = 0; i < rsp->n_img; i++)
			if (rsp->img[i].image == 0 && rsp->img[i].slot == 0 && rsp->img[i].version[0])
				H->set_identity(d->dev, GWD_ID_FIRMWARE, rsp->img[i].version);
		if (!f->has_hash || !fw_image_in(rsp, f->hash, 0, &im)) {
			H->log(d->dev, GWD_LOG_WARNING,
			       "ble: %s: back with another image than the new one: rolled back",
			       d->macs);
			fw_end(d, -EIO, FW_IDLE);
			fw_release(d);
			return;
		}
		if (im->confirmed) {
			fw_end(d, 0, FW_IDLE);
			fw_release(d);
			return;
		}
		f->phase = FW_CONFIRM;
		fw_request(d, smp_state_write_req(f->req, sizeof(f->req), ++f->seq, f->hash, true));
		return;
	case FW_CONFIRM:
		if (rsp->n_img && !fw_image_in(rsp, f->hash, 0, &im)) {
			fw_end(d, -EIO, FW_IDLE);
		} else {
			H->log(d->dev, GWD_LOG_NOTICE, "ble: %s: new firmware runs, confirmed",
			       d->macs);
			fw_end(d, 0, FW_IDLE);
		}
		fw_release(d);
		return;
	default:
		return;
	}
}

/* A notification of the SMP characteristic: part of a response, or one. */
static void fw_rx(struct ble_dev *d, const uint8_t *p, size_t n)
{
	struct ble_fw *f = &d->fw;
	struct smp_rsp rsp;
	int len;

	if (n > sizeof(f->rx) - f->rx_len) {
		f->rx_len = 0; /* garbage: start over with the next frame */
		return;
	}
	memcpy(f->rx + f->rx_len, p, n);
	f->rx_len += n;
	while ((len = smp_frame_len(f->rx, f->rx_len)) > 0 && (size_t)len <= f->rx_len) {
		int r = smp_parse_rsp(f->rx, (size_t)len, &rsp);
		char hex[2 * 16 + 1] = "";

		for (int i = 0; r < 0 && i < 16 && i < len; i++)
			snprintf(hex + 2 * i, 3, "%02x", f->rx[i]);
		/* Taken out before it is acted on: that may send the next
		 * request, which starts a new response. */
		memmove(f->rx, f->rx + len, f->rx_len - (size_t)len);
		f->rx_len -= (size_t)len;
		if (r == 0)
			fw_on_rsp(d, &rsp);
		else
			H->log(d->dev, GWD_LOG_WARNING,
			       "ble: %s: SMP response not understood (%d bytes: %s...)", d->macs, len,
			       hex);
	}
	if (len > (int)sizeof(f->rx))
		f->rx_len = 0;
}

static int on_fw_write_reply(sd_bus_message *m, void *ud, sd_bus_error *e)
{
	struct ble_dev *d = ud;
	const sd_bus_error *err = sd_bus_message_get_error(m);

	d->fw.write_slot = sd_bus_slot_unref(d->fw.write_slot);
	if (err && d->fw.req_len) {
		H->log(d->dev, GWD_LOG_WARNING, "ble: %s: SMP write: %s", d->macs, err->message);
		/* During the reset the link may drop under the write. */
		if (d->fw.phase != FW_RESET)
			fw_end(d, -EIO, FW_READY);
	}
	return 0;
}

static void fw_send(struct ble_dev *d)
{
	struct ble_fw *f = &d->fw;
	sd_bus_message *m = NULL;
	int r;

	if (!f->req_len || d->link != L_READY || !f->notifying || !f->cpath)
		return; /* sent once the link is back (fw_link_ready) */
	f->write_slot = sd_bus_slot_unref(f->write_slot);
	r = sd_bus_message_new_method_call(d->ctl->bus, &m, BLUEZ, f->cpath, IFACE_CHAR,
					   "WriteValue");
	if (r >= 0)
		r = sd_bus_message_append_array(m, 'y', f->req, f->req_len);
	/* Write without response, as SMP clients do. */
	if (r >= 0)
		r = sd_bus_message_append(m, "a{sv}", 1, "type", "s", "command");
	if (r >= 0)
		r = sd_bus_call_async(d->ctl->bus, &f->write_slot, m, on_fw_write_reply, d,
				      f->timeout_ms * 1000);
	sd_bus_message_unref(m);
	if (r < 0) {
		fw_end(d, -EIO, FW_READY);
		return;
	}
	f->rx_len = 0;
	H->timer_arm(f->timer, H->now_ms() + f->timeout_ms);
	ctl_update(d->ctl);
}

/* No answer in time: the request again (a notification may be lost), then
 * give up. */
static void on_fw_timer(void *ud)
{
	struct ble_dev *d = ud;

	if (!d->fw.req_len)
		return;
	if (d->fw.phase == FW_RESET) {
		/* Some devices reboot before they answer: wait for the link to drop. */
		d->fw.req_len = 0;
		return;
	}
	if (++d->fw.tries > 2) {
		H->log(d->dev, GWD_LOG_WARNING, "ble: %s: no SMP response", d->macs);
		fw_end(d, -ETIMEDOUT, d->fw.phase >= FW_CHECK ? FW_IDLE : FW_READY);
		if (d->fw.phase == FW_IDLE)
			fw_release(d);
		return;
	}
	{
		unsigned tries = d->fw.tries;

		fw_send(d);
		d->fw.tries = tries;
	}
}

static int on_fw_notify(sd_bus_message *m, void *ud, sd_bus_error *e)
{
	struct ble_dev *d = ud;
	const sd_bus_error *err = sd_bus_message_get_error(m);

	d->fw.notify_slot = sd_bus_slot_unref(d->fw.notify_slot);
	if (err) {
		H->log(d->dev, GWD_LOG_WARNING, "ble: %s: StartNotify (SMP): %s", d->macs,
		       err->message);
		fw_end(d, -EIO, d->fw.phase >= FW_REBOOT ? FW_IDLE : FW_READY);
		return 0;
	}
	d->fw.notifying = true;
	switch (d->fw.phase) {
	case FW_OPEN:
		fw_end(d, 0, FW_READY);
		break;
	case FW_REBOOT:
		d->fw.phase = FW_CHECK;
		fw_request(d, smp_state_read_req(d->fw.req, sizeof(d->fw.req), ++d->fw.seq));
		break;
	default:
		fw_send(d); /* what was in flight when the link dropped */
		break;
	}
	return 0;
}

/* Connected and resolved: find the SMP characteristic and subscribe. */
static void fw_link_ready(struct ble_dev *d)
{
	struct ble_fw *f = &d->fw;
	char macs[18];

	if (!f->enabled || f->phase == FW_IDLE)
		return;
	free(f->cpath);
	f->cpath = NULL;
	for (struct ble_char *x = d->ctl->chars; x && !f->cpath; x = x->next)
		if (strcmp(x->uuid, SMP_CHAR_UUID) == 0 && path_mac(d->ctl, x->path, macs) &&
		    strcmp(macs, d->macs) == 0) {
			f->cpath = strdup(x->path);
			f->mtu = x->mtu;
		}
	if (!f->cpath) {
		H->log(d->dev, GWD_LOG_WARNING, "ble: %s has no SMP characteristic (%s)", d->macs,
		       SMP_CHAR_UUID);
		fw_end(d, -ENOTSUP, f->phase >= FW_REBOOT ? FW_IDLE : FW_READY);
		return;
	}
	if (sd_bus_call_method_async(d->ctl->bus, &f->notify_slot, BLUEZ, f->cpath, IFACE_CHAR,
				     "StartNotify", on_fw_notify, d, "") < 0)
		fw_end(d, -EIO, FW_READY);
}

static void fw_link_lost(struct ble_dev *d)
{
	struct ble_fw *f = &d->fw;

	f->notifying = false;
	f->notify_slot = sd_bus_slot_unref(f->notify_slot);
	f->write_slot = sd_bus_slot_unref(f->write_slot);
	free(f->cpath);
	f->cpath = NULL;
	f->rx_len = 0;
	if (f->phase == FW_RESET) {
		/* The reboot it was asked for: back soon, a reconnection at its
		 * first sign of life (fw_back), or on the back-off. */
		H->timer_disarm(f->timer);
		f->req_len = 0;
		f->phase = FW_REBOOT;
		d->backoff_ms = 0;
		H->log(d->dev, GWD_LOG_INFO, "ble: %s: rebooting", d->macs);
	} else if (f->op && f->phase == FW_OPEN && ++f->drops >= 3) {
		/* Out of reach: the host defers the update (or gives up). */
		H->log(d->dev, GWD_LOG_WARNING, "ble: %s: not reachable for the update", d->macs);
		fw_end(d, -EBUSY, FW_READY);
	} else if (f->op && f->phase != FW_OPEN && f->phase != FW_REBOOT && ++f->drops > 5) {
		fw_end(d, -EIO, FW_READY);
	}
	/* Otherwise what was in flight is sent again once the link is back. */
	H->timer_disarm(f->timer);
}

/* Heard from after its reset (an advert, its object back): connect now. */
static void fw_back(struct ble_dev *d)
{
	if (d->link == L_IDLE && d->retry_pending) {
		H->timer_disarm(d->retry);
		d->retry_pending = false;
		ctl_pump(d->ctl);
	}
}

static int ble_fw_caps(void *device_ctx, struct gwd_fw_caps *caps)
{
	struct ble_dev *d = device_ctx;

	if (!d->fw.enabled)
		return -ENOTSUP;
	if (caps->size >= offsetof(struct gwd_fw_caps, chunk_size) + sizeof(caps->chunk_size))
		caps->chunk_size = 4096; /* copied, and sent in requests the MTU allows */
	if (caps->size >= offsetof(struct gwd_fw_caps, max_size) + sizeof(caps->max_size))
		caps->max_size = d->fw.max_size;
	if (caps->size >= offsetof(struct gwd_fw_caps, apply_timeout_ms) +
				  sizeof(caps->apply_timeout_ms))
		caps->apply_timeout_ms = d->fw.apply_timeout_ms;
	if (caps->size >= offsetof(struct gwd_fw_caps, flags) + sizeof(caps->flags))
		caps->flags = GWD_FW_CAP_MCUBOOT_ONLY | GWD_FW_CAP_REPORTS_VERSION;
	return 0;
}

static void ble_fw_abort(void *device_ctx)
{
	struct ble_dev *d = device_ctx;

	if (d->fw.phase == FW_IDLE)
		return;
	fw_end(d, -ECANCELED, FW_IDLE);
	fw_release(d);
}

/* An op that needs the link: brought up now if it is down. */
static void fw_need_link(struct ble_dev *d)
{
	if (d->link == L_IDLE) {
		d->retry_pending = false;
		H->timer_disarm(d->retry);
		ctl_pump(d->ctl);
	}
}

static int ble_fw_open(void *device_ctx, const struct gwd_fw_info *info, struct gwd_op *op)
{
	struct ble_dev *d = device_ctx;
	struct ble_fw *f = &d->fw;

	if (!f->enabled || !d->started)
		return -ENOTCONN;
	if (info->format != GWD_FW_FMT_MCUBOOT || !info->sha256)
		return -ENOTSUP;
	if (f->op)
		return -EBUSY;
	ble_fw_abort(d);
	f->total = info->size;
	memcpy(f->sha, info->sha256, 32);
	f->tlv_off = info->image_offset + info->image_size;
	f->has_hash = false;
	f->dev_off = 0;
	f->drops = 0;
	f->op = op;
	f->phase = FW_OPEN;
	if (d->link == L_READY) {
		fw_link_ready(d); /* completes from StartNotify's reply */
	} else {
		fw_need_link(d);
	}
	ctl_update(d->ctl);
	return 0;
}

/* The image's own SHA-256, from the TLV area after it (type 0x10). */
static void fw_find_hash(struct ble_fw *f, size_t have)
{
	size_t i = 4;

	if (have < 4 || f->tlv[0] != 0x07 || f->tlv[1] != 0x69)
		return;
	while (i + 4 <= have) {
		unsigned type = f->tlv[i] | f->tlv[i + 1] << 8, len = f->tlv[i + 2] | f->tlv[i + 3] << 8;

		if (type == 0x10 && len == 32 && i + 4 + 32 <= have) {
			memcpy(f->hash, f->tlv + i + 4, 32);
			f->has_hash = true;
			return;
		}
		i += 4 + len;
	}
}

static int ble_fw_write(void *device_ctx, uint64_t offset, const void *data, size_t len,
			struct gwd_op *op)
{
	struct ble_dev *d = device_ctx;
	struct ble_fw *f = &d->fw;
	uint8_t *c;

	if (f->phase != FW_READY || f->op)
		return -EBUSY;
	/* Keep what the TLV area holds, for the hash fw_close checks. */
	for (size_t i = 0; i < len; i++)
		if (offset + i >= f->tlv_off && offset + i - f->tlv_off < sizeof(f->tlv))
			f->tlv[offset + i - f->tlv_off] = ((const uint8_t *)data)[i];
	if (offset + len == f->total && f->total > f->tlv_off)
		fw_find_hash(f, (size_t)(f->total - f->tlv_off < sizeof(f->tlv)
					     ? f->total - f->tlv_off
					     : sizeof(f->tlv)));
	c = realloc(f->chunk, len ? len : 1);
	if (!c)
		return -ENOMEM;
	f->chunk = c;
	memcpy(c, data, len);
	f->chunk_base = offset;
	f->chunk_len = len;
	f->op = op;
	f->phase = FW_UPLOAD;
	if (f->dev_off < offset)
		f->dev_off = offset;
	if (f->dev_off >= offset + len) {
		/* The device has it already (it said so): nothing to send. */
		f->op = NULL;
		f->phase = FW_READY;
		return defer_complete(d, op, 0, NULL);
	}
	fw_upload_next(d); /* completes from the responses, never in here */
	fw_need_link(d);
	return 0;
}

/* The daemon stopped while the device applied the package: ask the device
 * what it runs, as after its reset.  The image's hash comes from the
 * package's TLV area in the spool file (a few hundred bytes). */
static int ble_fw_recover(void *device_ctx, const struct gwd_fw_info *info, struct gwd_op *op)
{
	struct ble_dev *d = device_ctx;
	struct ble_fw *f = &d->fw;
	size_t want;
	ssize_t n;
	int fd;

	if (!f->enabled || !d->started)
		return -ENOTCONN;
	if (info->format != GWD_FW_FMT_MCUBOOT || !info->path)
		return -ENOTSUP;
	if (f->op)
		return -EBUSY;
	ble_fw_abort(d);
	f->tlv_off = info->image_offset + info->image_size;
	if (info->size <= f->tlv_off)
		return -EBADMSG;
	want = info->size - f->tlv_off < sizeof(f->tlv) ? (size_t)(info->size - f->tlv_off)
						      : sizeof(f->tlv);
	fd = open(info->path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = pread(fd, f->tlv, want, (off_t)f->tlv_off);
	close(fd);
	f->has_hash = false;
	if (n == (ssize_t)want)
		fw_find_hash(f, want);
	if (!f->has_hash)
		return -EBADMSG;
	f->op = op;
	f->drops = 0;
	f->phase = FW_REBOOT;
	if (d->link == L_READY)
		fw_link_ready(d);
	else
		fw_need_link(d);
	return 0;
}

static int ble_fw_close(void *device_ctx, struct gwd_op *op)
{
	struct ble_dev *d = device_ctx;
	struct ble_fw *f = &d->fw;

	if (f->phase != FW_READY || f->op)
		return -EBUSY;
	if (!f->has_hash) {
		H->log(d->dev, GWD_LOG_WARNING, "ble: %s: the package has no SHA-256 TLV", d->macs);
		return -EBADMSG;
	}
	f->op = op;
	f->phase = FW_CLOSE;
	fw_request(d, smp_state_read_req(f->req, sizeof(f->req), ++f->seq));
	fw_need_link(d);
	return 0;
}

static int ble_fw_apply(void *device_ctx, struct gwd_op *op)
{
	struct ble_dev *d = device_ctx;
	struct ble_fw *f = &d->fw;

	if (f->phase != FW_READY || f->op || !f->has_hash)
		return -EBUSY;
	f->op = op;
	f->phase = FW_TEST;
	/* Test, not confirm: MCUboot swaps back unless the new image is
	 * confirmed once it runs. */
	fw_request(d, smp_state_write_req(f->req, sizeof(f->req), ++f->seq, f->hash, false));
	fw_need_link(d);
	return 0;
}

/* ---- discovery rules -------------------------------------------------------------------- */

static bool rule_matches(const struct ble_rule *u, const char *macs, const struct ble_adv *a)
{
	if (u->prefix && strncasecmp(macs, u->prefix, strlen(u->prefix)) != 0)
		return false;
	for (size_t k = 0; k < a->n_data; k++) {
		const struct ble_data *x = &a->data[k];

		switch (u->fmt) {
		case FMT_BTHOME:
			if (!x->mfr && x->has16 && x->id == BLE_UUID_BTHOME)
				return true;
			break;
		case FMT_ATC:
			if (!x->mfr && x->has16 && x->id == BLE_UUID_ENV_SENSING &&
			    (x->n == 13 || x->n == 15))
				return true;
			break;
		case FMT_RUUVI:
			if (x->mfr && x->id == BLE_COMPANY_RUUVI)
				return true;
			break;
		default:
			break;
		}
	}
	return false;
}

/* The new device's name: the rule's pattern with %r (rule) and %m (MAC,
 * 12 lower-case hex digits). */
static char *rule_name(const struct ble_rule *u, const char *macs)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		return NULL;
	for (const char *s = u->pattern; *s; s++) {
		if (*s == '%' && s[1] == 'r') {
			fputs(u->profile, f);
			s++;
		} else if (*s == '%' && s[1] == 'm') {
			for (const char *m = macs; *m; m++)
				if (*m != ':')
					fputc(tolower((unsigned char)*m), f);
			s++;
		} else {
			fputc(*s, f);
		}
	}
	fclose(f);
	return buf;
}

static bool rule_has(char (*list)[18], size_t n, const char *macs)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(list[i], macs) == 0)
			return true;
	return false;
}

static void rule_save(struct ble_rule *u)
{
	char *tmp;
	FILE *f;

	if (!u->file || asprintf(&tmp, "%s.new", u->file) < 0)
		return;
	f = fopen(tmp, "w");
	if (f) {
		for (size_t i = 0; i < u->n_admitted; i++)
			fprintf(f, "%s\n", u->admitted[i]);
		if (fclose(f) == 0 && rename(tmp, u->file) == 0) {
			free(tmp);
			return;
		}
	}
	H->log(NULL, GWD_LOG_WARNING, "ble: cannot save %s: %s", u->file, strerror(errno));
	unlink(tmp);
	free(tmp);
}

/* Propose one device; 0 when the daemon has it (made now or before). */
static int rule_propose(struct ble_ctl *c, struct ble_rule *u, const char *macs)
{
	char *name = rule_name(u, macs);
	/* The device's own keys: its address and its controller (not the bus
	 * group, whose name an adapter cannot read). */
	struct gwd_setting set[3] = {
		{"mac", {.type = GWD_V_STRING, .v.bytes = {macs, strlen(macs)}}},
		{"controller", {.type = GWD_V_STRING, .v.bytes = {c->name, strlen(c->name)}}},
		{"dbus_address", {.type = GWD_V_STRING, .v.bytes = {c->addr, c->addr ? strlen(c->addr) : 0}}},
	};
	struct gwd_device_proposal p = {.size = sizeof(p), .rule = u->profile,
					.settings = set, .n_settings = c->addr ? 3 : 2};
	int r;

	if (!name)
		return -ENOMEM;
	p.name = name;
	r = H->propose_device(&p);
	if (r == 0)
		H->log(NULL, GWD_LOG_NOTICE, "ble %s: rule %s admits %s as %s", c->name, u->profile,
		       macs, name);
	else if (r != -EEXIST && r != -EAGAIN)
		H->log(NULL, GWD_LOG_WARNING, "ble %s: rule %s: proposing %s: %s", c->name,
		       u->profile, name, strerror(-r));
	free(name);
	return r == -EEXIST ? 0 : r;
}

static void rule_later(struct ble_ctl *c, struct ble_rule *u, const char *macs)
{
	void *v;

	if (rule_has(u->later, u->n_later, macs))
		return;
	v = realloc(u->later, (u->n_later + 1) * sizeof(*u->later));
	if (!v)
		return;
	u->later = v;
	memcpy(u->later[u->n_later++], macs, 18);
	H->timer_arm(c->rules_timer, H->now_ms() + 200);
}

static void on_rules_timer(void *ud)
{
	struct ble_ctl *c = ud;

	for (struct ble_rule *u = c->rules; u; u = u->next) {
		size_t n = u->n_later;
		char (*list)[18] = u->later;

		u->later = NULL;
		u->n_later = 0;
		for (size_t i = 0; i < n; i++)
			if (rule_propose(c, u, list[i]) == -EAGAIN)
				rule_later(c, u, list[i]);
		free(list);
	}
}

static void rule_check(struct ble_ctl *c, const char *macs, const struct ble_adv *a)
{
	for (struct ble_rule *u = c->rules; u; u = u->next) {
		void *v;
		int r;

		if (rule_has(u->admitted, u->n_admitted, macs) || !rule_matches(u, macs, a))
			continue;
		if (u->n_admitted >= u->max) {
			if (!u->full_logged)
				H->log(NULL, GWD_LOG_WARNING,
				       "ble %s: rule %s: %u devices admitted, the maximum: %s and "
				       "later ones ignored",
				       c->name, u->profile, u->max, macs);
			u->full_logged = true;
			continue;
		}
		r = rule_propose(c, u, macs);
		if (r == -EAGAIN)
			rule_later(c, u, macs);
		/* A refused proposal (logged) is not proposed again on every
		 * advert: it takes its place in the count like the others. */
		v = realloc(u->admitted, (u->n_admitted + 1) * sizeof(*u->admitted));
		if (!v)
			continue;
		u->admitted = v;
		memcpy(u->admitted[u->n_admitted++], macs, 18);
		rule_save(u);
		for (struct ble_dev *d = c->devs; d; d = d->next_in_ctl)
			for (uint32_t i = 0; d->started && i < d->n_pt; i++)
				if (d->pt[i].kind == PT_PROPOSED)
					report_pt(d, i, (double)u->n_admitted);
		return;
	}
}

/* Register a device's bus rule with its controller (once per bus). */
static void rule_add(struct ble_ctl *c, struct ble_dev *d)
{
	struct ble_rule *u;
	FILE *f;
	char line[64];

	if (!d->rule.profile)
		return;
	for (u = c->rules; u; u = u->next)
		if (strcmp(u->profile, d->rule.profile) == 0)
			return;
	u = calloc(1, sizeof(*u));
	if (!u || !(u->profile = strdup(d->rule.profile)) ||
	    !(u->pattern = strdup(d->rule.pattern)) ||
	    (d->rule.prefix && !(u->prefix = strdup(d->rule.prefix))))
		goto oom;
	for (int i = 0; i < 5; i++)
		if (strcmp(d->rule.fmt, fmt_names[i]) == 0)
			u->fmt = (enum fmt)i;
	u->max = (unsigned)d->rule.max;
	if (d->rule.remember) {
		const char *dir = GWD_HOST_HAS(H, state_dir) ? H->state_dir(d->dev) : NULL;

		if (!dir)
			H->log(d->dev, GWD_LOG_WARNING,
			       "ble: rule %s: no gateway.state_dir, admitted devices are not "
			       "remembered",
			       u->profile);
		else if (asprintf(&u->file, "%s/%s.%s.ble", dir, c->name, u->profile) < 0)
			goto oom;
	}
	u->next = c->rules;
	c->rules = u;
	/* The devices admitted before the restart come back. */
	if (u->file && (f = fopen(u->file, "r"))) {
		while (fgets(line, sizeof(line), f) && u->n_admitted < u->max) {
			uint8_t mac[6];
			char macs[18];
			void *v;

			line[strcspn(line, "\r\n")] = '\0';
			if (parse_mac(line, mac) < 0)
				continue;
			mac_str(mac, macs);
			v = realloc(u->admitted, (u->n_admitted + 1) * sizeof(*u->admitted));
			if (!v)
				break;
			u->admitted = v;
			memcpy(u->admitted[u->n_admitted++], macs, 18);
			rule_later(c, u, macs);
		}
		fclose(f);
	}
	return;
oom:
	if (u) {
		free(u->profile);
		free(u->pattern);
		free(u->prefix);
		free(u);
	}
}

static void rules_free(struct ble_ctl *c)
{
	while (c->rules) {
		struct ble_rule *u = c->rules;

		c->rules = u->next;
		free(u->profile);
		free(u->pattern);
		free(u->prefix);
		free(u->file);
		free(u->admitted);
		free(u->later);
		free(u);
	}
}

/* ---- controllers: shared by devices ---------------------------------------------------- */

static bool same(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static struct ble_ctl *ctl_get(struct ble_ad *ad, struct ble_dev *d)
{
	struct ble_ctl *c;

	for (c = ad->ctls; c; c = c->next)
		if (same(c->addr, d->dbus_addr) && strcasecmp(c->name, d->ctl_name) == 0)
			return c;
	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->ad = ad;
	c->max_conn = (unsigned)d->max_conn;
	c->max_connecting = (unsigned)d->max_connecting;
	if (!(c->name = strdup(d->ctl_name)) || (d->dbus_addr && !(c->addr = strdup(d->dbus_addr))) ||
	    H->timer_new(on_bus_timer, c, &c->bus_timer) < 0 ||
	    H->timer_new(on_reopen, c, &c->reopen) < 0 ||
	    H->timer_new(on_rules_timer, c, &c->rules_timer) < 0) {
		H->timer_free(c->bus_timer);
		H->timer_free(c->reopen);
		free(c->name);
		free(c->addr);
		free(c);
		return NULL;
	}
	c->next = ad->ctls;
	ad->ctls = c;
	if (ctl_open(c) < 0)
		H->timer_arm(c->reopen, H->now_ms() + 500);
	return c;
}

static void ctl_put(struct ble_ctl *c)
{
	struct ble_ctl **pp;

	if (c->devs)
		return;
	ctl_close(c, false);
	for (pp = &c->ad->ctls; *pp != c; pp = &(*pp)->next)
		;
	*pp = c->next;
	H->timer_free(c->bus_timer);
	H->timer_free(c->reopen);
	H->timer_free(c->rules_timer);
	rules_free(c);
	free(c->macs.slot);
	free(c->name);
	free(c->addr);
	free(c);
}

/* ---- the adapter ------------------------------------------------------------------------- */

static int ble_init(const struct gwd_host *host, void **adapter_ctx)
{
	struct ble_ad *ad;

	/* watch_set_events (1.5): sd-bus wants EPOLLOUT only while it writes. */
	if (GWD_HOST_REQUIRE(host, watch_set_events) || !host->watch_set_events)
		return -EPROTO;
	ad = calloc(1, sizeof(*ad));
	if (!ad)
		return -ENOMEM;
	H = host;
	ad->host = host;
	*adapter_ctx = ad;
	return 0;
}

static void ble_fini(void *adapter_ctx)
{
	free(adapter_ctx);
}

static void dev_destroy(struct ble_dev *d)
{
	for (size_t i = 0; i < d->n_pt; i++) {
		free(d->pt[i].name);
		free(d->pt[i].cpath);
	}
	free(d->pt);
	if (d->presence)
		H->timer_free(d->presence);
	if (d->retry)
		H->timer_free(d->retry);
	if (d->done_timer)
		H->timer_free(d->done_timer);
	if (d->fw.timer)
		H->timer_free(d->fw.timer);
	free(d->fw.cpath);
	free(d->fw.chunk);
	free(d);
}

static int ble_device_new(void *adapter_ctx, struct gwd_device *dev, const struct gwd_cfg *device,
			  const struct gwd_cfg *bus, void **device_ctx)
{
	struct ble_ad *ad = adapter_ctx;
	struct ble_dev *d = calloc(1, sizeof(*d));
	const char *mac = NULL, *fmt = "none", *key = NULL, *uuid = NULL, *fw = NULL;
	double fw_apply_timeout = 120, fw_timeout = 10;
	int64_t fw_chunk = 128, fw_max = 0;
	const struct gwd_cfg *cn = bus ? bus : device;
	double timeout = 120, connect_timeout = 20;
	int64_t company = -1;
	int err = 0;

	if (!d)
		return -ENOMEM;
	d->host = H;
	d->ad = ad;
	d->dev = dev;
	d->done_tail = &d->done;
	d->ctl_name = "hci0";
	d->max_conn = 3;
	d->max_connecting = 1;
	d->rule.fmt = "bthome";
	d->rule.pattern = "%r-%m";
	d->rule.max = 16;
	/* The controller and its bus: the bus group's keys, or the device's. */
	gwd_cfg_read_string(H, cn, "controller", &d->ctl_name, &err);
	gwd_cfg_read_string(H, cn, "dbus_address", &d->dbus_addr, &err);
	gwd_cfg_read_int(H, cn, "max_connections", &d->max_conn, &err);
	gwd_cfg_read_int(H, cn, "max_connecting", &d->max_connecting, &err);
	gwd_cfg_check_range(H, cn, "max_connections", (double)d->max_conn, 1, 32, &err);
	gwd_cfg_check_range(H, cn, "max_connecting", (double)d->max_connecting, 1, 32, &err);
	if (bus) {
		gwd_cfg_read_string(H, bus, "discover", &d->rule.profile, &err);
		gwd_cfg_read_string(H, bus, "discover_format", &d->rule.fmt, &err);
		gwd_cfg_read_string(H, bus, "discover_mac_prefix", &d->rule.prefix, &err);
		gwd_cfg_read_string(H, bus, "discover_name", &d->rule.pattern, &err);
		gwd_cfg_read_int(H, bus, "discover_max", &d->rule.max, &err);
		gwd_cfg_read_bool(H, bus, "discover_remember", &d->rule.remember, &err);
		gwd_cfg_check_range(H, bus, "discover_max", (double)d->rule.max, 1, 10000, &err);
		if (strcmp(d->rule.fmt, "bthome") && strcmp(d->rule.fmt, "atc") &&
		    strcmp(d->rule.fmt, "ruuvi"))
			err = H->cfg_error(bus, "discover_format",
					   "expected \"bthome\", \"atc\" or \"ruuvi\", found \"%s\"",
					   d->rule.fmt);
		if (d->rule.prefix) {
			size_t n = strlen(d->rule.prefix);
			bool ok = n <= 17;

			for (size_t i = 0; ok && i < n; i++)
				ok = i % 3 == 2 ? d->rule.prefix[i] == ':'
						: isxdigit((unsigned char)d->rule.prefix[i]);
			if (!ok)
				err = H->cfg_error(bus, "discover_mac_prefix",
						   "expected the start of a MAC address, e.g. "
						   "\"A4:C1:38\", found \"%s\"",
						   d->rule.prefix);
		}
		if (!strstr(d->rule.pattern, "%m"))
			err = H->cfg_error(bus, "discover_name",
					   "needs %%m (the MAC) to give each device its own name");
	}
	if (strncmp(d->ctl_name, "hci", 3) != 0 || !d->ctl_name[3]) {
		uint8_t m[6];

		if (parse_mac(d->ctl_name, m) < 0)
			err = H->cfg_error(cn, "controller",
					   "expected \"hciN\" or the controller's address, found \"%s\"",
					   d->ctl_name);
	}
	gwd_cfg_read_string(H, device, "mac", &mac, &err);
	gwd_cfg_read_string(H, device, "format", &fmt, &err);
	gwd_cfg_read_string(H, device, "bind_key", &key, &err);
	gwd_cfg_read_double(H, device, "timeout", &timeout, &err);
	gwd_cfg_read_double(H, device, "connect_timeout", &connect_timeout, &err);
	gwd_cfg_read_string(H, device, "uuid", &uuid, &err);
	gwd_cfg_read_int(H, device, "company", &company, &err);
	gwd_cfg_check_range(H, device, "timeout", timeout, 0, 86400, &err);
	gwd_cfg_check_range(H, device, "connect_timeout", connect_timeout, 1, 300, &err);
	d->timeout_ms = gwd_ms_of(timeout);
	d->connect_timeout_ms = gwd_ms_of(connect_timeout);
	if (!mac) {
		d->is_ctl_dev = true; /* the controller itself */
	} else if (parse_mac(mac, d->mac) < 0) {
		err = H->cfg_error(device, "mac", "expected a MAC address AA:BB:CC:DD:EE:FF, found \"%s\"",
				   mac);
	}
	mac_str(d->mac, d->macs);
	d->fmt = FMT_NONE + 100;
	for (int i = 0; i < 5; i++)
		if (strcmp(fmt, fmt_names[i]) == 0)
			d->fmt = (enum fmt)i;
	if (strcmp(fmt, "pvvx") == 0)
		d->fmt = FMT_ATC; /* one decoder: the length tells them apart */
	if (d->fmt == FMT_NONE + 100) {
		d->fmt = FMT_NONE;
		err = H->cfg_error(device, "format",
				   "expected \"bthome\", \"atc\", \"pvvx\", \"ruuvi\", \"generic\" or "
				   "\"none\", found \"%s\"",
				   fmt);
	}
	if (key) {
		if (d->fmt != FMT_BTHOME)
			err = H->cfg_error(device, "bind_key", "only for format \"bthome\"");
		else if (parse_hex(key, d->key, 16) < 0)
			err = H->cfg_error(device, "bind_key",
					   "expected 32 hexadecimal digits (16 bytes)");
		else
			d->has_key = true;
	}
	if (d->fmt == FMT_GENERIC) {
		int u;

		if (uuid && company >= 0)
			err = H->cfg_error(device, "company", "either uuid or company, not both");
		else if (uuid && (u = uuid16(uuid)) >= 0)
			d->has_uuid = true, d->gen_uuid = (uint16_t)u;
		else if (uuid)
			err = H->cfg_error(device, "uuid",
					   "expected a 16-bit service UUID, e.g. \"181C\", found \"%s\"",
					   uuid);
		else if (company >= 0 && company <= 0xffff)
			d->has_company = true, d->gen_company = (uint16_t)company;
		else
			err = H->cfg_error(device, company >= 0 ? "company" : "format",
					   company >= 0 ? "expected a company id 0..65535"
							: "format \"generic\" needs uuid (service "
							  "data) or company (manufacturer data)");
	} else if (uuid || company >= 0) {
		err = H->cfg_error(device, uuid ? "uuid" : "company", "only for format \"generic\"");
	}
	/* Firmware updates over MCUmgr SMP. */
	gwd_cfg_read_string(H, device, "firmware", &fw, &err);
	if (fw && strcmp(fw, "smp") != 0)
		err = H->cfg_error(device, "firmware", "expected \"smp\", found \"%s\"", fw);
	else if (fw && d->is_ctl_dev)
		err = H->cfg_error(device, "firmware", "the controller has no firmware: set the "
				   "device's mac");
	d->fw.enabled = fw != NULL;
	d->fw.chunk_set = H->cfg_int(device, "fw_chunk_size", &fw_chunk) == 0;
	if (H->cfg_int(device, "fw_chunk_size", &fw_chunk) == -EINVAL)
		err = -EINVAL;
	gwd_cfg_check_range(H, device, "fw_chunk_size", (double)fw_chunk, 16, SMP_MAX_DATA, &err);
	gwd_cfg_read_double(H, device, "fw_apply_timeout", &fw_apply_timeout, &err);
	gwd_cfg_check_range(H, device, "fw_apply_timeout", fw_apply_timeout, 1, 3600, &err);
	gwd_cfg_read_double(H, device, "fw_timeout", &fw_timeout, &err);
	gwd_cfg_check_range(H, device, "fw_timeout", fw_timeout, 0.1, 300, &err);
	gwd_cfg_read_int(H, device, "fw_max_size", &fw_max, &err);
	gwd_cfg_check_range(H, device, "fw_max_size", (double)fw_max, 0, 4294967295.0, &err);
	d->fw.chunk_max = (uint32_t)fw_chunk;
	d->fw.apply_timeout_ms = (uint32_t)gwd_ms_of(fw_apply_timeout);
	d->fw.timeout_ms = (uint32_t)gwd_ms_of(fw_timeout);
	d->fw.max_size = fw_max > 0 ? (uint64_t)fw_max : 0;
	if (err < 0) {
		dev_destroy(d);
		return -EINVAL;
	}
	*device_ctx = d;
	return 0;
}

static int ble_channel_new(void *device_ctx, const char *channel, const struct gwd_cfg *point,
			   gwd_channel_t *out)
{
	struct ble_dev *d = device_ctx;
	struct ble_pt p = {0};
	const char *measure = NULL, *chr = NULL, *svc = NULL, *type = NULL, *order = "little";
	int64_t index = 0, at = 0;
	int err = 0;

	gwd_cfg_read_string(H, point, "measure", &measure, &err);
	gwd_cfg_read_int(H, point, "index", &index, &err);
	gwd_cfg_read_string(H, point, "characteristic", &chr, &err);
	gwd_cfg_read_string(H, point, "service", &svc, &err);
	gwd_cfg_read_bool(H, point, "notify", &p.notify, &err);
	gwd_cfg_read_string(H, point, "type", &type, &err);
	gwd_cfg_read_string(H, point, "byte_order", &order, &err);
	gwd_cfg_read_int(H, point, "at", &at, &err);
	gwd_cfg_check_range(H, point, "index", (double)index, 0, 255, &err);
	gwd_cfg_check_range(H, point, "at", (double)at, 0, 255, &err);
	if (err < 0)
		return -EINVAL;
	if (strcmp(order, "little") && strcmp(order, "big"))
		return H->cfg_error(point, "byte_order", "expected \"little\" or \"big\", found \"%s\"",
				    order);
	if (type) {
		enum ble_gen_type t;
		size_t i;

		/* The decoders' short names, or the long ones of other adapters. */
		if (ble_gen_type_parse(type, &t) < 0) {
			for (i = 0; i < sizeof(gen_types) / sizeof(gen_types[0]); i++)
				if (strcmp(type, gen_types[i].name) == 0)
					break;
			if (i == sizeof(gen_types) / sizeof(gen_types[0]))
				return H->cfg_error(point, "type",
						    "expected u8, s8, u16, s16, u24, s24, u32, s32 or "
						    "f32 (or uint8, int8, ... float32), found \"%s\"",
						    type);
			t = gen_types[i].type;
		}
		p.has_gen = true;
		p.gen = (struct ble_gen_field){.offset = (uint16_t)at, .type = t,
					       .big_endian = order[0] == 'b', .scale = 1, .add = 0};
	}
	if (chr) {
		p.kind = PT_GATT;
		if (d->is_ctl_dev)
			return H->cfg_error(point, "characteristic", "the controller has no GATT "
				"points: set the device's mac");
		if (parse_uuid(chr, p.uuid) < 0)
			return H->cfg_error(point, "characteristic",
					    "expected a UUID, \"2A6E\" or "
					    "\"xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx\", found \"%s\"",
					    chr);
		if (svc && parse_uuid(svc, p.svc) < 0)
			return H->cfg_error(point, "service", "expected a UUID, found \"%s\"", svc);
		if (!p.has_gen && !gatt_builtin(p.uuid, &p.gen))
			return H->cfg_error(point, "type",
					    "`type` is required for characteristic %s (built in: "
					    "2A6E, 2A6F, 2A6D, 2A19)",
					    chr);
		p.has_gen = true;
		p.gen.name = "value";
		measure = "value";
	} else {
		if (!measure)
			return H->cfg_error(point, "measure",
					    "required: the reading's name (e.g. \"temperature\"), or "
					    "characteristic for a GATT point");
		if (svc || p.notify)
			return H->cfg_error(point, svc ? "service" : "notify",
					    "only with characteristic");
		if (d->is_ctl_dev) {
			if (strcmp(measure, "seen") == 0)
				p.kind = PT_SEEN;
			else if (strcmp(measure, "admitted") == 0)
				p.kind = PT_PROPOSED;
			else
				return H->cfg_error(point, "measure",
						    "a controller (no mac) has \"seen\" and "
						    "\"admitted\", found \"%s\"",
						    measure);
		} else if (strcmp(measure, "rssi") == 0) {
			p.kind = PT_RSSI;
		} else if (strcmp(measure, "last_seen") == 0) {
			p.kind = PT_LAST_SEEN;
		} else {
			p.kind = PT_ADV;
			if (d->fmt == FMT_GENERIC && !p.has_gen)
				return H->cfg_error(point, "type",
						    "`type` is required with format \"generic\" "
						    "(with `at`, the byte offset)");
			if (d->fmt != FMT_GENERIC && p.has_gen)
				return H->cfg_error(point, "type", "only with format \"generic\"");
			if (d->fmt == FMT_NONE)
				return H->cfg_error(point, "measure",
						    "the device has no advert format (format key)");
		}
		if (p.kind != PT_ADV && p.has_gen)
			return H->cfg_error(point, "type", "not for measure \"%s\"", measure);
		p.gen.name = measure;
	}
	p.measure = measure;
	p.index = (uint8_t)index;
	if (d->n_pt == d->cap_pt) {
		size_t cap = d->cap_pt ? 2 * d->cap_pt : 4;
		struct ble_pt *v = realloc(d->pt, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		d->pt = v;
		d->cap_pt = cap;
	}
	if (!(p.name = strdup(channel)))
		return -ENOMEM;
	if (p.kind == PT_GATT && p.notify)
		d->wants_link = true;
	d->pt[d->n_pt] = p;
	*out = (gwd_channel_t)d->n_pt++;
	return 0;
}

static int ble_device_start(void *device_ctx)
{
	struct ble_dev *d = device_ctx;
	struct ble_ctl *c;

	if (d->started)
		return -EALREADY;
	if ((!d->presence && H->timer_new(on_presence, d, &d->presence) < 0) ||
	    (!d->retry && H->timer_new(on_retry, d, &d->retry) < 0) ||
	    (!d->done_timer && H->timer_new(done_flush, d, &d->done_timer) < 0) ||
	    (!d->fw.timer && H->timer_new(on_fw_timer, d, &d->fw.timer) < 0))
		return -ENOMEM;
	c = ctl_get(d->ad, d);
	if (!c)
		return -ENOMEM;
	if (!d->is_ctl_dev && dev_by_mac(c, d->macs))
		H->log(d->dev, GWD_LOG_WARNING, "ble: %s is also another device's MAC", d->macs);
	d->ctl = c;
	d->next_in_ctl = c->devs;
	c->devs = d;
	if (!d->is_ctl_dev) {
		struct mac_slot *sl = mac_find(&c->macs, mac_key(d->macs), true);

		if (!sl) {
			c->devs = d->next_in_ctl;
			d->ctl = NULL;
			ctl_put(c);
			return -ENOMEM;
		}
		d->next_same_mac = sl->devs;
		sl->devs = d;
	}
	d->started = true;
	d->down = false;
	d->backoff_ms = 0;
	/* Health is the adapter's to judge (presence), from the start: a read
	 * before the first advert has no value, and that is no failure. */
	if (GWD_HOST_HAS(H, set_state))
		H->set_state(d->dev, GWD_STATE_UP, 0);
	rule_add(c, d);
	/* Never heard: down after one timeout, like a sensor that fell silent. */
	if (d->timeout_ms && !d->is_ctl_dev)
		H->timer_arm(d->presence, H->now_ms() + d->timeout_ms);
	ctl_pump(c);
	if (c->bus)
		ctl_update(c);
	return 0;
}

static void ble_device_stop(void *device_ctx)
{
	struct ble_dev *d = device_ctx;
	struct ble_ctl *c = d->ctl;
	struct ble_dev **pp;

	if (!d->started)
		return;
	ble_fw_abort(d); /* device_stop implies it */
	d->started = false;
	H->timer_disarm(d->presence);
	H->timer_disarm(d->retry);
	d->retry_pending = false;
	req_fail_all(d, &d->waiting, -ECANCELED);
	if (d->link != L_IDLE) {
		char path[128];

		/* Let the controller's slot go: BlueZ drops the link. */
		if (c->bus && c->path) {
			dev_path(d, path, sizeof(path));
			sd_bus_call_method_async(c->bus, NULL, BLUEZ, path, IFACE_DEVICE,
						 "Disconnect", NULL, NULL, "");
		}
		link_lost(d, -ECANCELED);
	}
	req_fail_all(d, &d->inflight, -ECANCELED);
	/* device_stop completes its pending ops itself. */
	H->timer_disarm(d->done_timer);
	done_flush(d);
	for (pp = &c->devs; *pp != d; pp = &(*pp)->next_in_ctl)
		;
	*pp = d->next_in_ctl;
	if (!d->is_ctl_dev) {
		struct mac_slot *sl = mac_find(&c->macs, mac_key(d->macs), false);

		for (pp = sl ? &sl->devs : NULL; pp && *pp; pp = &(*pp)->next_same_mac)
			if (*pp == d) {
				*pp = d->next_same_mac;
				break;
			}
		d->next_same_mac = NULL;
	}
	d->ctl = NULL;
	if (c->bus)
		ctl_update(c);
	ctl_put(c);
}

static void ble_device_free(void *device_ctx)
{
	struct ble_dev *d = device_ctx;

	if (!d)
		return;
	ble_device_stop(d);
	dev_destroy(d);
}

static int ble_read(void *device_ctx, gwd_channel_t ch, struct gwd_op *op)
{
	struct ble_dev *d = device_ctx;
	struct ble_pt *p;
	struct ble_req *q;
	int r;

	if (!d->started)
		return -ENOTCONN;
	if (ch >= d->n_pt)
		return -ENOENT;
	p = &d->pt[ch];
	if (p->kind == PT_SEEN || p->kind == PT_PROPOSED) {
		double v = 0;

		if (p->kind == PT_SEEN)
			v = d->ctl->seen;
		for (struct ble_rule *u = d->ctl->rules; p->kind == PT_PROPOSED && u; u = u->next)
			v += (double)u->n_admitted;
		return defer_complete(d, op, 0, &v);
	}
	if (p->kind != PT_GATT || (p->notify && p->has_value && d->link == L_READY)) {
		/* Adverts (and notifications) bring the values: the last one. */
		if (!p->has_value)
			return defer_complete(d, op, -ENODATA, NULL);
		return defer_complete(d, op, 0, &p->value);
	}
	q = calloc(1, sizeof(*q));
	if (!q)
		return -ENOMEM;
	q->d = d;
	q->ch = ch;
	q->op = op;
	if (d->link == L_READY) {
		/* Issued now but completed from its reply: never inside this call. */
		if ((r = req_issue(d, q)) < 0)
			free(q);
		return r;
	}
	q->next = d->waiting;
	d->waiting = q;
	ctl_pump(d->ctl);
	ctl_update(d->ctl);
	return 0;
}

static int ble_write(void *device_ctx, gwd_channel_t ch, const struct gwd_value *v,
		     struct gwd_op *op)
{
	struct ble_dev *d = device_ctx;
	struct ble_req *q;
	int r;

	if (!d->started)
		return -ENOTCONN;
	if (ch >= d->n_pt)
		return -ENOENT;
	if (d->pt[ch].kind != PT_GATT)
		return -EPERM; /* adverts are read only */
	q = calloc(1, sizeof(*q));
	if (!q)
		return -ENOMEM;
	r = gatt_encode(&d->pt[ch].gen, v, q->buf, &q->len);
	if (r < 0) {
		free(q);
		return r;
	}
	q->d = d;
	q->ch = ch;
	q->op = op;
	q->write = true;
	if (d->link == L_READY) {
		if ((r = req_issue(d, q)) < 0)
			free(q);
		return r;
	}
	q->next = d->waiting;
	d->waiting = q;
	ctl_pump(d->ctl);
	ctl_update(d->ctl);
	return 0;
}

static int ble_execute(void *device_ctx, gwd_channel_t ch, const void *args, size_t len,
		       struct gwd_op *op)
{
	return -EOPNOTSUPP;
}

static const struct gwd_adapter_ops ble_ops = {
	.size = sizeof(struct gwd_adapter_ops),
	.init = ble_init,
	.fini = ble_fini,
	.device_new = ble_device_new,
	.channel_new = ble_channel_new,
	.device_start = ble_device_start,
	.device_stop = ble_device_stop,
	.device_free = ble_device_free,
	.read = ble_read,
	.write = ble_write,
	.execute = ble_execute,
	.fw_open = ble_fw_open,
	.fw_write = ble_fw_write,
	.fw_close = ble_fw_close,
	.fw_apply = ble_fw_apply,
	.fw_abort = ble_fw_abort,
	.fw_caps = ble_fw_caps,
	.fw_recover = ble_fw_recover,
};

GWD_ADAPTER_DEFINE("ble", "0.1.0", &ble_ops);
