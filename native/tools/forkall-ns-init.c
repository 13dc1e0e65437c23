/* PID 1 of an exact-TID clone made from outside (the remote engine).
 *
 * The engine makes a copy of the target in a new PID (and mount, maybe user)
 * namespace, has that copy make the real clone C with the original PID, then
 * execs this program in the copy, which thereby becomes the namespace's init:
 * it holds no file (a pipe's reader must see EOF when C closes its end),
 * passes the usual job-control and termination signals on to C, reaps every
 * process of the namespace, and exits with C's status (128 + signal when C
 * was killed), which the target's parent - its reaper - then sees.
 *
 * Usage: forkall-ns-init C_PID   (C's PID inside the namespace) */
#include <signal.h>
#include <errno.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile pid_t child;

static void forward(int sig)
{
	if (child > 0)
		kill(child, sig);
}

int main(int argc, char **argv)
{
	static const int forwarded[] = { SIGHUP, SIGINT, SIGQUIT, SIGUSR1, SIGUSR2, SIGALRM, SIGTERM, SIGCONT,
					 SIGTSTP, SIGTTIN, SIGTTOU, SIGWINCH, SIGPWR };
	if (argc != 2 || (child = (pid_t)atoi(argv[1])) <= 0)
		return 127;
	syscall(SYS_close_range, 0, ~0u, 0);
	sigset_t unblock;
	sigemptyset(&unblock);
	for (unsigned i = 0; i < sizeof forwarded / sizeof forwarded[0]; i++) {
		struct sigaction sa = { .sa_handler = forward, .sa_flags = SA_RESTART };
		sigaction(forwarded[i], &sa, 0);
		sigaddset(&unblock, forwarded[i]);
	}
	sigaddset(&unblock, SIGCHLD);
	sigprocmask(SIG_UNBLOCK, &unblock, 0); /* the mask survives exec: the copy had the target's */
	for (;;) {
		int status = 0;
		pid_t r = waitpid(-1, &status, __WALL);
		if (r == child && (WIFEXITED(status) || WIFSIGNALED(status)))
			return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
		if (r < 0 && errno != EINTR)
			return 127;
	}
}
