/* The serialising scheduler. In a clone exactly one of the program's threads
 * holds the token and runs; the others wait on their own futex word. At each
 * point (a wrapped pthread/semaphore/sleep call) the seed's schedule picks the
 * thread that runs next among the runnable ones and the token moves there:
 * which thread runs is decided by the seed, never by the kernel's wake-up
 * order. A seed selects one of three schedules (choose_schedule):
 *   - PCT (probabilistic concurrency testing): every thread gets a random
 *     priority, the highest runnable one runs; at d-1 random steps (within the
 *     horizon: the most steps an earlier clone took) the running thread drops
 *     below all others. d is 1, 2 or 3.
 *   - a random walk: at each point any runnable thread, uniformly.
 *   - a sticky walk: the running thread goes on with probability 1 - 1/k, else
 *     a uniform draw;
 *   - an after-write walk: a sticky walk (k 16..1024) that draws anew with
 *     probability 1 or 1/2 at the running thread's first point that is not an
 *     access (an unlock, a lock, a signal) after it wrote shared memory, and in
 *     half of them also at an access right after a write: another thread then
 *     sees a state in the middle of the writer's work (reorder_N: the checker
 *     between a setter's two writes; twostage_100: the reader between a
 *     writer's two critical sections; qsort_mt: a worker between the
 *     allocator's write of its state and the lock that should have covered it);
 *     in half the walks of every kind creators keep the token at pthread_create,
 *     and (independently) in half the plain and after-write walks a draw is
 *     class-weighted: a class of threads (one start routine) first, uniformly,
 *     then one of its threads (walk_class: twostage_100's one reader among 99
 *     writers); not in sticky walks (radbench.bug2).
 * Timed waits take no time (virtual time, see runnable()).
 * Threads the snapshot left inside a wrapped call come into the schedule on
 * their way out ("arrival"): the thread that activates the clone wakes the
 * real condition waiters, waits (up to ARRIVAL_MS) until every thread it
 * expects has arrived, and only then makes the first choice. When no thread
 * can run and none is still to arrive, the clone is deadlocked: it says so in
 * the mailbox and on stderr and kills itself at once. */
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include "explore.h"

int fa_real_cond_broadcast(pthread_cond_t *c); /* interpose.c */

#define ARRIVAL_MS 50
#define MODE_PCT 0
#define MODE_WALK 1
#define MAX_DEPTH 3

volatile int fa_active;
uint64_t fa_wait_seq;
static int activating;
static uint64_t seed, horizon, step, change_at[MAX_DEPTH];
static int mode, depth;
/* after-write walk: at a point after a write, a new draw with probability 1/after_write (0: not this walk) */
static uint64_t after_write;
/* 1: in the after-write walk, an access right after a write counts too (not only a later non-access point) */
static int after_write_access;
/* 1: a thread that creates another keeps the token (see fa_sched_holds_creator) */
static int hold_creators;
/* 1: a walk draws a class of threads (same start routine) uniformly, then a thread of it (see walk_class) */
static int class_walk;
/* 1: a thread in a timed wait is a candidate at every point, and picked it times out (see runnable) */
static int early_timeouts;
static uint64_t stick;
static uint32_t arrived_count, expected_count, token_free;
static __thread int t_clone;

static uint64_t mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

static long futex(uint32_t *w, int op, uint32_t v, const struct timespec *ts)
{
	return syscall(SYS_futex, w, op | FUTEX_PRIVATE_FLAG, v, ts, 0, 0);
}

static void wait_token(struct fa_thread *me)
{
	while (!__atomic_load_n(&me->go, __ATOMIC_ACQUIRE))
		futex(&me->go, FUTEX_WAIT, 0, 0);
}

static void give_token(struct fa_thread *to)
{
	__atomic_store_n(&to->go, 1, __ATOMIC_RELEASE);
	futex(&to->go, FUTEX_WAKE, 1, 0);
}

static void switch_to(struct fa_thread *me, struct fa_thread *next)
{
	__atomic_store_n(&me->go, 0, __ATOMIC_RELAXED);
	give_token(next);
	wait_token(me);
}

static uint64_t initial_prio(uint32_t rank)
{
	return (mix(seed ^ (0x51ed2700ull + rank)) >> 2) | (1ull << 61); /* above every change-point priority */
}

/* One CPU for the whole clone: a token handed to a thread wakes it where the
 * giver runs, and threads outside the schedule (late arrivals) cannot race.
 * The CPU the activating thread runs on now (glibc reads it from the rseq
 * area: no system call), so it does not migrate; which CPU is no part of the
 * schedule (one thread runs at a time). The threads are the table's live ones,
 * each pinned through its pthread_t (its TID): no listing of /proc/self/task
 * (an open, two getdents and a close per clone). */
static void pin_all_threads(void)
{
	int cpu = sched_getcpu();
	if (cpu < 0 || cpu >= CPU_SETSIZE)
		return;
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	uint32_t n = fa_nthreads < FA_MAX_THREADS ? fa_nthreads : FA_MAX_THREADS;
	for (uint32_t i = 0; i < n; i++)
		if (fa_threads[i].live && !fa_threads[i].finished)
			pthread_setaffinity_np(fa_threads[i].self, sizeof set, &set);
}

/* The program's exit is a point too: threads that are still runnable may run
 * while the process ends, as they may without the scheduler (main returning
 * from main reaches exit() without any wrapped call). */
static void exit_point(void)
{
	struct fa_thread *me = fa_enter();
	if (me)
		fa_point(me, 1);
}

/* FORKALL_EXPLORE_SCHEDULE=pct|walk|sticky|write keeps PCT, the plain and
 * sticky walks (half each), the sticky walks, or the after-write walks, to
 * compare them; read in the template */
#define KIND_PCT 0
#define KIND_WALK 1
#define KIND_STICKY 2
#define KIND_AFTER_WRITE 3
static int only_kind = -1;
/* FORKALL_EXPLORE_CLASSES=on|off: every plain and after-write walk, or none, class-weighted (for comparisons) */
static int only_classes = -1;

__attribute__((constructor)) static void read_schedule_choice(void)
{
	const char *e = getenv("FORKALL_EXPLORE_SCHEDULE");
	if (e && !strcmp(e, "pct"))
		only_kind = KIND_PCT;
	else if (e && !strcmp(e, "walk"))
		only_kind = KIND_WALK;
	else if (e && !strcmp(e, "write"))
		only_kind = KIND_AFTER_WRITE;
	else if (e && !strcmp(e, "sticky"))
		only_kind = KIND_STICKY;
	const char *c = getenv("FORKALL_EXPLORE_CLASSES");
	if (c)
		only_classes = !strcmp(c, "on");
}

/* h % 16: 6 in 16 PCT, 1 a plain walk, 5 a sticky walk, 4 an after-write walk.
 * Each kind finds bugs the others miss (docs/explore.md, SCTBench): PCT
 * ferret's, sticky walks radbench.bug2's, after-write walks reorder_10/20's and
 * twostage_100's; the plain walk finds little that the sticky one does not. */
static int schedule_kind(uint64_t h)
{
	static const int kinds[16] = { KIND_PCT, KIND_PCT, KIND_PCT, KIND_PCT, KIND_PCT, KIND_PCT, KIND_WALK,
				       KIND_STICKY, KIND_STICKY, KIND_STICKY, KIND_STICKY, KIND_STICKY,
				       KIND_AFTER_WRITE, KIND_AFTER_WRITE, KIND_AFTER_WRITE, KIND_AFTER_WRITE };
	if (only_kind == KIND_WALK)
		return (h >> 28) % 2 ? KIND_STICKY : KIND_WALK;
	return only_kind >= 0 ? only_kind : kinds[h % 16];
}

static void choose_schedule(uint64_t s, uint64_t steps)
{
	uint64_t h = mix(s & FA_SEED_MASK);
	seed = h;
	int kind = schedule_kind(h);
	mode = kind == KIND_PCT ? MODE_PCT : MODE_WALK;
	depth = 1 + (int)((h >> 8) % MAX_DEPTH);
	/* a sticky walk keeps the running thread with probability 1 - 1/stick, stick 4..256; an
	 * after-write walk 16..1024 except after a write (reorder_10 measured in docs/explore.md) */
	stick = kind == KIND_STICKY ? 1u << (2 + (h >> 32) % 7) : kind == KIND_AFTER_WRITE ? 1u << (4 + (h >> 32) % 7) : 0;
	after_write = kind == KIND_AFTER_WRITE ? 1 + (h >> 36) % 2 : 0;
	after_write_access = (h >> 40) % 2;
	/* held creators only in walks: PCT found reorder_3..5 at creation points, sticky walks reorder_10/20 with them held */
	hold_creators = mode == MODE_WALK && (h >> 20) % 2;
	early_timeouts = (h >> 24) % 2;
	/* not in sticky walks: radbench.bug2, found only by them, needs its main thread
	 * drawn as one of four threads, not as one of two classes (6 of 600 sticky walks
	 * without, 0 of 600 with) */
	class_walk = (kind == KIND_WALK || kind == KIND_AFTER_WRITE) &&
		     (only_classes >= 0 ? only_classes : (int)((h >> 44) % 2));
	horizon = steps ? steps : 64;
	for (int i = 0; i < MAX_DEPTH - 1; i++)
		change_at[i] = 1 + mix(h + 1 + (uint64_t)i) % horizon;
}

/* The first point of a clone: claim a seed, reset every thread's schedule
 * state, wake the threads the snapshot left in a real condition wait. */
static void activate(int pid, int my_rank)
{
	uint64_t steps = 0, s = fa_shared_claim_seed(pid, &steps);
	choose_schedule(s, steps);
	fa_files_reopen();
	step = 0;
	pin_all_threads();
	uint32_t n = fa_nthreads < FA_MAX_THREADS ? fa_nthreads : FA_MAX_THREADS, expected = 0;
	for (uint32_t i = 0; i < n; i++) {
		struct fa_thread *t = &fa_threads[i];
		t->clone = pid;
		t->arrived = 0;
		t->block = FA_RUNNABLE;
		t->on = 0;
		t->timed = 0;
		t->timed_out = 0;
		t->go = 0;
		t->prio = initial_prio(i);
		t->wrote = t->dirty = t->at_access = 0;
		if (t->live && (int)i != my_rank)
			expected++;
	}
	expected_count = expected;
	for (uint32_t i = 0; i < n; i++)
		if (fa_threads[i].live && fa_threads[i].tmpl_cond)
			fa_real_cond_broadcast((pthread_cond_t *)fa_threads[i].tmpl_cond);
	__atomic_store_n(&fa_active, pid, __ATOMIC_RELEASE);
	atexit(exit_point);
}

/* Waits until every expected thread arrived, for at most ARRIVAL_MS of
 * waiting, counted in the futex waits' own timeouts rather than read from a
 * clock: a clone's first call into the vDSO (clock_gettime) takes a page
 * fault (fork does not copy that mapping's entries; ~30 us on a VM), and most
 * clones never call it otherwise. Each wake-up without a timeout is an
 * arrival, so the loop ends. */
static void wait_for_arrivals(void)
{
	uint32_t waited_ms = 0;
	for (;;) {
		uint32_t a = __atomic_load_n(&arrived_count, __ATOMIC_ACQUIRE);
		if (a >= expected_count || waited_ms >= ARRIVAL_MS)
			return;
		struct timespec ts = { 0, 2000000 };
		if (futex(&arrived_count, FUTEX_WAIT, a, &ts) < 0 && errno != EAGAIN)
			waited_ms += 2; /* timed out (or interrupted: counted too, so a signal storm cannot stretch it) */
	}
}

/* a thread's first point in this clone: it joins the schedule and waits for its turn */
static void arrive(struct fa_thread *me, int pid)
{
	t_clone = pid;
	__atomic_store_n(&me->arrived, 1, __ATOMIC_SEQ_CST);
	__atomic_fetch_add(&arrived_count, 1, __ATOMIC_SEQ_CST);
	futex(&arrived_count, FUTEX_WAKE, 1, 0);
	uint32_t one = 1;
	if (__atomic_compare_exchange_n(&token_free, &one, 0, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
		return; /* the last runnable thread finished while we were late: the token is ours */
	wait_token(me);
}

int fa_in_clone(void)
{
	if (!fa_shared || !__atomic_load_n(&fa_shared->armed, __ATOMIC_RELAXED) || fa_rank < 0 || fa_rank >= FA_MAX_THREADS)
		return 0;
	return __atomic_load_n(&fa_active, __ATOMIC_ACQUIRE) || (uint32_t)syscall(SYS_getpid) != fa_shared->template_pid;
}

struct fa_thread *fa_enter(void)
{
	if (!fa_shared || !__atomic_load_n(&fa_shared->armed, __ATOMIC_RELAXED))
		return 0;
	int r = fa_rank;
	if (r < 0 || r >= FA_MAX_THREADS)
		return 0;
	struct fa_thread *me = &fa_threads[r];
	/* a thread that finished (its TSD destructors, e.g. NSPR's, still lock) has left the schedule: nobody would pick it */
	if (me->finished)
		return 0;
	int pid = __atomic_load_n(&fa_active, __ATOMIC_ACQUIRE);
	if (pid && t_clone == pid)
		return me;
	if (!pid) {
		int self = (int)syscall(SYS_getpid);
		if ((uint32_t)self == fa_shared->template_pid)
			return 0;
		if (__atomic_exchange_n(&activating, 1, __ATOMIC_ACQ_REL) == 0) {
			activate(self, r);
			t_clone = self;
			__atomic_store_n(&me->arrived, 1, __ATOMIC_SEQ_CST);
			wait_for_arrivals();
			return me;
		}
		while (!(pid = __atomic_load_n(&fa_active, __ATOMIC_ACQUIRE)))
			syscall(SYS_sched_yield);
	}
	arrive(me, pid);
	return me;
}

/* Virtual time: no timed wait sleeps. Under half the seeds a thread in a
 * timed wait (condition, semaphore, mutex) is a candidate like a runnable one
 * and, chosen, returns ETIMEDOUT: a timeout can happen at any point, as if
 * its deadline had just passed, without any time passing. Under the others a
 * timed wait times out only when no thread can run (before a deadlock). */
static int runnable(const struct fa_thread *t, int pid)
{
	return t->clone == pid && t->live && __atomic_load_n(&t->arrived, __ATOMIC_SEQ_CST) &&
	       (t->block == FA_RUNNABLE || (early_timeouts && t->timed));
}

/* a timed waiter chosen to run: its wait ends in a timeout */
static void time_out_if_waiting(struct fa_thread *t)
{
	if (t->block != FA_RUNNABLE) {
		t->block = FA_RUNNABLE;
		t->on = 0;
		t->timed_out = 1;
	}
}

/* does a sticky walk keep the running thread at this point? (after_write: the point follows its write) */
static int sticks(struct fa_thread *me, int yielding, int after_wrote)
{
	if (!stick || yielding || !me->live || me->block != FA_RUNNABLE)
		return 0;
	uint64_t r = mix(seed ^ (step * 0x9e3779b97f4a7c15ull));
	return after_wrote && after_write ? r % after_write != 0 : r % stick != 0;
}

/* A class-weighted walk's first draw: a class uniformly among the classes
 * with a runnable thread (not counting me when excluded), whatever their
 * sizes. The thread a bug needs is often the only one of its kind among many
 * alike: twostage_100's reader among 99 writers, reorder_N's checker among
 * N-1 setters; a uniform draw over threads reaches it once in a hundred
 * draws, over classes once in two. -1: no candidate. */
static int walk_class(struct fa_thread *me, int exclude_me, uint32_t n, int pid)
{
	uint8_t has[FA_MAX_CLASSES] = { 0 };
	uint32_t classes = 0;
	for (uint32_t i = 0; i < n; i++) {
		struct fa_thread *t = &fa_threads[i];
		if (!runnable(t, pid) || (exclude_me && t == me) || has[t->cls % FA_MAX_CLASSES])
			continue;
		has[t->cls % FA_MAX_CLASSES] = 1;
		classes++;
	}
	if (!classes)
		return -1;
	uint64_t k = mix(seed ^ (step * 0xc2b2ae3d27d4eb4full)) % classes;
	for (int c = 0; c < FA_MAX_CLASSES; c++)
		if (has[c] && k-- == 0)
			return c;
	return -1;
}

/* the seed's choice among the runnable threads; a yielding thread is chosen only when it is the only one */
static struct fa_thread *pick(struct fa_thread *me, int yielding, int after_wrote)
{
	int pid = fa_active;
	uint32_t n = fa_nthreads < FA_MAX_THREADS ? fa_nthreads : FA_MAX_THREADS;
	if (sticks(me, yielding, after_wrote))
		return me;
	for (int pass = yielding ? 0 : 1; pass < 2; pass++) {
		struct fa_thread *best = 0;
		uint64_t count = 0;
		int cls = class_walk ? walk_class(me, pass == 0, n, pid) : -1;
		for (uint32_t i = 0; i < n; i++) {
			struct fa_thread *t = &fa_threads[i];
			if (!runnable(t, pid) || (pass == 0 && t == me) || (cls >= 0 && t->cls != (uint32_t)cls))
				continue;
			if (mode == MODE_WALK) {
				count++; /* reservoir sampling: each candidate with probability 1/count */
				if (mix(seed ^ (step * 0x100000001b3ull) ^ count) % count == 0)
					best = t;
			} else if (!best || t->prio > best->prio)
				best = t;
		}
		if (best)
			return best;
	}
	return 0;
}

static int late_threads(int pid)
{
	uint32_t n = fa_nthreads < FA_MAX_THREADS ? fa_nthreads : FA_MAX_THREADS;
	for (uint32_t i = 0; i < n; i++) {
		struct fa_thread *t = &fa_threads[i];
		if (t->clone == pid && t->live && !__atomic_load_n(&t->arrived, __ATOMIC_SEQ_CST))
			return 1;
	}
	return 0;
}

static struct fa_thread *earliest_timed_waiter(int pid)
{
	struct fa_thread *best = 0;
	uint32_t n = fa_nthreads < FA_MAX_THREADS ? fa_nthreads : FA_MAX_THREADS;
	for (uint32_t i = 0; i < n; i++) {
		struct fa_thread *t = &fa_threads[i];
		if (t->clone == pid && t->live && t->timed && t->block != FA_RUNNABLE && (!best || t->wait_seq < best->wait_seq))
			best = t;
	}
	return best;
}

static void put(char **p, const char *s)
{
	while (*s)
		*(*p)++ = *s++;
}

static void put_num(char **p, uint64_t v)
{
	char b[24];
	int n = 0;
	do
		b[n++] = (char)('0' + v % 10);
	while ((v /= 10));
	while (n)
		*(*p)++ = b[--n];
}

static const char *block_name(int b)
{
	static const char *names[] = { "runnable", "mutex", "condition", "timed condition", "rwlock", "semaphore", "spinlock", "join", "barrier" };
	return b >= 0 && b <= FA_ON_BARRIER ? names[b] : "?";
}

/* every thread blocked on a wrapped primitive: report and end the clone now */
static __attribute__((noreturn)) void deadlock(int pid)
{
	fa_shared_mark_deadlock(pid);
	char msg[1024], *p = msg;
	put(&p, "forkall explore: deadlock after ");
	put_num(&p, step);
	put(&p, " steps:");
	uint32_t n = fa_nthreads < FA_MAX_THREADS ? fa_nthreads : FA_MAX_THREADS;
	for (uint32_t i = 0; i < n && p < msg + sizeof msg - 64; i++) {
		struct fa_thread *t = &fa_threads[i];
		if (t->clone != pid || !t->live)
			continue;
		put(&p, " thread ");
		put_num(&p, i);
		put(&p, " on ");
		put(&p, block_name(t->block));
		put(&p, ";");
	}
	put(&p, "\n");
	(void)!write(2, msg, (size_t)(p - msg));
	syscall(SYS_kill, syscall(SYS_getpid), SIGKILL);
	for (;;)
		pause();
}

/* no thread can run: a timed wait times out, a late thread arrives, or it is a deadlock */
static struct fa_thread *nobody_runnable(struct fa_thread *me, int pid)
{
	for (;;) {
		struct fa_thread *t = earliest_timed_waiter(pid);
		if (t) {
			time_out_if_waiting(t);
			return t;
		}
		if (!late_threads(pid))
			deadlock(pid);
		uint32_t a = __atomic_load_n(&arrived_count, __ATOMIC_ACQUIRE);
		struct timespec ts = { 0, 100000000 };
		if ((t = pick(me, 0, 0)))
			return t;
		futex(&arrived_count, FUTEX_WAIT, a, &ts);
		if ((t = pick(me, 0, 0)))
			return t;
	}
}

/* PCT never preempts a spinning thread of the highest priority: after this many
 * points in a row with no progress between them (fa_sched_progress: an access
 * to a new address) it drops to the lowest priority, as at a change point */
#define SPIN_STEPS 1000
static struct fa_thread *last_runner;
static uint64_t run_length;

static void count_step(struct fa_thread *me)
{
	step++;
	if (me != last_runner) {
		last_runner = me;
		run_length = 0;
	} else if (++run_length >= SPIN_STEPS && mode == MODE_PCT) {
		me->prio = 0;
		run_length = 0;
	}
	if (step > fa_shared->max_steps)
		fa_shared_note_steps(step);
	if (mode == MODE_PCT)
		for (int i = 0; i < depth - 1; i++)
			if (step == change_at[i])
				me->prio = (uint64_t)(depth - 1 - i); /* below every initial priority, later ones lower */
}

void fa_sched_progress(struct fa_thread *me)
{
	if (me == last_runner)
		run_length = 0;
}

void fa_point(struct fa_thread *me, int yielding)
{
	int pid = fa_active;
	/* an access point right after a write, or another point (an unlock, a
	 * signal, a create) after writes since the last one (tsan.c sets both) */
	int after_wrote = me->at_access ? after_write_access && me->wrote : me->dirty;
	me->wrote = 0;
	if (!me->at_access)
		me->dirty = 0;
	count_step(me);
	struct fa_thread *next = pick(me, yielding, after_wrote);
	if (!next)
		next = nobody_runnable(me, pid);
	time_out_if_waiting(next);
	if (next != me)
		switch_to(me, next);
}

void fa_wake(const void *obj, int kind, int all)
{
	int pid = fa_active;
	uint32_t n = fa_nthreads < FA_MAX_THREADS ? fa_nthreads : FA_MAX_THREADS;
	struct fa_thread *first = 0;
	for (uint32_t i = 0; i < n; i++) {
		struct fa_thread *t = &fa_threads[i];
		int match = t->clone == pid && t->on == obj &&
			    (t->block == kind || (kind == FA_ON_COND && t->block == FA_ON_TIMED_COND));
		if (!match)
			continue;
		if (all) {
			t->block = FA_RUNNABLE;
			t->on = 0;
		} else if (!first || t->wait_seq < first->wait_seq)
			first = t;
	}
	if (first) {
		first->block = FA_RUNNABLE;
		first->on = 0;
	}
}

/* In half the seeds pthread_create is not a point: the creator goes on and
 * makes its next threads before any of them runs, so a thread created last
 * (reorder's checker, made after every setter) can meet the first ones in the
 * middle of their work instead of after they finished. */
int fa_sched_holds_creator(void)
{
	return hold_creators;
}

void fa_sched_new_thread(struct fa_thread *t)
{
	t->clone = fa_active;
	t->go = 0;
	t->block = FA_RUNNABLE;
	t->on = 0;
	t->timed = 0;
	t->timed_out = 0;
	t->prio = initial_prio((uint32_t)(t - fa_threads));
	t->wrote = t->dirty = t->at_access = 0;
	__atomic_store_n(&t->arrived, 1, __ATOMIC_SEQ_CST);
}

void fa_sched_wait_first_turn(struct fa_thread *me)
{
	/* created by the template but not started when it was frozen: in this
	 * clone it has not arrived, so pick() would never choose it */
	if (!__atomic_load_n(&me->arrived, __ATOMIC_SEQ_CST)) {
		arrive(me, me->clone);
		return;
	}
	t_clone = me->clone;
	wait_token(me);
}

void fa_sched_exit(struct fa_thread *me)
{
	int pid = fa_active;
	count_step(me);
	me->finished = 1;
	me->live = 0;
	fa_wake(me, FA_ON_JOIN, 1);
	struct fa_thread *next = pick(me, 0, 0);
	if (!next)
		next = earliest_timed_waiter(pid);
	if (next) {
		time_out_if_waiting(next);
		give_token(next);
		return;
	}
	if (!late_threads(pid)) {
		uint32_t n = fa_nthreads < FA_MAX_THREADS ? fa_nthreads : FA_MAX_THREADS;
		for (uint32_t i = 0; i < n; i++)
			if (fa_threads[i].clone == pid && fa_threads[i].live)
				deadlock(pid);
		return; /* nobody left */
	}
	/* only late threads remain: the first to arrive takes the token */
	__atomic_store_n(&token_free, 1, __ATOMIC_SEQ_CST);
	if ((next = pick(me, 0, 0))) {
		uint32_t one = 1;
		if (__atomic_compare_exchange_n(&token_free, &one, 0, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
			time_out_if_waiting(next);
			give_token(next);
		}
	}
}
