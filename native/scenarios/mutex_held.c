/* A worker holds a normal mutex across the snapshot while main blocks on it;
 * after the snapshot the worker releases it and main gets it, in both. */
#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "scenario.h"

static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
static volatile int held, release;
static int counter;

static void *holder(void *arg)
{
	pthread_mutex_lock(&m);
	held = 1;
	while (!release)
		usleep(1000);
	counter += 10;
	pthread_mutex_unlock(&m);
	sc_log("holder", "released after adding 10");
	return 0;
}

int main(void)
{
	pthread_t t;
	sc_spawn(holder, 0, (unsigned long *)&t);
	while (!held)
		usleep(1000);
	sc_snapshot();
	release = 1;
	pthread_mutex_lock(&m);
	counter += 1;
	int v = counter;
	pthread_mutex_unlock(&m);
	pthread_join(t, 0);
	sc_log("main", "locked after holder, counter %d", v);
	return sc_finish();
}
