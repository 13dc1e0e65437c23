/* The public entry points: forkall() and forkall_ex(). One snapshot is
 *   lock -> block signals -> park every other thread -> raw fork ->
 *   parent: release the parked threads | child: re-create them
 *   -> restore the handler and the signal mask -> unlock. */
#include <errno.h>
#include <signal.h>
#include "forkall.h"
#include "engine.h"

#define EXPORT __attribute__((visibility("default")))

static int validate(const struct forkall_options *o, struct fa_op *op)
{
	op->sig = SIGRTMAX - FORKALL_DEFAULT_SIGNAL_OFFSET;
	op->timeout_ms = FORKALL_DEFAULT_PARK_TIMEOUT_MS;
	op->skip = 0;
	op->n_skip = 0;
	if (!o)
		return 0;
	if (o->size != 0 && o->size < sizeof(struct forkall_options))
		return fa_fail(EINVAL, "forkall_options.size is %u, expected %zu", o->size,
			       sizeof(struct forkall_options));
	if (o->flags & ~FORKALL_EXACT_TIDS)
		return fa_fail(EINVAL, "unknown flags 0x%x in forkall_options.flags", o->flags & ~FORKALL_EXACT_TIDS);
	if (o->flags & FORKALL_EXACT_TIDS)
		return fa_fail(EOPNOTSUPP, "exact-TID mode is not available in this build");
	if (o->park_timeout_ms < 0)
		return fa_fail(EINVAL, "park_timeout_ms is negative (%d)", o->park_timeout_ms);
	if (o->park_timeout_ms)
		op->timeout_ms = o->park_timeout_ms;
	if (o->signal) {
		if (o->signal < SIGRTMIN || o->signal > SIGRTMAX)
			return fa_fail(EINVAL, "signal %d is not a real-time signal (%d..%d)", o->signal, SIGRTMIN,
				       SIGRTMAX);
		op->sig = o->signal;
	}
	if (o->n_skip && !o->skip_tids)
		return fa_fail(EINVAL, "n_skip is %u but skip_tids is NULL", o->n_skip);
	op->skip = o->skip_tids;
	op->n_skip = o->n_skip;
	return 0;
}

static void block_all(uint64_t *old)
{
	uint64_t all = ~0ull;
	fa_sys4(SYS_rt_sigprocmask, SIG_SETMASK, &all, old, 8);
}

static void restore_mask(const uint64_t *old) { fa_sys4(SYS_rt_sigprocmask, SIG_SETMASK, old, 0, 8); }

EXPORT pid_t forkall_ex(const struct forkall_options *opts)
{
	struct fa_op op;
	uint64_t oldmask;
	int err;

	fa_clear_error();
	if ((err = validate(opts, &op)) < 0) {
		errno = -err;
		return -1;
	}
	fa_lock();
	block_all(&oldmask);
	op.pid = fa_getpid();
	op.self_tid = fa_gettid();
	fa_record_self(&op);
	if ((err = fa_park_all(&op)) < 0)
		goto fail;
	long pid = fa_raw_fork();
	if (pid == 0) {
		fa_child_resurrect(&op);
		fa_restore_handler(&op);
		restore_mask(&oldmask);
		fa_unlock();
		return 0;
	}
	fa_release(&op);
	fa_restore_handler(&op);
	if (pid < 0) {
		err = fa_fail((int)-pid, "fork failed (errno %ld)", -pid);
		goto fail_released;
	}
	restore_mask(&oldmask);
	fa_unlock();
	return (pid_t)pid;

fail:
fail_released:
	restore_mask(&oldmask);
	fa_unlock();
	errno = -err;
	return -1;
}

EXPORT pid_t forkall(void) { return forkall_ex(0); }
