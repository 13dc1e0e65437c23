/* Exact-TID mode: the child keeps the parent's PID and TIDs.
 *
 * TIDs can be chosen (clone3 set_tid) only inside a PID namespace that already
 * has a PID 1, by a caller with CAP_SYS_ADMIN or CAP_CHECKPOINT_RESTORE over it.
 * So the forking thread makes an init I in a new PID (and mount, and when not
 * privileged, user) namespace; I mounts /proc for that namespace, then makes the
 * real child C with set_tid = {the forking thread's TID}; C re-creates each
 * thread with set_tid = {its old TID}. I stays as PID 1: it forwards signals to
 * C, reaps, and exits with C's status (128 + signal when C was killed).
 * The caller learns I's PID only after I reported that C exists, so every
 * failure (no privilege, no user namespaces, /proc not mountable) is an error
 * of forkall_ex itself - never a silent fallback to new TIDs.
 * I runs in a copy of a process whose other threads may hold libc locks: it uses
 * raw system calls only. */
#include <signal.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <fcntl.h>
#include "engine.h"

struct init_status {
	int err;		/* 0: C exists */
	char msg[124];
};

static int init_child_pid;	/* in I: C's PID in the new namespace */

static void copy_str(char *dst, size_t cap, const char *src)
{
	size_t i = 0;
	for (; src[i] && i + 1 < cap; i++)
		dst[i] = src[i];
	dst[i] = 0;
}

static __attribute__((noreturn)) void init_fail(int fd, int err, const char *what)
{
	struct init_status st = { .err = err };
	copy_str(st.msg, sizeof st.msg, what);
	fa_sys3(SYS_write, fd, &st, sizeof st);
	fa_sys1(SYS_exit_group, 127);
	__builtin_unreachable();
}

static long write_file(const char *path, const char *data)
{
	size_t len = 0;
	while (data[len])
		len++;
	long fd = fa_sys3(SYS_open, path, O_WRONLY | O_CLOEXEC, 0);
	if (fd < 0)
		return fd;
	long r = fa_sys3(SYS_write, fd, data, len);
	fa_sys1(SYS_close, fd);
	return r < 0 ? r : 0;
}

/* "<id> <id> 1\n": the same number inside as outside, nothing else mapped. */
static long write_id_map(const char *path, unsigned id)
{
	char line[40];
	size_t n = fa_utoa(line, id);
	line[n++] = ' ';
	n += fa_utoa(line + n, id);
	line[n++] = ' ';
	line[n++] = '1';
	line[n++] = '\n';
	line[n] = 0;
	return write_file(path, line);
}

static void setup_namespaces(struct fa_op *op, int fd)
{
	if (op->exact_userns) {
		if (write_file("/proc/self/setgroups", "deny") < 0 || write_id_map("/proc/self/uid_map", op->uid) < 0 ||
		    write_id_map("/proc/self/gid_map", op->gid) < 0)
			init_fail(fd, 1, "cannot write the uid/gid maps of the new user namespace");
	}
	if (fa_sys5(SYS_mount, 0, "/", 0, MS_REC | MS_PRIVATE, 0) < 0)
		init_fail(fd, 1, "cannot make the new mount namespace private");
	long r = fa_sys5(SYS_mount, "proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, 0);
	if (r < 0)
		init_fail(fd, (int)-r, "cannot mount /proc for the new PID namespace");
}

static void forward_signal(int sig, siginfo_t *si, void *uc)
{
	if (init_child_pid > 0)
		fa_sys2(SYS_kill, init_child_pid, sig);
}

static __attribute__((noreturn)) void init_loop(int child)
{
	static const int forwarded[] = { SIGHUP, SIGINT, SIGQUIT, SIGUSR1, SIGUSR2, SIGALRM, SIGTERM, SIGCONT, SIGTSTP,
					 SIGTTIN, SIGTTOU, SIGWINCH, SIGPWR };
	uint64_t unblock = 0;
	init_child_pid = child;
	/* I holds no file: a pipe's reader must see EOF when C closes its end. */
	fa_sys3(FA_SYS_close_range, 0, ~0u, 0);
	for (unsigned i = 0; i < sizeof forwarded / sizeof forwarded[0]; i++) {
		struct fa_ksigaction sa = {
			.handler = (void *)forward_signal,
			.flags = FA_SA_SIGINFO | FA_SA_RESTART | FA_SA_RESTORER,
			.restorer = fa_restorer,
		};
		fa_sys4(SYS_rt_sigaction, forwarded[i], &sa, 0, 8);
		unblock |= 1ull << (forwarded[i] - 1);
	}
	fa_sys4(SYS_rt_sigprocmask, SIG_UNBLOCK, &unblock, 0, 8);
	for (;;) {
		int status = 0;
		long r = fa_sys4(SYS_wait4, -1, &status, __WALL, 0);
		if (r == child) {
			int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
			fa_sys1(SYS_exit_group, code);
		}
		if (r < 0 && r != -4)
			fa_sys1(SYS_exit_group, 127);
	}
}

/* Returns I's PID in the caller (or -errno), 0 in C; I never returns. */
long fa_exact_fork(struct fa_op *op)
{
	int pfd[2];
	long r = fa_sys2(SYS_pipe2, pfd, O_CLOEXEC);
	if (r < 0)
		return fa_fail((int)-r, "exact-TID mode: cannot create a pipe");
	struct fa_clone_args ia = { .exit_signal = SIGCHLD,
				    .flags = FA_CLONE_NEWPID | FA_CLONE_NEWNS | (op->exact_userns ? FA_CLONE_NEWUSER : 0) };
	long init = fa_sys2(FA_SYS_clone3, &ia, sizeof ia);
	if (init < 0) {
		fa_sys1(SYS_close, pfd[0]);
		fa_sys1(SYS_close, pfd[1]);
		if (op->exact_userns)
			return fa_fail((int)-init, "exact-TID mode needs CAP_SYS_ADMIN (or CAP_CHECKPOINT_RESTORE), or "
						   "unprivileged user namespaces; creating a user + PID namespace failed "
						   "(errno %ld: see /proc/sys/user/max_user_namespaces)",
				       -init);
		return fa_fail((int)-init, "exact-TID mode: creating a PID namespace failed (errno %ld)", -init);
	}
	if (init == 0) {
		fa_sys1(SYS_close, pfd[0]);
		/* I dies with the caller (the namespace and C with it); a caller that
		 * died before this line is caught by its controller (docs/agent.md) */
		if (op->parent_death_signal)
			fa_sys2(SYS_prctl, FA_PR_SET_PDEATHSIG, op->parent_death_signal);
		setup_namespaces(op, pfd[1]);
		/* the child's PID: the caller's TID, or the thread it will become */
		pid_t tid = op->become_tid ? op->become_tid : op->self_tid;
		struct fa_clone_args ca = { .exit_signal = SIGCHLD, .set_tid = (uintptr_t)&tid, .set_tid_size = 1 };
		long c = fa_sys2(FA_SYS_clone3, &ca, sizeof ca);
		if (c == 0) {
			fa_sys1(SYS_close, pfd[1]);
			return 0;
		}
		if (c < 0)
			init_fail(pfd[1], (int)-c,
				  c == -1 ? "clone3 with set_tid was refused: CAP_SYS_ADMIN or CAP_CHECKPOINT_RESTORE "
					    "over the new PID namespace is missing"
					  : "clone3 with set_tid failed for the process");
		struct init_status ok = { 0 };
		fa_sys3(SYS_write, pfd[1], &ok, sizeof ok);
		init_loop((int)c);
	}
	fa_sys1(SYS_close, pfd[1]);
	struct init_status st = { .err = 5 };
	copy_str(st.msg, sizeof st.msg, "the namespace init died before reporting");
	long n = fa_sys3(SYS_read, pfd[0], &st, sizeof st);
	fa_sys1(SYS_close, pfd[0]);
	if (n == (long)sizeof st && st.err == 0)
		return init;
	int status;
	fa_sys4(SYS_wait4, init, &status, 0, 0);
	return fa_fail(st.err, "exact-TID mode: %s (errno %d)", st.msg, st.err);
}
