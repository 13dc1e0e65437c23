/* The public entry points: forkall() and forkall_ex(), one snapshot forked once. */
#include <errno.h>
#include "forkall.h"
#include "engine.h"

#define EXPORT __attribute__((visibility("default")))

EXPORT pid_t forkall_ex(const struct forkall_options *opts)
{
	struct fa_op op;
	int err = fa_snapshot_begin(&op, opts);
	if (err < 0) {
		errno = -err;
		return -1;
	}
	long pid = fa_snapshot_fork(&op, 0, 0);
	if (pid == 0)
		return 0;
	fa_snapshot_end(&op); /* our threads go on while the child finishes */
	pid = fa_snapshot_await(&op, pid);
	if (pid < 0) {
		errno = (int)-pid;
		return -1;
	}
	return (pid_t)pid;
}

EXPORT pid_t forkall(void) { return forkall_ex(0); }
