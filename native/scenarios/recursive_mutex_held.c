/* A non-forking thread holds a recursive mutex (twice) at the snapshot.
 * Documented: with glibc and new TIDs its unlock in the clone fails with EPERM
 * (the owner TID is the parent's); with musl (owner list rewritten), in
 * exact-TID mode, and in the parent, it unlocks. */
#include <errno.h>
#include <pthread.h>
#include <unistd.h>
#include "scenario.h"

static pthread_mutex_t m;
static volatile int held, release;

static void *holder(void *arg)
{
	pthread_mutex_lock(&m);
	pthread_mutex_lock(&m);
	held = 1;
	while (!release)
		usleep(1000);
	int r1 = pthread_mutex_unlock(&m);
	int r2 = pthread_mutex_unlock(&m);
	int expect = SC_STALE_OWNER ? EPERM : 0;
	sc_check("holder", "first unlock as documented", r1, expect);
	sc_check("holder", "second unlock as documented", r2, expect);
	return 0;
}

int main(void)
{
	pthread_mutexattr_t a;
	pthread_mutexattr_init(&a);
	pthread_mutexattr_settype(&a, PTHREAD_MUTEX_RECURSIVE);
	pthread_mutex_init(&m, &a);
	pthread_t t;
	sc_spawn(holder, 0, (unsigned long *)&t);
	while (!held)
		usleep(1000);
	sc_snapshot();
	release = 1;
	pthread_join(t, 0);
	int r = pthread_mutex_trylock(&m);
	int expect = SC_STALE_OWNER ? EBUSY : 0;
	sc_check("main", "trylock afterwards as documented", r, expect);
	return sc_finish();
}
