/* A snapshot in three steps, so that one parked state can be forked many times
 * (the agent's frozen template) or once (forkall):
 *   fa_snapshot_begin  lock, block signals, park every other thread
 *   fa_snapshot_fork   raw fork; in the child, re-create the threads and return 0
 *   fa_snapshot_end    release the parked threads, restore handler and mask, unlock
 *   fa_snapshot_await  in the caller: wait until the child says it is whole
 *                      (every thread re-created with its state), else fail
 * Between begin and end only the calling thread runs in the process. */
#include <errno.h>
#include <signal.h>
#include "forkall.h"
#include "engine.h"

static int validate(const struct forkall_options *o, struct fa_op *op)
{
	op->sig = SIGRTMAX - FORKALL_DEFAULT_SIGNAL_OFFSET;
	op->timeout_ms = FORKALL_DEFAULT_PARK_TIMEOUT_MS;
	op->skip = 0;
	op->n_skip = 0;
	op->exact = 0;
	op->become_tid = 0;
	op->parent_death_signal = 0;
	op->report_wake_fd = -1;
	op->report_pool = 0;
	op->report_pool_len = 0;
	if (!o)
		return 0;
	if (o->size != 0 && o->size < sizeof(struct forkall_options))
		return fa_fail(EINVAL, "forkall_options.size is %u, expected %zu", o->size,
			       sizeof(struct forkall_options));
	const unsigned known = FORKALL_EXACT_TIDS | FORKALL_PRIVATE_FDS;
	if (o->flags & ~known)
		return fa_fail(EINVAL, "unknown flags 0x%x in forkall_options.flags", o->flags & ~known);
	op->exact = (o->flags & FORKALL_EXACT_TIDS) != 0;
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

/* What exact-TID mode needs to know about the caller: its IDs and capabilities
 * (a user namespace is used when it lacks CAP_SYS_ADMIN; the child's threads get
 * the caller's capabilities back instead of the namespace's full set). */
static void record_identity(struct fa_op *op)
{
	struct { uint32_t version; int pid; } hdr = { 0x20080522, 0 };
	op->gid = (unsigned)fa_sys0(SYS_getgid);
	for (int i = 0; i < 6; i++)
		op->caps[i] = 0;
	fa_sys2(SYS_capget, &hdr, op->caps);
	op->exact_userns = !(op->caps[0] & (1u << 21)); /* CAP_SYS_ADMIN in the effective set */
}

static void set_mask(const uint64_t *mask, uint64_t *old) { fa_sys4(SYS_rt_sigprocmask, SIG_SETMASK, mask, old, 8); }

int fa_snapshot_begin(struct fa_op *op, const struct forkall_options *opts)
{
	static const uint64_t all = ~0ull;
	int err;
	fa_clear_error();
	if ((err = validate(opts, op)) < 0)
		return err;
	fa_lock();
	fa_wait_departed();
	set_mask(&all, &op->old_mask);
	op->pid = fa_getpid();
	op->self_tid = fa_gettid();
	op->uid = (unsigned)fa_sys0(SYS_getuid); /* once: every parking signal carries it */
	fa_record_self(op);
	if (op->exact)
		record_identity(op);
	fa_stamp(FA_T_LOCKED);
	if ((err = fa_park_all(op)) < 0) {
		set_mask(&op->old_mask, 0);
		fa_unlock();
		return err;
	}
	fa_stamp(FA_T_PARKED);
	return 0;
}

long fa_snapshot_fork(struct fa_op *op, void (*child_setup)(void *), void *arg)
{
	long err = fa_report_create(op);
	if (err < 0)
		return err;
	fa_stamp(FA_T_FORK);
	long pid = op->exact ? fa_exact_fork(op) : fa_raw_fork();
	if (pid != 0) {
		fa_stamp(FA_T_FORKED);
		if (pid < 0) {
			if (!op->exact)
				fa_fail((int)-pid, "fork failed (errno %ld)", -pid);
			fa_report_drop(op);
		}
		return pid;
	}
	fa_child_resurrect(op, child_setup, arg);
	fa_restore_handler(op);
	set_mask(&op->old_mask, 0);
	fa_unlock();
	return 0;
}

long fa_snapshot_await(struct fa_op *op, long pid) { return fa_report_await(op, pid); }

void fa_snapshot_end(struct fa_op *op)
{
	fa_release(op);
	fa_restore_handler(op);
	set_mask(&op->old_mask, 0);
	fa_unlock();
}
