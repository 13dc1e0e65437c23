/* The functions the scheduler wraps: each marks a synchronisation point (the
 * perturbation runs before the call, or after it for the ones that release a
 * waiter) and then calls the next definition (libc's). Without FORKALL_EXPLORE
 * each wrapper costs one load and a call. */
#include <dlfcn.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <time.h>
#include <stdlib.h>
#include <unistd.h>
#include "explore.h"

/* the wrappers are the library's only exported symbols */
#define FA_EXPORT __attribute__((visibility("default")))
#define REAL(ret, name, ...) static ret (*real_##name)(__VA_ARGS__)

REAL(int, pthread_mutex_lock, pthread_mutex_t *);
REAL(int, pthread_mutex_trylock, pthread_mutex_t *);
REAL(int, pthread_mutex_unlock, pthread_mutex_t *);
REAL(int, pthread_cond_wait, pthread_cond_t *, pthread_mutex_t *);
REAL(int, pthread_cond_timedwait, pthread_cond_t *, pthread_mutex_t *, const struct timespec *);
REAL(int, pthread_cond_signal, pthread_cond_t *);
REAL(int, pthread_cond_broadcast, pthread_cond_t *);
REAL(int, pthread_rwlock_rdlock, pthread_rwlock_t *);
REAL(int, pthread_rwlock_wrlock, pthread_rwlock_t *);
REAL(int, pthread_rwlock_unlock, pthread_rwlock_t *);
REAL(int, pthread_create, pthread_t *, const pthread_attr_t *, void *(*)(void *), void *);
REAL(int, pthread_join, pthread_t, void **);
REAL(int, sem_wait, sem_t *);
REAL(int, sem_post, sem_t *);
REAL(int, sched_yield, void);
REAL(int, usleep, useconds_t);
REAL(int, nanosleep, const struct timespec *, struct timespec *);

#define LOOKUP(name) real_##name = (__typeof__(real_##name))dlsym(RTLD_NEXT, #name)

__attribute__((constructor)) static void fa_explore_init(void)
{
	LOOKUP(pthread_mutex_lock);
	LOOKUP(pthread_mutex_trylock);
	LOOKUP(pthread_mutex_unlock);
	LOOKUP(pthread_cond_wait);
	LOOKUP(pthread_cond_timedwait);
	LOOKUP(pthread_cond_signal);
	LOOKUP(pthread_cond_broadcast);
	LOOKUP(pthread_rwlock_rdlock);
	LOOKUP(pthread_rwlock_wrlock);
	LOOKUP(pthread_rwlock_unlock);
	LOOKUP(pthread_create);
	LOOKUP(pthread_join);
	LOOKUP(sem_wait);
	LOOKUP(sem_post);
	LOOKUP(sched_yield);
	LOOKUP(usleep);
	LOOKUP(nanosleep);
	fa_shared_open();
}

/* a wrapper called before the constructor ran (another constructor) resolves on demand */
#define CALL(name, ...) ((real_##name ? (void)0 : (void)(LOOKUP(name))), real_##name(__VA_ARGS__))

#define BEFORE(ret, name, params, args) \
	FA_EXPORT ret name params { fa_point(); return CALL args; }
#define AFTER(ret, name, params, args) \
	FA_EXPORT ret name params { ret r = CALL args; fa_point(); return r; }

BEFORE(int, pthread_mutex_lock, (pthread_mutex_t *m), (pthread_mutex_lock, m))
BEFORE(int, pthread_mutex_trylock, (pthread_mutex_t *m), (pthread_mutex_trylock, m))
AFTER(int, pthread_mutex_unlock, (pthread_mutex_t *m), (pthread_mutex_unlock, m))
BEFORE(int, pthread_cond_signal, (pthread_cond_t *c), (pthread_cond_signal, c))
BEFORE(int, pthread_cond_broadcast, (pthread_cond_t *c), (pthread_cond_broadcast, c))
BEFORE(int, pthread_rwlock_rdlock, (pthread_rwlock_t *l), (pthread_rwlock_rdlock, l))
BEFORE(int, pthread_rwlock_wrlock, (pthread_rwlock_t *l), (pthread_rwlock_wrlock, l))
AFTER(int, pthread_rwlock_unlock, (pthread_rwlock_t *l), (pthread_rwlock_unlock, l))
BEFORE(int, pthread_join, (pthread_t t, void **ret), (pthread_join, t, ret))
BEFORE(int, sem_wait, (sem_t *s), (sem_wait, s))
AFTER(int, sem_post, (sem_t *s), (sem_post, s))
BEFORE(int, sched_yield, (void), (sched_yield))
BEFORE(int, usleep, (useconds_t us), (usleep, us))
BEFORE(int, nanosleep, (const struct timespec *a, struct timespec *b), (nanosleep, a, b))

/* a wait is a point on the way in and on the way out (the woken thread may run first or last) */
FA_EXPORT int pthread_cond_wait(pthread_cond_t *c, pthread_mutex_t *m)
{
	fa_point();
	int r = CALL(pthread_cond_wait, c, m);
	fa_point();
	return r;
}

FA_EXPORT int pthread_cond_timedwait(pthread_cond_t *c, pthread_mutex_t *m, const struct timespec *t)
{
	fa_point();
	int r = CALL(pthread_cond_timedwait, c, m, t);
	fa_point();
	return r;
}

/* Every thread gets a logical id, its rank in creation order (the main thread
 * is 0): the same in every run of the program, unlike its address, which
 * ASLR moves, so a seed replays in a new template too. */
struct start { void *(*fn)(void *); void *arg; uint64_t id; };
static uint64_t next_thread_id = 1;

static void *start_thread(void *p)
{
	struct start s = *(struct start *)p;
	free(p);
	fa_thread_id = s.id;
	return s.fn(s.arg);
}

FA_EXPORT int pthread_create(pthread_t *t, const pthread_attr_t *a, void *(*fn)(void *), void *arg)
{
	struct start *s = malloc(sizeof *s);
	if (!s)
		return CALL(pthread_create, t, a, fn, arg);
	s->fn = fn;
	s->arg = arg;
	s->id = __atomic_fetch_add(&next_thread_id, 1, __ATOMIC_RELAXED);
	int r = CALL(pthread_create, t, a, start_thread, s);
	if (r)
		free(s);
	fa_point();
	return r;
}
