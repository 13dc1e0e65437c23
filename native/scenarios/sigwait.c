/* A thread in sigwait() for SIGUSR1 (the parking signal is not in its set):
 * glibc/musl retry the wait after the parking handler; each process then sends
 * SIGUSR1 to its own copy of the thread, which receives it. */
#include <pthread.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "scenario.h"

static volatile pid_t waiter_tid;

static void *waiter(void *arg)
{
	sigset_t set;
	int sig = 0;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	waiter_tid = sc_gettid();
	int r = sigwait(&set, &sig);
	sc_log("waiter", "sigwait r=%d sig=%d", r, sig);
	return 0;
}

int main(void)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &set, 0); /* inherited by the waiter */
	pthread_t t;
	sc_spawn(waiter, 0, (unsigned long *)&t);
	while (!waiter_tid)
		usleep(1000);
	sc_wait_blocked(waiter_tid, SYS_rt_sigtimedwait);
	sc_snapshot();
	pthread_kill(t, SIGUSR1);
	pthread_join(t, 0);
	return sc_finish();
}
