/* gatewayd's configuration: parsed from a libconfig file, validated, and
 * kept as plain structs.  Adapter-specific keys stay in the libconfig tree
 * and are read by adapters through struct gwd_cfg nodes (the host's typed
 * getters), which mark what they read so that keys nobody read can be
 * reported as unknown. */
#ifndef GW_CONFIG_H
#define GW_CONFIG_H

#include <libconfig.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "gatewayd/adapter.h"
#include "lwm2m/security.h"

/* A config group handed to adapters.  `own` is the group itself; `fallback`
 * (may be NULL) is consulted for keys `own` does not set: a device falls back
 * to its profile.  `reserved` lists the daemon's own keys in this group,
 * which adapters never see. */
struct gwd_cfg {
	struct cfg *cfg;
	config_setting_t *own;
	config_setting_t *fallback;
	const char *const *reserved;
};

/* One error or warning with where it was found. */
struct cfg_diag {
	char *file; /* owned */
	int line;   /* 0 when not known */
	char *path; /* setting path, e.g. "devices.[2].points.[0].path"; owned */
	char *msg;  /* owned */
};

struct cfg_server {
	const char *name;
	const char *uri;     /* coap://host[:port] or coaps:// */
	uint32_t lifetime;   /* seconds, default 300 */
	const char *version; /* "1.0" / "1.1" / "1.2", default "1.1" */
	const char *binding; /* "U" default */
	uint16_t short_id;   /* default: index + 1 */
	/* "nosec", "psk", "rpk" or "x509": the credentials its devices need.
	 * Default "nosec" for coap://; coaps:// must say. */
	const char *security;
	/* A bootstrap server (bootstrap = true): its devices get their
	 * management servers from it (LwM2M Bootstrap Interface). */
	bool bootstrap;
	/* A bootstrap server's: seconds to wait for Bootstrap-Finish after
	 * its last message (0: EXCHANGE_LIFETIME, 247 s). */
	uint32_t finish_timeout_s;
	/* The LwM2M 1.1 registration sequence (Server object /1/x/13..20);
	 * defaults are lwm_reg_policy_defaults' (lwm2m/client.h). */
	bool has_priority;            /* priority_order given */
	uint32_t priority_order;      /* 13 */
	uint32_t initial_delay;       /* 14, seconds */
	bool failure_block;           /* 15 */
	bool bootstrap_on_failure;    /* 16 */
	uint32_t retry_count;         /* 17 */
	uint32_t retry_timer;         /* 18, seconds */
	uint32_t sequence_delay;      /* 19, seconds */
	uint32_t sequence_retry_count; /* 20; UINT32_MAX: forever */
	/* Notification storing: /1/x/6's initial value (default true, the
	 * spec's) and the store's bounds per device (0: the gateway's). */
	bool notification_storing;
	uint32_t store_count, store_bytes;
	bool mute_send;      /* /1/x/23's initial value, default false */
	/* CoAP ACK_TIMEOUT (ms, 0: 2 s) and MAX_RETRANSMIT (-1: 4). */
	uint32_t ack_timeout_ms;
	int max_retransmit;
	config_setting_t *setting;
};

struct cfg_bus {
	const char *name;
	const char *adapter;
	struct gwd_cfg node; /* adapter keys */
};

/* When a point's value counts as stale (device_health.h): stale_after_ms
 * when has_stale_after (0: never), else the point's poll period times
 * stale_factor (0: never) when has_stale_factor. */
struct cfg_stale {
	bool has_stale_after, has_stale_factor;
	uint32_t stale_after_ms;
	double stale_factor;
};
#define CFG_DEFAULT_STALE_FACTOR 3.0

struct cfg_point {
	const char *channel;       /* adapter channel name */
	uint16_t oid, iid, rid;    /* target resource */
	double scale, offset;      /* value = raw * scale + offset; defaults 1, 0 */
	bool has_min, has_max;     /* range check for writes */
	double min, max;
	uint32_t poll_ms;          /* 0: no polling (adapter reports) */
	const char *units;         /* IPSO Sensor Units (5701) when set, else NULL */
	/* Send: overrides of the device's send_period / send_on_change. */
	bool has_send_period, has_send_on_change;
	uint32_t send_period_ms;
	bool send_on_change;
	/* Stale values: overrides of the device's stale_after / stale_factor. */
	struct cfg_stale stale;
	struct gwd_cfg node;       /* adapter keys */
};

struct cfg_profile {
	const char *name;
	config_setting_t *setting;
};

/* A device's DTLS credentials for one server (lwm2m/security.h says what
 * each is); NULL when not set. */
struct cfg_credentials {
	const char *psk_identity, *psk_key, *psk_file;
	const char *certificate, *private_key, *public_key;
	const char *server_public_key, *ca_file, *server_certificate, *sni;
};

/* One entry of a device's access list: the Access Control rights of one
 * server (NULL: "*", the default for servers without their own entry) on
 * some objects' instances (none listed: all of them). */
struct cfg_access {
	const struct cfg_server *server;
	uint16_t *objects;        /* owned */
	size_t n_objects;
	unsigned rights;          /* LWM_ACL_* bits (lwm2m/acl.h) */
	config_setting_t *setting;
};

struct cfg_device {
	const char *name;
	const char *endpoint;  /* expanded endpoint name, owned by the cfg */
	const char *adapter;
	const struct cfg_bus *bus;         /* NULL when none */
	const struct cfg_profile *profile; /* NULL when none */
	/* Object 3 identity; NULL when the config does not set it. */
	const char *manufacturer, *model, *serial, *firmware_version;
	const struct cfg_server **servers; /* owned array of borrowed pointers */
	size_t n_servers;
	/* The device's bootstrap server, NULL when none.  A device with one
	 * has no servers of its own (n_servers 0): bootstrap provides them,
	 * and the device-level keys are for the bootstrap server. */
	const struct cfg_server *bootstrap;
	/* The device-level keys (the device's, else its profile's): the
	 * default for every secure server without its own `credentials` entry. */
	struct cfg_credentials credentials;
	/* What each of servers[i] uses (n_servers entries, owned): its entry,
	 * the device-level keys for a secure server, nothing for NoSec. */
	struct cfg_credentials *server_credentials;
	/* Access Control with several servers (device, else profile). */
	struct cfg_access *access;         /* owned array */
	size_t n_access;
	/* Send (LwM2M 1.1+): every point each send_period_ms (0: no schedule)
	 * and/or on change, unless the point says otherwise; SenML CBOR (112,
	 * default) or JSON (110). */
	uint32_t send_period_ms;
	bool send_on_change;
	uint16_t send_format;
	/* Stale values: every point's, unless the point says otherwise (the
	 * device's keys, else its profile's; has_stale_factor is always set,
	 * CFG_DEFAULT_STALE_FACTOR by default). */
	struct cfg_stale stale;
	struct cfg_point *points;          /* owned array */
	size_t n_points;
	struct gwd_cfg node;               /* adapter keys (device, then profile) */
	/* Object 5 (firmware.c): firmware_command, NULL when not set, and
	 * firmware_sha256 (device, else profile). */
	const char *firmware_command;
	/* firmware_timeout in ms (device, else profile); 0: the hook's
	 * default (10 minutes). */
	uint32_t firmware_timeout_ms;
	bool has_firmware_sha256;
	uint8_t firmware_sha256[32];
};

/* Vendor object definitions (DDF XML) read at start-up; this default may be
 * missing, a configured directory may not. */
#define CFG_DEFAULT_MODELS_DIR SYSCONFDIR "/gatewayd/models"

/* Below common LwM2M servers' own request timeouts. */
#define CFG_DEFAULT_OPERATION_TIMEOUT_MS 30000u

/* A firmware download with no byte for this long fails (Update Result 4). */
#define CFG_DEFAULT_FIRMWARE_GIVE_UP_MS 600000u

#define CFG_DEFAULT_CONTROL_SOCKET "/run/gatewayd/gatewayd.sock"
#define CFG_DEFAULT_CONTROL_MODE 0660

struct cfg_gateway {
	const char *name;             /* default: host name */
	const char *endpoint_pattern; /* default "%g-%d": %g gateway, %d device, %% */
	const char *state_dir;        /* default LOCALSTATEDIR "/lib/gatewayd" */
	const char *adapter_dir;      /* default PKGLIBDIR "/adapters" */
	const char *models_dir;       /* DDF files; default CFG_DEFAULT_MODELS_DIR */
	int log_level;                /* syslog priority, default info (6) */
	/* Devices started (so registrations sent) per second at start-up, so
	 * that thousands of devices do not flood the server; 0: all at once. */
	uint32_t registration_rate;
	/* A server operation the device has not finished by then is answered
	 * 5.04 Gateway Timeout. */
	uint32_t operation_timeout_ms;
	/* The largest body of one Write (text, opaque, multi-resource,
	 * composite, bootstrap), in bytes; 0: the engine's default (64 KiB). */
	uint32_t max_write_body;
	/* Observations one registration may hold; 0: the default (256). */
	uint32_t max_observations;
	/* Firmware pulled from a Package URI (fw_fetch.h): the CA bundle for
	 * https:// servers (NULL: the system's), and how long a download may
	 * go without a byte before it fails (default 600 s). */
	const char *firmware_ca_file;
	/* The largest firmware package (Object 5) one device takes, bytes;
	 * 0: firmware.h's default. */
	uint64_t firmware_max_size;
	/* A firmware download (Package URI) that makes no progress for this
	 * long fails; 0: the fetcher's default (10 minutes). */
	uint32_t firmware_give_up_ms;
	/* Default bounds of each device's notification store. */
	uint32_t store_count, store_bytes;
	/* The control socket (ctl.c): its path ("": none; default
	 * $RUNTIME_DIRECTORY/gatewayd.sock, else CFG_DEFAULT_CONTROL_SOCKET),
	 * permission bits and group (when has_control_group). */
	const char *control_socket;
	uint32_t control_mode;
	bool has_control_group;
	gid_t control_gid;
};

struct cfg {
	config_t lc;     /* the parsed libconfig tree; owns every const char * above */
	char *file;      /* path of the main file */
	/* The file was read and parsed: the sections below were loaded (with
	 * or without errors).  Otherwise only the gateway's defaults are set. */
	bool parsed;
	struct cfg_gateway gateway;
	struct cfg_server *servers;
	size_t n_servers;
	struct cfg_bus *buses;
	size_t n_buses;
	struct cfg_profile *profiles;
	size_t n_profiles;
	struct cfg_device *devices;
	size_t n_devices;
	/* Every error found; loading goes on after an error so that all are
	 * reported at once. */
	struct cfg_diag *diags;
	size_t n_diags;
};

/* Parse and validate the daemon's part of a config file.  Returns 0 when the
 * file parsed and no error was found, -EINVAL when errors were found (they
 * are in (*out)->diags; *out is still set so all can be printed), or another
 * negative errno (-ENOMEM, -ENOENT when the file cannot be read: a diag says
 * so).  Free with cfg_free. */
int cfg_load(const char *file, struct cfg **out);
/* The same from text (NUL-terminated, borrowed); name stands for the file
 * in diags.  The text has no @include. */
int cfg_load_text(const char *name, const char *text, struct cfg **out);
void cfg_free(struct cfg *cfg);

/* Write a setting's value (not its name) as libconfig text that reads back
 * the same: groups, lists, arrays, every scalar type. */
void cfg_write_setting(FILE *f, const config_setting_t *s);
/* A string as a libconfig string literal, escaped. */
void cfg_write_string_literal(FILE *f, const char *v);

/* Record an error at a setting (setting may be NULL: file-level). */
void cfg_diag_add(struct cfg *cfg, const config_setting_t *setting, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Format one diag as "file:line: path: msg". Caller frees. */
char *cfg_diag_format(const struct cfg_diag *d);

/* After adapters have read their keys (device_new/channel_new), report every
 * key in bus, device, profile and point groups that neither the daemon nor
 * the adapter read, as "unknown key".  Returns the number reported. */
size_t cfg_check_unknown_keys(struct cfg *cfg);

/* What lwm_security_load needs for credentials cr with server srv: the
 * server's mode (NoSec when unset) and cr's keys (borrowed, like cr). */
struct lwm_security_params cfg_security_params(const struct cfg_server *srv,
					      const struct cfg_credentials *cr);

/* Host services backing the gwd_host config getters. */
int cfg_node_int(const struct gwd_cfg *node, const char *key, int64_t *out);
int cfg_node_double(const struct gwd_cfg *node, const char *key, double *out);
int cfg_node_bool(const struct gwd_cfg *node, const char *key, bool *out);
int cfg_node_string(const struct gwd_cfg *node, const char *key, const char **out);
int cfg_node_error(const struct gwd_cfg *node, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int cfg_node_verror(const struct gwd_cfg *node, const char *key, const char *fmt, va_list ap);

/* Parse a log level name ("err", "warning", "notice", "info", "debug");
 * -EINVAL when unknown. */
int cfg_parse_log_level(const char *s);

#endif
