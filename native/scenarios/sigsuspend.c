/* A thread in sigsuspend() waiting for SIGUSR1: the parking signal interrupts
 * it (EINTR, documented), the thread's loop suspends again, and SIGUSR1 sent
 * after the snapshot runs its handler in each process. */
#include <pthread.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "scenario.h"

static volatile sig_atomic_t got;
static volatile pid_t waiter_tid;

static void on_usr1(int sig) { got = sig; }

static void *waiter(void *arg)
{
	sigset_t wait_mask;
	pthread_sigmask(SIG_BLOCK, 0, &wait_mask);
	sigdelset(&wait_mask, SIGUSR1);
	waiter_tid = sc_gettid();
	int loops = 0;
	while (!got) {
		sigsuspend(&wait_mask);
		loops++;
	}
	sc_log("waiter", "handler ran for signal %d, suspended again after interruption=%d", (int)got, loops >= 1);
	return 0;
}

int main(void)
{
	struct sigaction sa = { .sa_handler = on_usr1 };
	sigaction(SIGUSR1, &sa, 0);
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &set, 0);
	pthread_t t;
	sc_spawn(waiter, 0, (unsigned long *)&t);
	while (!waiter_tid)
		usleep(1000);
	sc_wait_blocked(waiter_tid, SYS_rt_sigsuspend);
	sc_snapshot();
	usleep(10000);
	pthread_kill(t, SIGUSR1);
	pthread_join(t, 0);
	return sc_finish();
}
