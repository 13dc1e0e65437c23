/* 1,000 threads blocked on a condition variable: all come back in the clone,
 * wake, and are joined. */
#include <pthread.h>
#include <stdlib.h>
#include "scenario.h"

#define N 1000
static struct sc_gate gate = SC_GATE_INIT;
static int woke;

static void *worker(void *arg)
{
	sc_gate_pass(&gate);
	__atomic_add_fetch(&woke, 1, __ATOMIC_SEQ_CST);
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
	sc_gate_wait_arrivals(&gate, N);
	sc_snapshot();
	sc_gate_open(&gate);
	int joined = 0;
	for (int i = 0; i < N; i++)
		joined += pthread_join(t[i], 0) == 0;
	sc_log("main", "woke=%d joined=%d", woke, joined);
	return sc_finish();
}
