/* Threads in malloc/free churn at the snapshot (they may hold arena locks):
 * both processes finish their churn and allocate freely afterwards. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "scenario.h"

static volatile int stop, started;

static void *churn(void *arg)
{
	char label[8] = "churn0";
	label[5] += (char)(long)arg;
	unsigned seed = 7 + (unsigned)(long)arg, ops = 0;
	void *keep[64] = { 0 };
	__atomic_add_fetch(&started, 1, __ATOMIC_SEQ_CST);
	while (!stop || ops < 100000) {
		unsigned i = (seed = seed * 1103515245u + 12345u) % 64;
		free(keep[i]);
		keep[i] = malloc(16 + (seed >> 8) % 8192);
		memset(keep[i], 1, 16);
		ops++;
	}
	for (int i = 0; i < 64; i++)
		free(keep[i]);
	sc_log(label, "churn finished");
	return 0;
}

int main(void)
{
	pthread_t t[3];
	for (long i = 0; i < 3; i++)
		sc_spawn(churn, (void *)i, (unsigned long *)&t[i]);
	while (started < 3)
		usleep(1000);
	usleep(20000);
	sc_snapshot();
	void *p = malloc(1 << 20);
	memset(p, 2, 1 << 20);
	free(p);
	stop = 1;
	for (int i = 0; i < 3; i++)
		pthread_join(t[i], 0);
	sc_log("main", "malloc after the snapshot worked");
	return sc_finish();
}
