/* pthread_kill on a resurrected thread reaches that thread in the same process
 * (the libc descriptor holds the new TID). */
#include <pthread.h>
#include <signal.h>
#include <unistd.h>
#include "scenario.h"

static volatile sig_atomic_t got_in;
static volatile pid_t target_tid;

static void on_usr1(int sig) { got_in = (sig_atomic_t)sc_gettid(); }

static void *target(void *arg)
{
	target_tid = sc_gettid();
	while (!got_in)
		pause();
	sc_check("target", "handler ran on this thread", got_in, sc_gettid());
	return 0;
}

int main(void)
{
	struct sigaction sa = { .sa_handler = on_usr1 };
	sigaction(SIGUSR1, &sa, 0);
	pthread_t t;
	sc_spawn(target, 0, (unsigned long *)&t);
	while (!target_tid)
		usleep(1000);
	usleep(10000);
	sc_snapshot();
	sc_check("main", "pthread_kill", pthread_kill(t, SIGUSR1), 0);
	pthread_join(t, 0);
	return sc_finish();
}
