/* A non-forking thread holds a robust mutex at the snapshot. Its owner TID is
 * rewritten in the clone: the holder unlocks cleanly, main then locks it. */
#include <errno.h>
#include <pthread.h>
#include <unistd.h>
#include "scenario.h"

static pthread_mutex_t m;
static volatile int held, release;

static void *holder(void *arg)
{
	pthread_mutex_lock(&m);
	held = 1;
	while (!release)
		usleep(1000);
	sc_check("holder", "unlock", pthread_mutex_unlock(&m), 0);
	return 0;
}

int main(void)
{
	pthread_mutexattr_t a;
	pthread_mutexattr_init(&a);
	pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
	pthread_mutex_init(&m, &a);
	pthread_t t;
	sc_spawn(holder, 0, (unsigned long *)&t);
	while (!held)
		usleep(1000);
	sc_snapshot();
	release = 1;
	sc_check("main", "lock after holder", pthread_mutex_lock(&m), 0);
	sc_check("main", "unlock", pthread_mutex_unlock(&m), 0);
	pthread_join(t, 0);
	return sc_finish();
}
