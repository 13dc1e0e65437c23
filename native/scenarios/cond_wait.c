/* Threads waiting on a condition variable at the snapshot are woken after it
 * in both processes and see the value published after the snapshot. */
#include <pthread.h>
#include <unistd.h>
#include "scenario.h"

static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t c = PTHREAD_COND_INITIALIZER;
static int value, waiting;

static void *waiter(void *arg)
{
	char label[16] = "waiter0";
	label[6] += (char)(long)arg;
	pthread_mutex_lock(&m);
	waiting++;
	while (value == 0)
		pthread_cond_wait(&c, &m);
	int v = value;
	pthread_mutex_unlock(&m);
	sc_log(label, "woke with value %d", v);
	return 0;
}

int main(void)
{
	pthread_t t[3];
	for (long i = 0; i < 3; i++)
		sc_spawn(waiter, (void *)i, (unsigned long *)&t[i]);
	for (;;) {
		pthread_mutex_lock(&m);
		int w = waiting;
		pthread_mutex_unlock(&m);
		if (w == 3)
			break;
		usleep(1000);
	}
	usleep(20000);
	sc_snapshot();
	pthread_mutex_lock(&m);
	value = 42;
	pthread_cond_broadcast(&c);
	pthread_mutex_unlock(&m);
	for (int i = 0; i < 3; i++)
		pthread_join(t[i], 0);
	sc_log("main", "joined 3 waiters");
	return sc_finish();
}
