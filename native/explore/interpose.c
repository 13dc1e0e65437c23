/* The functions the scheduler wraps. Each first asks fa_enter() whether the
 * scheduler runs this thread (a clone, armed, a thread of the program); if
 * not it calls the next definition (libc's) and nothing else happens. In a
 * clone every blocking primitive becomes a loop of "point, try, else mark
 * myself blocked on the object": the token holder never sleeps in the kernel
 * on a lock, and a release marks the threads blocked on the object runnable.
 * Sleeps and yields are points that prefer another thread and do not sleep.
 * A call the snapshot caught inside the real function (a condition wait, a
 * lock) leaves it in the clone as an arrival: it gives back what the real
 * call took, joins the schedule, and redoes the operation under it. */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "explore.h"
#include "forkall.h" /* FORKALL_DEFAULT_SIGNAL_OFFSET: the agent's parking signal */

#define FA_EXPORT __attribute__((visibility("default")))
#define REAL(ret, name, ...) static ret (*real_##name)(__VA_ARGS__)

REAL(int, pthread_mutex_lock, pthread_mutex_t *);
REAL(int, pthread_mutex_trylock, pthread_mutex_t *);
REAL(int, pthread_mutex_timedlock, pthread_mutex_t *, const struct timespec *);
REAL(int, pthread_mutex_unlock, pthread_mutex_t *);
REAL(int, pthread_cond_wait, pthread_cond_t *, pthread_mutex_t *);
REAL(int, pthread_cond_timedwait, pthread_cond_t *, pthread_mutex_t *, const struct timespec *);
REAL(int, pthread_cond_signal, pthread_cond_t *);
REAL(int, pthread_cond_broadcast, pthread_cond_t *);
REAL(int, pthread_rwlock_rdlock, pthread_rwlock_t *);
REAL(int, pthread_rwlock_wrlock, pthread_rwlock_t *);
REAL(int, pthread_rwlock_tryrdlock, pthread_rwlock_t *);
REAL(int, pthread_rwlock_trywrlock, pthread_rwlock_t *);
REAL(int, pthread_rwlock_unlock, pthread_rwlock_t *);
REAL(int, pthread_spin_lock, pthread_spinlock_t *);
REAL(int, pthread_spin_trylock, pthread_spinlock_t *);
REAL(int, pthread_spin_unlock, pthread_spinlock_t *);
REAL(int, pthread_create, pthread_t *, const pthread_attr_t *, void *(*)(void *), void *);
REAL(int, pthread_join, pthread_t, void **);
REAL(void, pthread_exit, void *);
REAL(int, pthread_barrier_init, pthread_barrier_t *, const pthread_barrierattr_t *, unsigned);
REAL(int, pthread_barrier_wait, pthread_barrier_t *);
REAL(int, sem_wait, sem_t *);
REAL(int, sem_trywait, sem_t *);
REAL(int, sem_timedwait, sem_t *, const struct timespec *);
REAL(int, sem_post, sem_t *);
REAL(int, sched_yield, void);
REAL(int, usleep, useconds_t);
REAL(unsigned, sleep, unsigned);
REAL(int, nanosleep, const struct timespec *, struct timespec *);

#define LOOKUP(name) real_##name = (__typeof__(real_##name))dlsym(RTLD_NEXT, #name)
/* a wrapper called before the constructor ran (another library's constructor) resolves on demand */
#define CALL(name, ...) ((real_##name ? (void)0 : (void)(LOOKUP(name))), real_##name(__VA_ARGS__))

static const char *snapshot_at;

/* Every next definition resolved once, in the template: a wrapper the program
 * first calls in a clone would otherwise look its symbol up there, in every
 * clone (dlsym's hash lookups and string compares were ~3% of a small clone's
 * time). */
static void resolve_all(void)
{
	LOOKUP(pthread_mutex_lock);
	LOOKUP(pthread_mutex_trylock);
	LOOKUP(pthread_mutex_timedlock);
	LOOKUP(pthread_mutex_unlock);
	LOOKUP(pthread_cond_wait);
	LOOKUP(pthread_cond_timedwait);
	LOOKUP(pthread_cond_signal);
	LOOKUP(pthread_cond_broadcast);
	LOOKUP(pthread_rwlock_rdlock);
	LOOKUP(pthread_rwlock_wrlock);
	LOOKUP(pthread_rwlock_tryrdlock);
	LOOKUP(pthread_rwlock_trywrlock);
	LOOKUP(pthread_rwlock_unlock);
	LOOKUP(pthread_spin_lock);
	LOOKUP(pthread_spin_trylock);
	LOOKUP(pthread_spin_unlock);
	LOOKUP(pthread_create);
	LOOKUP(pthread_join);
	LOOKUP(pthread_exit);
	LOOKUP(pthread_barrier_init);
	LOOKUP(pthread_barrier_wait);
	LOOKUP(sem_wait);
	LOOKUP(sem_trywait);
	LOOKUP(sem_timedwait);
	LOOKUP(sem_post);
	LOOKUP(sched_yield);
	LOOKUP(usleep);
	LOOKUP(sleep);
	LOOKUP(nanosleep);
}

__attribute__((constructor)) static void fa_explore_init(void)
{
	resolve_all();
	fa_rank = 0; /* the main thread */
	fa_threads[0].self = pthread_self();
	fa_threads[0].live = 1;
	snapshot_at = getenv("FORKALL_EXPLORE_SNAPSHOT");
	fa_shared_open();
}

int fa_real_cond_broadcast(pthread_cond_t *c)
{
	return CALL(pthread_cond_broadcast, c);
}

/* ---- mutexes */
static int sched_lock(struct fa_thread *me, pthread_mutex_t *m)
{
	for (;;) {
		fa_point(me, 0);
		int r = CALL(pthread_mutex_trylock, m);
		if (r != EBUSY)
			return r;
		me->block = FA_ON_MUTEX;
		me->on = m;
	}
}

FA_EXPORT int pthread_mutex_lock(pthread_mutex_t *m)
{
	struct fa_thread *me = fa_enter();
	if (me)
		return sched_lock(me, m);
	int r = CALL(pthread_mutex_lock, m);
	if (r == 0 && fa_in_clone()) { /* caught inside the lock by the snapshot */
		CALL(pthread_mutex_unlock, m);
		if ((me = fa_enter())) {
			fa_wake(m, FA_ON_MUTEX, 1);
			return sched_lock(me, m);
		}
		return CALL(pthread_mutex_lock, m);
	}
	return r;
}

/* A timed wait in a clone: blocked on obj like the untimed one, but the
 * scheduler may end it (virtual time, sched.c): then ETIMEDOUT. try() is the
 * try-operation (0, EBUSY or an error). No real time passes. */
static int sched_timed(struct fa_thread *me, int kind, const void *obj, int (*try)(void *), void *arg)
{
	me->timed_out = 0;
	for (;;) {
		fa_point(me, 0);
		me->timed = 0;
		int r = try(arg);
		if (r != EBUSY)
			return r;
		if (me->timed_out)
			return ETIMEDOUT;
		me->block = kind;
		me->on = obj;
		me->wait_seq = ++fa_wait_seq;
		me->timed = 1;
	}
}

static int mutex_try(void *m)
{
	return CALL(pthread_mutex_trylock, (pthread_mutex_t *)m);
}

FA_EXPORT int pthread_mutex_timedlock(pthread_mutex_t *m, const struct timespec *t)
{
	struct fa_thread *me = fa_enter();
	if (me)
		return sched_timed(me, FA_ON_MUTEX, m, mutex_try, m);
	return CALL(pthread_mutex_timedlock, m, t);
}

FA_EXPORT int pthread_mutex_trylock(pthread_mutex_t *m)
{
	struct fa_thread *me = fa_enter();
	if (me)
		fa_point(me, 0);
	return CALL(pthread_mutex_trylock, m);
}

FA_EXPORT int pthread_mutex_unlock(pthread_mutex_t *m)
{
	int r = CALL(pthread_mutex_unlock, m);
	struct fa_thread *me = fa_enter();
	if (me) {
		fa_wake(m, FA_ON_MUTEX, 1);
		fa_point(me, 0);
	}
	return r;
}

/* ---- condition variables */
static int sched_cond_wait(struct fa_thread *me, pthread_cond_t *c, pthread_mutex_t *m, int timed)
{
	CALL(pthread_mutex_unlock, m);
	fa_wake(m, FA_ON_MUTEX, 1);
	me->block = timed ? FA_ON_TIMED_COND : FA_ON_COND;
	me->on = c;
	me->wait_seq = ++fa_wait_seq;
	me->timed = timed;
	me->timed_out = 0;
	fa_point(me, 0); /* back when signalled (or timed out) and chosen */
	me->timed = 0;
	int timed_out = me->timed_out;
	int r = sched_lock(me, m);
	return r ? r : timed_out ? ETIMEDOUT : 0;
}

/* The snapshot caught this thread inside the real wait and the clone's
 * activation woke it: it lets go of the mutex the real call took, joins the
 * schedule, and returns as after a spurious wake-up, holding the mutex again. */
static int real_cond_wait(pthread_cond_t *c, pthread_mutex_t *m, const struct timespec *t)
{
	int rank = fa_rank;
	if (rank >= 0 && rank < FA_MAX_THREADS)
		fa_threads[rank].tmpl_cond = c;
	int r = t ? CALL(pthread_cond_timedwait, c, m, t) : CALL(pthread_cond_wait, c, m);
	if (rank >= 0 && rank < FA_MAX_THREADS)
		fa_threads[rank].tmpl_cond = 0;
	if (!fa_in_clone())
		return r;
	CALL(pthread_mutex_unlock, m); /* before joining the schedule: others need it to arrive */
	struct fa_thread *me = fa_enter();
	if (!me)
		return CALL(pthread_mutex_lock, m);
	fa_wake(m, FA_ON_MUTEX, 1);
	return sched_lock(me, m);
}

FA_EXPORT int pthread_cond_wait(pthread_cond_t *c, pthread_mutex_t *m)
{
	struct fa_thread *me = fa_enter();
	if (me) {
		fa_point(me, 0);
		return sched_cond_wait(me, c, m, 0);
	}
	return real_cond_wait(c, m, 0);
}

FA_EXPORT int pthread_cond_timedwait(pthread_cond_t *c, pthread_mutex_t *m, const struct timespec *t)
{
	struct fa_thread *me = fa_enter();
	if (me) {
		fa_point(me, 0);
		return sched_cond_wait(me, c, m, 1);
	}
	return real_cond_wait(c, m, t);
}

FA_EXPORT int pthread_cond_signal(pthread_cond_t *c)
{
	struct fa_thread *me = fa_enter();
	if (me) {
		fa_point(me, 0);
		fa_wake(c, FA_ON_COND, 0);
	}
	return CALL(pthread_cond_signal, c); /* threads outside the schedule may wait on it for real */
}

FA_EXPORT int pthread_cond_broadcast(pthread_cond_t *c)
{
	struct fa_thread *me = fa_enter();
	if (me) {
		fa_point(me, 0);
		fa_wake(c, FA_ON_COND, 1);
	}
	return CALL(pthread_cond_broadcast, c);
}

/* ---- rwlocks, spinlocks, semaphores: the same loop over their try-operations */
#define TRY_LOOP(kind, obj, try_call)                  \
	for (;;) {                                     \
		fa_point(me, 0);                       \
		int r_ = try_call;                     \
		if (r_ != EBUSY)                       \
			return r_;                     \
		me->block = kind;                      \
		me->on = (const void *)(obj);          \
	}

FA_EXPORT int pthread_rwlock_rdlock(pthread_rwlock_t *l)
{
	struct fa_thread *me = fa_enter();
	if (!me)
		return CALL(pthread_rwlock_rdlock, l);
	TRY_LOOP(FA_ON_RWLOCK, l, CALL(pthread_rwlock_tryrdlock, l))
}

FA_EXPORT int pthread_rwlock_wrlock(pthread_rwlock_t *l)
{
	struct fa_thread *me = fa_enter();
	if (!me)
		return CALL(pthread_rwlock_wrlock, l);
	TRY_LOOP(FA_ON_RWLOCK, l, CALL(pthread_rwlock_trywrlock, l))
}

FA_EXPORT int pthread_rwlock_tryrdlock(pthread_rwlock_t *l)
{
	struct fa_thread *me = fa_enter();
	if (me)
		fa_point(me, 0);
	return CALL(pthread_rwlock_tryrdlock, l);
}

FA_EXPORT int pthread_rwlock_trywrlock(pthread_rwlock_t *l)
{
	struct fa_thread *me = fa_enter();
	if (me)
		fa_point(me, 0);
	return CALL(pthread_rwlock_trywrlock, l);
}

FA_EXPORT int pthread_rwlock_unlock(pthread_rwlock_t *l)
{
	int r = CALL(pthread_rwlock_unlock, l);
	struct fa_thread *me = fa_enter();
	if (me) {
		fa_wake(l, FA_ON_RWLOCK, 1);
		fa_point(me, 0);
	}
	return r;
}

FA_EXPORT int pthread_spin_lock(pthread_spinlock_t *l)
{
	struct fa_thread *me = fa_enter();
	if (!me)
		return CALL(pthread_spin_lock, l);
	TRY_LOOP(FA_ON_SPIN, (const void *)l, CALL(pthread_spin_trylock, l))
}

FA_EXPORT int pthread_spin_trylock(pthread_spinlock_t *l)
{
	struct fa_thread *me = fa_enter();
	if (me)
		fa_point(me, 0);
	return CALL(pthread_spin_trylock, l);
}

FA_EXPORT int pthread_spin_unlock(pthread_spinlock_t *l)
{
	int r = CALL(pthread_spin_unlock, l);
	struct fa_thread *me = fa_enter();
	if (me) {
		fa_wake((const void *)l, FA_ON_SPIN, 1);
		fa_point(me, 0);
	}
	return r;
}

/* Barriers: glibc's count is opaque, so each barrier's count is recorded at
 * pthread_barrier_init (in the template too: a clone inherits the table). In
 * a clone a wait counts arrivals here and blocks until the barrier's
 * generation moves; the real barrier is not used there. */
#define MAX_BARRIERS 64
static struct barrier { pthread_barrier_t *b; unsigned count, waiting; uint64_t generation; } barriers[MAX_BARRIERS];

static struct barrier *barrier_of(pthread_barrier_t *b, int add)
{
	for (int i = 0; i < MAX_BARRIERS; i++)
		if (barriers[i].b == b)
			return &barriers[i];
	if (add)
		for (int i = 0; i < MAX_BARRIERS; i++)
			if (__atomic_compare_exchange_n(&barriers[i].b, &(pthread_barrier_t *){ 0 }, b, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
				return &barriers[i];
	return 0;
}

FA_EXPORT int pthread_barrier_init(pthread_barrier_t *b, const pthread_barrierattr_t *a, unsigned count)
{
	int r = CALL(pthread_barrier_init, b, a, count);
	struct barrier *br = r == 0 ? barrier_of(b, 1) : 0;
	if (br) {
		br->count = count;
		br->waiting = 0;
		br->generation = 0;
	}
	return r;
}

FA_EXPORT int pthread_barrier_wait(pthread_barrier_t *b)
{
	struct fa_thread *me = fa_enter();
	struct barrier *br = me ? barrier_of(b, 0) : 0;
	if (!br)
		return CALL(pthread_barrier_wait, b);
	fa_point(me, 0);
	if (++br->waiting >= br->count) {
		br->waiting = 0;
		br->generation++;
		fa_wake(b, FA_ON_BARRIER, 1);
		return PTHREAD_BARRIER_SERIAL_THREAD;
	}
	uint64_t generation = br->generation;
	while (br->generation == generation) {
		me->block = FA_ON_BARRIER;
		me->on = b;
		fa_point(me, 0);
	}
	return 0;
}

static int sem_try(sem_t *s)
{
	return CALL(sem_trywait, s) == 0 ? 0 : errno == EAGAIN ? EBUSY : -1;
}

FA_EXPORT int sem_wait(sem_t *s)
{
	struct fa_thread *me = fa_enter();
	if (!me) {
		int r = CALL(sem_wait, s);
		if (r != 0 || !fa_in_clone())
			return r;
		CALL(sem_post, s); /* caught inside the wait: give the count back, redo it */
		if (!(me = fa_enter()))
			return CALL(sem_wait, s);
		fa_wake(s, FA_ON_SEM, 1);
	}
	TRY_LOOP(FA_ON_SEM, s, sem_try(s))
}

static int sem_try_arg(void *s)
{
	return sem_try(s) == 0 ? 0 : errno == EAGAIN ? EBUSY : errno;
}

FA_EXPORT int sem_timedwait(sem_t *s, const struct timespec *t)
{
	struct fa_thread *me = fa_enter();
	if (!me)
		return CALL(sem_timedwait, s, t);
	int r = sched_timed(me, FA_ON_SEM, s, sem_try_arg, s);
	if (r == 0)
		return 0;
	errno = r;
	return -1;
}

FA_EXPORT int sem_trywait(sem_t *s)
{
	struct fa_thread *me = fa_enter();
	if (me)
		fa_point(me, 0);
	return CALL(sem_trywait, s);
}

FA_EXPORT int sem_post(sem_t *s)
{
	int r = CALL(sem_post, s);
	struct fa_thread *me = fa_enter();
	if (me) {
		fa_wake(s, FA_ON_SEM, 1);
		fa_point(me, 0);
	}
	return r;
}

/* ---- yields and sleeps: another thread runs if there is one; no time passes */
FA_EXPORT int sched_yield(void)
{
	struct fa_thread *me = fa_enter();
	if (me) {
		fa_point(me, 1);
		return 0;
	}
	return CALL(sched_yield);
}

FA_EXPORT int usleep(useconds_t us)
{
	struct fa_thread *me = fa_enter();
	if (me) {
		fa_point(me, 1);
		return 0;
	}
	return CALL(usleep, us);
}

FA_EXPORT unsigned sleep(unsigned s)
{
	struct fa_thread *me = fa_enter();
	if (me) {
		fa_point(me, 1);
		return 0;
	}
	return CALL(sleep, s);
}

FA_EXPORT int nanosleep(const struct timespec *a, struct timespec *b)
{
	struct fa_thread *me = fa_enter();
	if (me) {
		fa_point(me, 1);
		return 0;
	}
	return CALL(nanosleep, a, b);
}

/* ---- threads */
struct start { void *(*fn)(void *); void *arg; int rank; };
static __thread int t_finished;

static void finish(void)
{
	if (t_finished || fa_rank < 0 || fa_rank >= FA_MAX_THREADS)
		return;
	t_finished = 1;
	struct fa_thread *me = fa_enter();
	if (me)
		fa_sched_exit(me);
	else {
		fa_threads[fa_rank].finished = 1;
		fa_threads[fa_rank].live = 0;
	}
}

static void *start_thread(void *p)
{
	struct start s = *(struct start *)p;
	free(p);
	fa_rank = s.rank;
	struct fa_thread *me = &fa_threads[s.rank];
	if (me->clone && me->clone == fa_active)
		fa_sched_wait_first_turn(me);
	void *r = s.fn(s.arg);
	finish();
	return r;
}

FA_EXPORT void pthread_exit(void *r)
{
	finish();
	CALL(pthread_exit, r);
	__builtin_unreachable();
}

/* the agent's own thread is not part of the program: it is never scheduled */
static int agent_thread(void *(*fn)(void *))
{
	Dl_info info;
	return dladdr((void *)fn, &info) && info.dli_fname && strstr(info.dli_fname, "libforkall-agent");
}

/* FORKALL_EXPLORE_SNAPSHOT=create: freeze at the program's first pthread_create */
static void snapshot_at_first_create(void)
{
	static int done;
	if (!snapshot_at || strcmp(snapshot_at, "create") != 0 || done)
		return;
	done = 1;
	int (*snap)(void) = (int (*)(void))dlsym(RTLD_DEFAULT, "forkall_snapshot");
	if (!snap)
		return;
	/* A program may block every signal before its first create (aget does, to
	 * leave them to a signal thread): the agent parks this thread with its
	 * signal, so it is let through for the snapshot only; the clone resumes
	 * here and gets the program's own mask back. */
	sigset_t park, old;
	sigemptyset(&park);
	sigaddset(&park, SIGRTMAX - FORKALL_DEFAULT_SIGNAL_OFFSET);
	pthread_sigmask(SIG_UNBLOCK, &park, &old);
	fa_files_record();
	snap();
	pthread_sigmask(SIG_SETMASK, &old, 0);
}

FA_EXPORT int pthread_create(pthread_t *t, const pthread_attr_t *a, void *(*fn)(void *), void *arg)
{
	if (agent_thread(fn))
		return CALL(pthread_create, t, a, fn, arg);
	if (fa_rank == 0)
		snapshot_at_first_create();
	struct fa_thread *me = fa_enter();
	uint32_t rank = __atomic_fetch_add(&fa_nthreads, 1, __ATOMIC_ACQ_REL);
	struct start *s = rank < FA_MAX_THREADS ? malloc(sizeof *s) : 0;
	if (!s) {
		if (me)
			fa_point(me, 0);
		return CALL(pthread_create, t, a, fn, arg);
	}
	s->fn = fn;
	s->arg = arg;
	s->rank = (int)rank;
	struct fa_thread *child = &fa_threads[rank];
	child->finished = 0;
	child->live = 1;
	child->cls = fa_thread_class((const void *)fn);
	child->clone = 0;
	if (me)
		fa_sched_new_thread(child);
	int r = CALL(pthread_create, t, a, start_thread, s);
	if (r) {
		child->live = 0;
		free(s);
	} else
		child->self = *t;
	if (me && !fa_sched_holds_creator())
		fa_point(me, 0);
	return r;
}

FA_EXPORT int pthread_join(pthread_t t, void **ret)
{
	struct fa_thread *me = fa_enter();
	if (me) {
		fa_point(me, 0);
		int rank = fa_rank_of(t);
		if (rank >= 0)
			while (!fa_threads[rank].finished) {
				me->block = FA_ON_JOIN;
				me->on = &fa_threads[rank];
				fa_point(me, 0);
			}
		return CALL(pthread_join, t, ret);
	}
	int r = CALL(pthread_join, t, ret);
	if ((me = fa_enter()))
		fa_point(me, 0);
	return r;
}
