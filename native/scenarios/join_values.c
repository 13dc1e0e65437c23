/* pthread_join on resurrected threads returns each thread's own result. */
#include <pthread.h>
#include <stdint.h>
#include <unistd.h>
#include "scenario.h"

static volatile int go, ready;

static void *worker(void *arg)
{
	long id = (long)arg, acc = id;
	__atomic_add_fetch(&ready, 1, __ATOMIC_SEQ_CST);
	while (!go)
		usleep(500);
	for (long i = 0; i < 100000; i++)
		acc = acc * 31 + i;
	return (void *)(intptr_t)acc;
}

int main(void)
{
	pthread_t t[5];
	for (long i = 0; i < 5; i++)
		sc_spawn(worker, (void *)i, (unsigned long *)&t[i]);
	while (ready < 5)
		usleep(1000);
	sc_snapshot();
	go = 1;
	for (int i = 0; i < 5; i++) {
		void *r;
		int e = pthread_join(t[i], &r);
		sc_log("main", "join %d: err=%d result=%ld", i, e, (long)(intptr_t)r);
	}
	return sc_finish();
}
