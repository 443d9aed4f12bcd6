/* PLACEHOLDER, replaced at merge by the command hook's real implementation
 * (another helper's work on issue 11).  It only lets the daemon link: a
 * device with firmware_command gets its Object 5, and an Update through
 * the hook fails (Update Result 8, logged). */
#include <errno.h>

#include "fw_hook.h"

int fw_hook_start(struct gw_loop *loop, const struct fw_hook_params *p,
		  const struct fw_hook_ops *ops, void *ud, struct fw_hook **out)
{
	(void)loop;
	(void)p;
	(void)ops;
	(void)ud;
	(void)out;
	return -ENOSYS;
}

void fw_hook_cancel(struct fw_hook *h)
{
	(void)h;
}
