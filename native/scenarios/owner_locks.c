/* A non-forking thread holds an errorcheck mutex, a PI mutex, a robust mutex
 * and an rwlock for writing at the snapshot; after it, it unlocks them all and
 * main re-locks them. Robust always works. With glibc and new TIDs
 * (documented): errorcheck and PI unlock fail with EPERM, and the rwlock
 * unlock returns 0 but leaves the write lock held (glibc takes it for a
 * reader's unlock). musl rewrites its owner list (all fine) and exact-TID
 * mode makes every case work. */
#include <errno.h>
#include <pthread.h>
#include <unistd.h>
#include "scenario.h"

static pthread_mutex_t errorcheck, pi, robust;
static pthread_rwlock_t rw = PTHREAD_RWLOCK_INITIALIZER;
static volatile int held, release;

static void *holder(void *arg)
{
	pthread_mutex_lock(&errorcheck);
	pthread_mutex_lock(&pi);
	pthread_mutex_lock(&robust);
	pthread_rwlock_wrlock(&rw);
	held = 1;
	while (!release)
		usleep(1000);
	int stale = SC_STALE_OWNER;
	sc_check("holder", "errorcheck unlock as documented", pthread_mutex_unlock(&errorcheck), stale ? EPERM : 0);
	sc_check("holder", "PI unlock as documented", pthread_mutex_unlock(&pi), stale ? EPERM : 0);
	sc_check("holder", "robust unlock", pthread_mutex_unlock(&robust), 0);
	sc_check("holder", "rwlock unlock", pthread_rwlock_unlock(&rw), 0);
	return 0;
}

int main(void)
{
	pthread_mutexattr_t a;
	pthread_mutexattr_init(&a);
	pthread_mutexattr_settype(&a, PTHREAD_MUTEX_ERRORCHECK);
	pthread_mutex_init(&errorcheck, &a);
	pthread_mutexattr_init(&a);
	if (pthread_mutexattr_setprotocol(&a, PTHREAD_PRIO_INHERIT))
		sc_die("PI mutexes not supported");
	pthread_mutex_init(&pi, &a);
	pthread_mutexattr_init(&a);
	pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
	pthread_mutex_init(&robust, &a);
	pthread_t t;
	sc_spawn(holder, 0, (unsigned long *)&t);
	while (!held)
		usleep(1000);
	sc_snapshot();
	release = 1;
	pthread_join(t, 0);
	int stale = SC_STALE_OWNER;
	sc_check("main", "robust relock", pthread_mutex_trylock(&robust), 0);
	sc_check("main", "rwlock relock as documented", pthread_rwlock_trywrlock(&rw), stale ? EBUSY : 0);
	sc_check("main", "errorcheck relock as documented", pthread_mutex_trylock(&errorcheck), stale ? EBUSY : 0);
	return sc_finish();
}
