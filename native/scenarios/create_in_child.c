/* New threads can be created, joined and detached after the snapshot, next to
 * the resurrected ones. */
#include <pthread.h>
#include <stdint.h>
#include <unistd.h>
#include "scenario.h"

static volatile int go, ready;

static void *old_worker(void *arg)
{
	ready = 1;
	while (!go)
		usleep(1000);
	return (void *)1;
}

static void *new_worker(void *arg) { return (void *)((intptr_t)arg * 2); }

int main(void)
{
	pthread_t old;
	sc_spawn(old_worker, 0, (unsigned long *)&old);
	while (!ready)
		usleep(1000);
	sc_snapshot();
	long sum = 0;
	for (long i = 0; i < 20; i++) {
		pthread_t t;
		void *r;
		sc_spawn(new_worker, (void *)i, (unsigned long *)&t);
		pthread_join(t, &r);
		sum += (long)(intptr_t)r;
	}
	sc_log("main", "20 new threads returned sum %ld", sum);
	go = 1;
	void *r;
	pthread_join(old, &r);
	sc_log("main", "old worker returned %ld", (long)(intptr_t)r);
	return sc_finish();
}
