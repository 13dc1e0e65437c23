/* A clone can forkall again: after the snapshot both processes forkall once
 * more and check that their own clone has every thread. */
#include <pthread.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>
#include "scenario.h"

static volatile int stop, ready;

static void *idle(void *arg)
{
	__atomic_add_fetch(&ready, 1, __ATOMIC_SEQ_CST);
	while (!stop)
		usleep(2000);
	return 0;
}

int main(void)
{
	pthread_t t[2];
	for (int i = 0; i < 2; i++)
		sc_spawn(idle, 0, (unsigned long *)&t[i]);
	while (ready < 2)
		usleep(1000);
	sc_snapshot();
	int before = sc_count_tasks();
	pid_t p = forkall();
	if (p == 0)
		_exit(sc_count_tasks() == before ? 0 : 1);
	int st = -1;
	if (p > 0)
		waitpid(p, &st, 0);
	sc_check("main", "second-level clone had every thread and exited 0", st, 0);
	stop = 1;
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], 0);
	return sc_finish();
}
