/* A thread is inside a signal handler running on its alternate stack at the
 * snapshot: it finishes the handler on that stack, and its sigaltstack setting
 * is intact afterwards, in both processes. */
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>
#include "scenario.h"

static volatile int in_handler, release;
static char *alt;
static int on_alt;

static void handler(int sig)
{
	char here;
	on_alt = (uintptr_t)&here >= (uintptr_t)alt && (uintptr_t)&here < (uintptr_t)alt + 65536;
	in_handler = 1;
	while (!release)
		usleep(1000);
	stack_t ss;
	sigaltstack(0, &ss);
	sc_log("worker", "handler on altstack=%d, SS_ONSTACK=%d", on_alt, (ss.ss_flags & SS_ONSTACK) != 0);
}

static void *worker(void *arg)
{
	stack_t ss = { .ss_sp = alt, .ss_size = 65536 };
	if (sigaltstack(&ss, 0))
		sc_die("sigaltstack");
	struct sigaction sa = { .sa_handler = handler, .sa_flags = SA_ONSTACK };
	sigaction(SIGUSR2, &sa, 0);
	raise(SIGUSR2);
	stack_t now;
	sigaltstack(0, &now);
	sc_log("worker", "after handler: altstack same=%d size=%zu flags=%d", now.ss_sp == alt, now.ss_size,
	       now.ss_flags);
	return 0;
}

int main(void)
{
	alt = malloc(65536);
	pthread_t t;
	sc_spawn(worker, 0, (unsigned long *)&t);
	while (!in_handler)
		usleep(1000);
	usleep(10000);
	sc_snapshot();
	release = 1;
	pthread_join(t, 0);
	return sc_finish();
}
