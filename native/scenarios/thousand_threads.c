/* 1,000 threads blocked on a condition variable: all come back in the clone,
 * wake, and are joined. */
#include <pthread.h>
#include <stdlib.h>
#include "scenario.h"

#define N 1000
static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t c = PTHREAD_COND_INITIALIZER;
static int go, ready, woke;

static void *worker(void *arg)
{
	pthread_mutex_lock(&m);
	ready++;
	if (ready == N)
		pthread_cond_broadcast(&c);
	while (!go)
		pthread_cond_wait(&c, &m);
	woke++;
	pthread_mutex_unlock(&m);
	return 0;
}

int main(void)
{
	static pthread_t t[N];
	pthread_attr_t a;
	pthread_attr_init(&a);
	pthread_attr_setstacksize(&a, 64 * 1024);
	for (int i = 0; i < N; i++)
		if (pthread_create(&t[i], &a, worker, 0))
			sc_die("pthread_create %d", i);
	pthread_mutex_lock(&m);
	while (ready < N)
		pthread_cond_wait(&c, &m);
	pthread_mutex_unlock(&m);
	sc_snapshot();
	pthread_mutex_lock(&m);
	go = 1;
	pthread_cond_broadcast(&c);
	pthread_mutex_unlock(&m);
	int joined = 0;
	for (int i = 0; i < N; i++)
		joined += pthread_join(t[i], 0) == 0;
	sc_log("main", "woke=%d joined=%d", woke, joined);
	return sc_finish();
}
