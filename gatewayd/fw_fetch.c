/* PLACEHOLDER, replaced at merge by the firmware fetcher's real
 * implementation (another helper's work on issue 11).  It only lets the
 * daemon link: it can pull nothing, so Object 5 announces push only
 * (/5/0/9 = 1) and a Package URI gets Update Result 9. */
#include <errno.h>
#include <stdlib.h>

#include "fw_fetch.h"

struct fw_fetcher {
	int unused;
};

int fw_fetcher_new(struct gw_loop *loop, struct lwm_engine *engine, struct fw_fetcher **out)
{
	(void)loop;
	(void)engine;
	*out = calloc(1, sizeof(**out));
	return *out ? 0 : -ENOMEM;
}

void fw_fetcher_free(struct fw_fetcher *f)
{
	free(f);
}

uint32_t fw_fetcher_protocols(const struct fw_fetcher *f)
{
	(void)f;
	return 0;
}

int fw_fetch_start(struct fw_fetcher *f, const struct fw_fetch_params *p,
		   const struct fw_fetch_ops *ops, void *ud, struct fw_fetch **out)
{
	(void)f;
	(void)p;
	(void)ops;
	(void)ud;
	(void)out;
	return -EPROTONOSUPPORT;
}

void fw_fetch_cancel(struct fw_fetch *x)
{
	(void)x;
}
