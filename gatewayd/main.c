/* gatewayd: bridges field devices to LwM2M servers, one client per device. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-daemon.h>
#include <sys/resource.h>

#include "build-aux/config.h"
#include "clock.h"
#include "config.h"
#include "ctl.h"
#include "gateway.h"
#include "host.h"
#include "loader.h"
#include "log.h"
#include "loop.h"
#include "lwm2m/objdefs.h"
#include "timerq.h"

#ifndef SYSCONFDIR
#define SYSCONFDIR "/etc"
#endif

/* SIGTERM must see every client de-registered and the process gone within a
 * second; leave some of it for stopping the adapters. */
#define SHUTDOWN_DEREGISTER_MS 800
#define STATUS_PERIOD_MS 5000

struct daemon_state {
	struct gw_loop *loop;
	struct gateway *gw;
	struct ctl *ctl;         /* the control socket; NULL when there is none */
	bool stopping;
	bool notify;             /* running under systemd with NOTIFY_SOCKET */
	struct gw_timer status_timer;
	size_t last_registered;
};

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: gatewayd [OPTIONS]\n"
		"Bridge field devices (Modbus, BLE, GPIO, sensors...) to LwM2M servers,\n"
		"one LwM2M client per device.\n\n"
		"  -c, --config FILE       configuration file (default %s/gatewayd/gatewayd.conf)\n"
		"  -t, --test              check the configuration, print every error, exit\n"
		"  -A, --adapter-dir DIR   load adapters from DIR (overrides the config)\n"
		"  -l, --log-level LEVEL   err, warning, notice, info or debug (overrides the config)\n"
		"      --log-target T      stderr, journal or auto (default auto)\n"
		"  -h, --help              this help\n"
		"  -V, --version           print the version\n",
		SYSCONFDIR);
}

static void send_status(struct daemon_state *st)
{
	size_t reg = gateway_registered_count(st->gw);

	if (st->notify)
		sd_notifyf(0, "STATUS=%zu device(s), %zu registered", gateway_device_count(st->gw),
			   reg);
	st->last_registered = reg;
}

static void status_tick(struct gw_timer *t, void *ud)
{
	struct daemon_state *st = ud;

	if (gateway_registered_count(st->gw) != st->last_registered)
		send_status(st);
	if (!st->stopping)
		gw_timer_arm(t, clock_now_ms() + STATUS_PERIOD_MS);
}

static void stopped(void *ud)
{
	struct daemon_state *st = ud;

	log_info(NULL, "stopped");
	loop_exit(st->loop, 0);
}

/* SIGHUP, and gatewayctl reload. */
static int reload(void *ud)
{
	struct daemon_state *st = ud;
	struct gateway_reload_result res;
	int r;

	if (st->stopping)
		return -ECANCELED;
	/* MONOTONIC_USEC: what Type=notify-reload (systemd 253) expects. */
	if (st->notify)
		sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%llu",
			   (unsigned long long)clock_now_ms() * 1000ull);
	r = gateway_reload(st->gw, &res);
	if (st->notify && r == 0)
		sd_notifyf(0, "READY=1\nSTATUS=reload: %zu added, %zu removed, %zu "
			   "restarted, %zu unchanged", res.added, res.removed,
			   res.restarted, res.unchanged);
	else if (st->notify)
		sd_notifyf(0, "READY=1\nSTATUS=reload failed (%s): configuration kept",
			   r == -EINVAL ? "invalid file, see the log" : strerror(-r));
	free(res.errors); /* they are in the log */
	return r;
}

static int on_signal(sd_event_source *s, const struct signalfd_siginfo *si, void *ud)
{
	struct daemon_state *st = ud;

	if (si->ssi_signo == SIGHUP) {
		reload(st);
		return 0;
	}
	if (st->stopping) {
		log_warn(NULL, "second stop signal: exiting now");
		loop_exit(st->loop, 0);
		return 0;
	}
	st->stopping = true;
	/* No requests while the devices go: restart or reload would fight it. */
	ctl_free(st->ctl);
	st->ctl = NULL;
	log_info(NULL, "%s: de-registering %zu client(s)", strsignal((int)si->ssi_signo),
		 gateway_registered_count(st->gw));
	if (st->notify)
		sd_notify(0, "STOPPING=1");
	gw_timer_disarm(&st->status_timer);
	gateway_stop(st->gw, SHUTDOWN_DEREGISTER_MS, stopped, st);
	return 0;
}

/* One UDP socket per device: make room for thousands of them. */
static void raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static int run(struct cfg *cfg, struct loader_set *adapters)
{
	struct daemon_state st = {0};
	uint64_t start_ms = clock_now_ms();
	sigset_t mask;
	size_t started;
	int r;

	raise_fd_limit();
	st.notify = getenv("NOTIFY_SOCKET") != NULL;
	r = loop_new(&st.loop);
	if (r < 0) {
		log_err(NULL, "cannot create the event loop: %s", strerror(-r));
		cfg_free(cfg);
		loader_set_free(adapters);
		return 1;
	}
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	sd_event_add_signal(loop_sd_event(st.loop), NULL, SIGTERM, on_signal, &st);
	sd_event_add_signal(loop_sd_event(st.loop), NULL, SIGINT, on_signal, &st);
	sd_event_add_signal(loop_sd_event(st.loop), NULL, SIGHUP, on_signal, &st);
	/* Pings the systemd watchdog when WatchdogSec= is set. */
	sd_event_set_watchdog(loop_sd_event(st.loop), 1);

	r = gateway_new(cfg, st.loop, adapters, &st.gw);
	if (r < 0) {
		log_err(NULL, "cannot start: %s", strerror(-r));
		loop_free(st.loop);
		return 1;
	}
	started = gateway_start(st.gw);
	log_info(NULL, "gatewayd %s: %zu of %zu device(s) started", PACKAGE_VERSION, started,
		 gateway_device_count(st.gw));
	if (st.notify) {
		sd_notify(0, "READY=1");
		send_status(&st);
	}
	gw_timer_init(&st.status_timer, loop_timers(st.loop), status_tick, &st);
	if (st.notify)
		gw_timer_arm(&st.status_timer, clock_now_ms() + STATUS_PERIOD_MS);
	/* Without it the daemon still runs; ctl_new said why in the log. */
	ctl_new(&(struct ctl_params){.cfg = &gateway_config(st.gw)->gateway, .loop = st.loop,
				     .gw = st.gw, .start_ms = start_ms, .reload = reload,
				     .ud = &st},
		&st.ctl);

	r = loop_run(st.loop);
	gw_timer_disarm(&st.status_timer);
	ctl_free(st.ctl);
	gateway_free(st.gw);
	loop_free(st.loop);
	return r < 0 ? 1 : 0;
}

/* A refused DDF file is a configuration error, reported as "file: message". */
static void model_refused(const char *file, const char *msg, void *ud)
{
	cfg_diag_add(ud, NULL, "%s: %s", file, msg);
}

/* Vendor objects first, so that gateway_check accepts points that map them. */
static void load_models(struct cfg *cfg)
{
	const char *dir = cfg->gateway.models_dir;
	int n = lwm_objdefs_load_dir(dir, model_refused, cfg);

	if (n == -ENOENT && strcmp(dir, CFG_DEFAULT_MODELS_DIR) == 0)
		return;
	if (n < 0)
		cfg_diag_add(cfg, NULL, "models_dir %s: %s", dir, strerror(-n));
	else if (n > 0)
		log_info(NULL, "%d object definition(s) loaded from %s", n, dir);
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"config", required_argument, NULL, 'c'},
		{"test", no_argument, NULL, 't'},
		{"adapter-dir", required_argument, NULL, 'A'},
		{"log-level", required_argument, NULL, 'l'},
		{"log-target", required_argument, NULL, 'T'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{0},
	};
	const char *config_file = SYSCONFDIR "/gatewayd/gatewayd.conf";
	const char *adapter_dir = NULL;
	const char *level_arg = NULL;
	enum log_target target = LOG_TARGET_AUTO;
	bool test_only = false;
	struct cfg *cfg = NULL;
	struct loader_set *adapters = NULL;
	int opt, r;

	while ((opt = getopt_long(argc, argv, "c:tA:l:hV", longopts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			config_file = optarg;
			break;
		case 't':
			test_only = true;
			break;
		case 'A':
			adapter_dir = optarg;
			break;
		case 'l':
			level_arg = optarg;
			if (cfg_parse_log_level(optarg) < 0) {
				fprintf(stderr, "gatewayd: unknown log level '%s'\n", optarg);
				return 2;
			}
			break;
		case 'T':
			if (strcmp(optarg, "stderr") == 0)
				target = LOG_TARGET_STDERR;
			else if (strcmp(optarg, "journal") == 0)
				target = LOG_TARGET_JOURNAL;
			else if (strcmp(optarg, "auto") == 0)
				target = LOG_TARGET_AUTO;
			else {
				fprintf(stderr, "gatewayd: unknown log target '%s'\n", optarg);
				return 2;
			}
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("gatewayd %s (adapter ABI %d.%d)\n", PACKAGE_VERSION,
			       GWD_ADAPTER_ABI_MAJOR, GWD_ADAPTER_ABI_MINOR);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		usage(stderr);
		return 2;
	}
	log_setup(target, level_arg ? cfg_parse_log_level(level_arg) : LOG_INFO);

	r = cfg_load(config_file, &cfg);
	if (r == 0 && !level_arg)
		log_set_level(cfg->gateway.log_level);
	/* A file that did not parse has nothing more to check.  Devices the
	 * daemon found consistent go to their adapters for checking
	 * even when other errors exist, so -t reports everything in one run.
	 * The adapters stay loaded for the run. */
	if (cfg && cfg->parsed && (r == 0 || r == -EINVAL)) {
		int lr;

		load_models(cfg);
		lr = loader_set_new(gateway_adapter_dir(cfg, adapter_dir), host_table(), &adapters);
		if (lr < 0) {
			fprintf(stderr, "gatewayd: %s\n", strerror(-lr));
			cfg_free(cfg);
			return 1;
		}
		gateway_check(cfg, adapters);
	}
	if (r < 0 || (cfg && cfg->n_diags > 0)) {
		if (cfg) {
			gateway_print_diags(cfg, stderr);
			fprintf(stderr, "%s: %zu error(s)\n", config_file, cfg->n_diags);
		} else {
			fprintf(stderr, "%s: cannot load: %s\n", config_file, strerror(-r));
		}
		cfg_free(cfg);
		loader_set_free(adapters);
		return 1;
	}
	if (test_only) {
		printf("%s: configuration OK (%zu device(s))\n", config_file, cfg->n_devices);
		cfg_free(cfg);
		loader_set_free(adapters);
		return 0;
	}
	r = run(cfg, adapters);
	lwm_objdefs_unload_all(); /* after run: the devices held definitions */
	return r;
}
