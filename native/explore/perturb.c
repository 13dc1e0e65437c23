/* The perturbation: in a clone, at each synchronisation point a thread may
 * yield or sleep. Whether, and for how long, is a pure function of the clone's
 * seed, the thread's key (its pthread_self(), the same in every clone of one
 * template) and how many points that thread passed in this clone, so a seed
 * replays the same decisions. Every thread of the clone is pinned to one CPU:
 * a delayed thread then really lets the others run, in the order the kernel
 * hands one CPU around, instead of racing them on another core. */
#include <dirent.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include "explore.h"

volatile int fa_clone_active;	/* this clone's PID once activated; 0 in the template */
static int activating;
static uint64_t seed, p_permille, max_delay_us;
static int fifo_wanted = 1;
static __thread int t_clone;	/* t_count belongs to the clone with this PID */
static __thread uint64_t t_count, t_key;
__thread uint64_t fa_thread_id;

static uint64_t mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

/* One CPU, and (where allowed: root or CAP_SYS_NICE) SCHED_FIFO: a thread then
 * runs until it blocks or sleeps and woken threads queue in order, so the
 * interleaving follows the seed's sleeps rather than time-slice accidents. */
static void pin_all_threads(int cpu)
{
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	struct sched_param fifo = { .sched_priority = 1 };
	DIR *d = opendir("/proc/self/task");
	if (!d)
		return;
	struct dirent *e;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.') {
			int tid = atoi(e->d_name);
			sched_setaffinity(tid, sizeof set, &set);
			if (fifo_wanted)
				sched_setscheduler(tid, SCHED_FIFO, &fifo);
		}
	closedir(d);
}

static int pick_cpu(uint64_t s)
{
	cpu_set_t set;
	if (sched_getaffinity(0, sizeof set, &set) != 0)
		return 0;
	int n = CPU_COUNT(&set), k = (int)(s % (uint64_t)(n ? n : 1));
	for (int c = 0; c < CPU_SETSIZE; c++)
		if (CPU_ISSET(c, &set) && k-- == 0)
			return c;
	return 0;
}

void fa_perturb_activate(uint64_t s, int pid)
{
	static const uint64_t probs[] = { 100, 250, 500 };
	static const uint64_t delays[] = { 1000, 2000 };
	uint64_t h = mix(s ^ 0x5ced);
	seed = s;
	p_permille = probs[h % 3];
	max_delay_us = delays[(h >> 8) % 2];
	pin_all_threads(pick_cpu(mix(s)));
	__atomic_store_n(&fa_clone_active, pid, __ATOMIC_RELEASE);
}

static int activate_or_template(void)
{
	int pid = (int)syscall(SYS_getpid);
	if ((uint32_t)pid == fa_shared->template_pid)
		return 0;
	if (__atomic_exchange_n(&activating, 1, __ATOMIC_ACQ_REL) == 0)
		fa_perturb_activate(fa_shared_claim_seed(pid), pid);
	while (!__atomic_load_n(&fa_clone_active, __ATOMIC_ACQUIRE))
		syscall(SYS_sched_yield);
	return 1;
}

/* Sleeps in whole steps of a millisecond or two, long against the few
 * microseconds a critical section takes, plus 250 us per logical id so that
 * two threads never wake at the same moment: the order of wake-ups is the
 * seed's, not the timer's jitter. */
static void delay(uint64_t r)
{
	uint64_t us = (1 + r % 3) * max_delay_us + 250 * (fa_thread_id % 8);
	struct timespec ts = { (time_t)(us / 1000000), (long)(us % 1000000) * 1000 };
	syscall(SYS_nanosleep, &ts, 0);
}

/* A thread's first point in a clone: threads that the snapshot left blocked
 * (a condition, a lock) wake in an order the kernel chose, which can differ
 * from clone to clone. Sleeping 1 ms + 0.5 ms per logical id puts threads
 * that arrive together back into id order before any seeded decision. */
static void arrive(void)
{
	uint64_t us = 1000 + 500 * (fa_thread_id % 64);
	struct timespec ts = { (time_t)(us / 1000000), (long)(us % 1000000) * 1000 };
	syscall(SYS_nanosleep, &ts, 0);
}

void fa_perturb_point(void)
{
	int me = __atomic_load_n(&fa_clone_active, __ATOMIC_ACQUIRE);
	if (!me) {
		if (!activate_or_template())
			return;
		me = fa_clone_active;
	}
	if (t_clone != me) {
		t_clone = me;
		t_count = 0;
		t_key = mix(fa_thread_id + 1);
		arrive();
	}
	uint64_t r = mix(seed ^ t_key ^ mix(++t_count));
	if (r % 1000 < p_permille)
		delay(r >> 10);
}
