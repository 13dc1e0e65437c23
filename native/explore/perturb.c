/* The perturbation: in a clone, at each synchronisation point a thread may
 * yield or sleep. Whether, and for how long, is a pure function of the clone's
 * seed, the thread's key (its pthread_self(), the same in every clone of one
 * template) and how many points that thread passed in this clone, so a seed
 * replays the same decisions. Every thread of the clone is pinned to one CPU:
 * a delayed thread then really lets the others run, in the order the kernel
 * hands one CPU around, instead of racing them on another core. */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include "explore.h"

volatile int fa_clone_active;	/* this clone's PID once activated; 0 in the template */
static int activating;
static uint64_t seed, p_permille;
static struct timespec clone_start;	/* slot 0 of this clone's delay clock */
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
	uint64_t h = mix(s ^ 0x5ced);
	seed = s;
	p_permille = probs[h % 3];
	clock_gettime(CLOCK_MONOTONIC, &clone_start);
	pin_all_threads(pick_cpu(mix(s)));
	__atomic_store_n(&fa_clone_active, pid, __ATOMIC_RELEASE);
}

/* 0: this is the template; 1: a clone; 2: a clone, and this thread activated it */
static int activate_or_template(void)
{
	int pid = (int)syscall(SYS_getpid);
	if ((uint32_t)pid == fa_shared->template_pid)
		return 0;
	if (__atomic_exchange_n(&activating, 1, __ATOMIC_ACQ_REL) == 0) {
		fa_perturb_activate(fa_shared_claim_seed(pid), pid);
		return 2;
	}
	while (!__atomic_load_n(&fa_clone_active, __ATOMIC_ACQUIRE))
		syscall(SYS_sched_yield);
	return 1;
}

/* Delays are counted in slots of SLOT_US on a clock that starts when the clone
 * activates; a thread delayed by k slots sleeps until an absolute time: k
 * slots after the later of its previous wake-up slot and the current one,
 * plus OFFSET_US per logical id (mod 8). Two threads thus never wake at the
 * same moment and timer jitter does not add up from one delay to the next:
 * the order of wake-ups is the seed's, as long as the code between two points
 * runs in less than OFFSET_US. */
#define SLOT_US 2000
#define OFFSET_US 250
#define ARRIVAL_SLOTS 4	/* see arrive() */
static __thread uint64_t t_slot;

static uint64_t now_us(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)((t.tv_sec - clone_start.tv_sec) * 1000000000L + (t.tv_nsec - clone_start.tv_nsec)) / 1000;
}

static void delay_slots(uint64_t k)
{
	uint64_t now_slot = now_us() / SLOT_US;
	if (k == ARRIVAL_SLOTS && t_slot == 0)
		t_slot = now_slot < ARRIVAL_SLOTS ? ARRIVAL_SLOTS : now_slot + 1;
	else
		t_slot = (t_slot > now_slot ? t_slot : now_slot) + k;
	uint64_t at = t_slot * SLOT_US + OFFSET_US * (fa_thread_id % 8);
	struct timespec ts = clone_start;
	ts.tv_sec += (time_t)(at / 1000000);
	ts.tv_nsec += (long)(at % 1000000) * 1000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, 0) == EINTR)
		;
}

/* A thread's first point in a clone: threads that the snapshot left blocked
 * (a condition, a lock) wake in an order and at moments the kernel chose,
 * which differ from clone to clone. Every thread but the one that activated
 * the clone waits for slot ARRIVAL_SLOTS (plus its id's offset): threads
 * that arrive in the clone's first milliseconds start in id order, at the
 * same times, before any seeded decision. */
static void arrive(int activator)
{
	t_slot = 0;
	if (!activator)
		delay_slots(ARRIVAL_SLOTS);
}

void fa_perturb_point(void)
{
	int me = __atomic_load_n(&fa_clone_active, __ATOMIC_ACQUIRE), activator = 0;
	if (!me) {
		if (!(activator = activate_or_template()))
			return;
		me = fa_clone_active;
	}
	if (t_clone != me) {
		t_clone = me;
		t_count = 0;
		t_key = mix(fa_thread_id + 1);
		arrive(activator == 2);
	}
	uint64_t r = mix(seed ^ t_key ^ mix(++t_count));
	if (r % 1000 < p_permille)
		delay_slots(1 + (r >> 10) % 3);
}
