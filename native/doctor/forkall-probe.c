/* forkall doctor's probe: run under one C library (built for glibc, glibc
 * static and musl), it prints on stdout one JSON object with what the
 * in-process engine discovered there (forkall_diagnostics()), whether the
 * libc registered a robust list and an rseq area for this thread, and which
 * kernel features answer (a feature is "present" when its system call, called
 * with arguments it must refuse, fails with something other than ENOSYS).
 * Exit status 0; 1 if the output could not be written. */
#include <errno.h>
#include <fcntl.h>
#include <forkall.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef SYS_rseq
#define SYS_rseq 334
#endif
#ifndef SYS_clone3
#define SYS_clone3 435
#endif
#ifndef SYS_pidfd_getfd
#define SYS_pidfd_getfd 438
#endif
#ifndef SYS_userfaultfd
#define SYS_userfaultfd 323
#endif

/* errno of a call that must fail; 0 if it (unexpectedly) succeeded. */
static int refused(long r) { return r < 0 ? errno : 0; }

static const char *present(int err) { return err == ENOSYS ? "false" : "true"; }

/* clone3 with set_tid_size 1 and no set_tid array: a kernel that knows
 * set_tid (5.5+) says EINVAL; an older clone3 rejects the larger struct (E2BIG). */
static int clone3_set_tid_errno(void)
{
	/* struct clone_args up to set_tid_size (CLONE_ARGS_SIZE_VER1, 80 bytes):
	 * flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size,
	 * tls, set_tid, set_tid_size */
	uint64_t args[10];
	memset(args, 0, sizeof args);
	args[9] = 1; /* set_tid_size 1 with set_tid NULL: must be refused */
	long r = syscall(SYS_clone3, args, sizeof args);
	if (r == 0)
		_exit(0); /* never expected: a kernel that made a child of it */
	if (r > 0) {
		waitpid((pid_t)r, 0, 0);
		return 0;
	}
	return errno;
}

int main(void)
{
	void *head = 0;
	size_t len = 0;
	int robust = syscall(SYS_get_robust_list, 0, &head, &len) == 0 && head;
	int rseq_err = refused(syscall(SYS_rseq, 0, 0, 0, 0));
	int clone3_err = refused(syscall(SYS_clone3, 0, 0));
	int set_tid_err = clone3_set_tid_errno();
	int getfd_err = refused(syscall(SYS_pidfd_getfd, -1, 0, 0));
	long uffd = syscall(SYS_userfaultfd, O_CLOEXEC | 1 /* UFFD_USER_MODE_ONLY */);
	int uffd_err = uffd < 0 ? errno : 0;
	if (uffd >= 0)
		close((int)uffd);
	const char *diag = forkall_diagnostics();
	int n = printf("{\"engine\":%s,\"robustListRegistered\":%s,\"kernel\":{\"rseq\":%s,\"clone3\":%s,"
		       "\"clone3SetTid\":%s,\"pidfdGetfd\":%s,\"userfaultfd\":%s,\"userfaultfdErrno\":%d}}\n",
		       diag && *diag ? diag : "null", robust ? "true" : "false", present(rseq_err), present(clone3_err),
		       set_tid_err == EINVAL ? "true" : "false", present(getfd_err), uffd >= 0 ? "true" : "false", uffd_err);
	return n > 0 && fflush(stdout) == 0 ? 0 : 1;
}
