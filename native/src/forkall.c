/* The public entry points: forkall() and forkall_ex(), one snapshot forked once. */
#include <errno.h>
#include <fcntl.h>
#include "forkall.h"
#include "engine.h"
#include "private_fds.h"

#define EXPORT __attribute__((visibility("default")))

/* FORKALL_PRIVATE_FDS, in the child before its threads exist again; a child
 * that cannot make its copies is not whole and exits. */
static void private_fds_in_child(void *arg)
{
	static struct fa_pfd_report r;
	int *done = arg;
	if (fa_private_fds(done, 2, &r) < 0) {
		static const char msg[] = "forkall: child could not make its event objects private; exiting with 127\n";
		fa_sys3(SYS_write, 2, msg, sizeof msg - 1);
		fa_sys1(SYS_exit_group, 127);
	}
	fa_sys3(SYS_write, done[1], "", 1);
	fa_sys1(SYS_close, done[0]);
	fa_sys1(SYS_close, done[1]);
}

_Static_assert(sizeof(struct forkall_options) >= FORKALL_OPTIONS_SIZE_VER0, "options shrank below version 0");
_Static_assert(sizeof(struct forkall_options) <= FORKALL_OPTIONS_SIZE_MAX, "options grew beyond the maximum");

/* The caller's options, of whatever version it was compiled against, as this
 * version's structure (the kernel's extensible-struct rule, see forkall.h): a
 * shorter one is zero-extended, a longer one must be zero beyond what we know.
 * Plain byte loops: this runs before anything is parked, but needs nothing. */
static int options_from_caller(const struct forkall_options *user, struct forkall_options *out)
{
	const unsigned char *u = (const unsigned char *)user;
	unsigned char *k = (unsigned char *)out;
	size_t known = sizeof *out;
	size_t usize = user->size ? user->size : known;
	if (usize < FORKALL_OPTIONS_SIZE_VER0)
		return fa_fail(EINVAL, "forkall_options.size is %zu, smaller than the first version (%d bytes)", usize,
			       FORKALL_OPTIONS_SIZE_VER0);
	if (usize > FORKALL_OPTIONS_SIZE_MAX)
		return fa_fail(E2BIG, "forkall_options.size is %zu, larger than %d", usize, FORKALL_OPTIONS_SIZE_MAX);
	for (size_t i = known; i < usize; i++)
		if (u[i])
			return fa_fail(E2BIG,
				       "forkall_options.size is %zu and byte %zu is not zero: an option from a newer "
				       "forkall.h that this library (%zu-byte options) does not have",
				       usize, i, known);
	for (size_t i = 0; i < known; i++)
		k[i] = i < usize ? u[i] : 0;
	out->size = (unsigned int)known;
	return 0;
}

EXPORT pid_t forkall_ex(const struct forkall_options *opts)
{
	struct fa_op op;
	struct forkall_options o;
	if (opts) {
		int bad = options_from_caller(opts, &o);
		if (bad < 0) {
			errno = -bad;
			return -1;
		}
		opts = &o;
	}
	fa_timing_start();
	int err = fa_snapshot_begin(&op, opts);
	if (err < 0) {
		errno = -err;
		return -1;
	}
	int done[2] = { -1, -1 };
	int private_fds = opts && (opts->flags & FORKALL_PRIVATE_FDS);
	if (private_fds && fa_sys2(SYS_pipe2, done, O_CLOEXEC) < 0)
		private_fds = 0; /* cannot wait for the child: fail below instead of sharing silently */
	if (opts && (opts->flags & FORKALL_PRIVATE_FDS) && !private_fds) {
		fa_snapshot_end(&op);
		errno = EMFILE;
		return -1;
	}
	long pid = fa_snapshot_fork(&op, private_fds ? private_fds_in_child : 0, done);
	if (pid == 0)
		return 0;
	if (pid > 0) {
		fa_pages_keep(&op); /* the next forkall makes their frames writable before parking */
		if (!op.exact) /* (the namespace init shares the pages too: no gain) */
			fa_report_await_copied(&op, pid, op.nslots - op.ndead);
	}
	if (private_fds) {
		/* the child reads the objects the parent's threads would change: they
		 * stay parked until it is done (one byte, or end of file if it died) */
		char c;
		fa_sys1(SYS_close, done[1]);
		if (pid > 0)
			while (fa_sys3(SYS_read, done[0], &c, 1) == -EINTR)
				;
		fa_sys1(SYS_close, done[0]);
	}
	fa_snapshot_end(&op); /* our threads go on while the child finishes */
	fa_stamp(FA_T_RELEASED);
	pid = fa_snapshot_await(&op, pid);
	fa_timing_end(op.nslots - op.ndead);
	if (pid < 0) {
		errno = (int)-pid;
		return -1;
	}
	return (pid_t)pid;
}

EXPORT pid_t forkall(void) { return forkall_ex(0); }
