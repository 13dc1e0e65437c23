/* A thread stopped inside an rseq critical section must take the section's
 * abort, in the original and in the clone, exactly as the kernel aborts it on
 * preemption, migration or signal delivery. Each worker increments a per-CPU
 * counter in an rseq block: it reads its CPU, spins inside the section until
 * main says go, then commits counter[cpu]++ with one store. The workers sit
 * on the first CPU inside the section at the snapshot; after it, main moves
 * them to the last CPU (a migration, which must abort the section) and says
 * go. A section that was not aborted commits on the CPU it read before the
 * move: counter[first] grows. Done right, every commit is on the last CPU and
 * no update is lost.
 *
 * glibc registers an rseq area for every thread (__rseq_offset); with musl
 * (or glibc.pthread.rseq=0) each worker registers its own. */
#include <pthread.h>
#include <sched.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "scenario.h"

#define NW 2
#define RSEQ_SIG 0x53053053

struct rseq_area {
	uint32_t cpu_id_start, cpu_id;
	uint64_t rseq_cs;
	uint32_t flags, node_id, mm_cid, pad;
} __attribute__((aligned(32)));

extern const ptrdiff_t __rseq_offset __attribute__((weak));
extern const unsigned int __rseq_size __attribute__((weak));
static __thread struct rseq_area own_area;

static volatile long counters[CPU_SETSIZE];
static volatile int in_cs[NW], go;
static long aborts[NW];
static pthread_t workers[NW];
static int first_cpu = -1, last_cpu = -1;

static struct rseq_area *my_rseq(void)
{
	if (&__rseq_size && __rseq_size)
		return (struct rseq_area *)((char *)__builtin_thread_pointer() + __rseq_offset);
	if (syscall(SYS_rseq, &own_area, sizeof own_area, 0, RSEQ_SIG))
		return 0;
	return &own_area;
}

/* One increment of counters[cpu] in an rseq critical section [1, 3) whose
 * abort handler (4, preceded by the signature) counts the abort and starts
 * over. Returns the CPU the commit used. */
static long increment(struct rseq_area *rs, volatile int *entered, long *abort_count)
{
	long cpu;
	__asm__ volatile(
		".pushsection __rseq_cs_scenario, \"aw\"\n\t"
		".balign 32\n"
		"66:\n\t"
		".long 0, 0\n\t"
		".quad 1f, 3f - 1f, 4f\n\t"
		".popsection\n"
		"0:\n\t"
		"leaq 66b(%%rip), %%rax\n\t"
		"movq %%rax, 8(%[rs])\n"
		"1:\n\t"
		"movl 4(%[rs]), %k[cpu]\n\t"
		"movl $1, (%[entered])\n"
		"2:\n\t"
		"pause\n\t"
		"cmpl $0, (%[go])\n\t"
		"je 2b\n\t"
		"movq (%[ctr], %[cpu], 8), %%rcx\n\t"
		"addq $1, %%rcx\n\t"
		"movq %%rcx, (%[ctr], %[cpu], 8)\n"
		"3:\n\t"
		"jmp 5f\n\t"
		".long " "0x53053053" "\n"
		"4:\n\t"
		"addq $1, (%[aborts])\n\t"
		"jmp 0b\n"
		"5:\n"
		: [cpu] "=&r"(cpu)
		: [rs] "r"(rs), [ctr] "r"(counters), [go] "r"(&go), [entered] "r"(entered), [aborts] "r"(abort_count)
		: "rax", "rcx", "memory", "cc");
	return cpu;
}

static void pin(pthread_t t, int cpu)
{
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (pthread_setaffinity_np(t, sizeof set, &set))
		sc_die("pthread_setaffinity_np(%d)", cpu);
}

static void *worker(void *arg)
{
	int i = (int)(long)arg;
	const char *label = i ? "w1" : "w0";
	struct rseq_area *rs = my_rseq();
	if (!rs)
		sc_die("no rseq registration (rseq syscall failed)");
	pin(pthread_self(), first_cpu);
	long cpu = increment(rs, &in_cs[i], &aborts[i]);
	sc_check(label, "the commit used the CPU the thread runs on (the last)", cpu, last_cpu);
	sc_check(label, "rseq cpu_id is the last CPU", (long)rs->cpu_id, last_cpu);
	return 0;
}

int main(void)
{
	cpu_set_t all;
	if (sched_getaffinity(0, sizeof all, &all))
		sc_die("sched_getaffinity");
	for (int c = 0; c < CPU_SETSIZE; c++)
		if (CPU_ISSET(c, &all)) {
			if (first_cpu < 0)
				first_cpu = c;
			last_cpu = c;
		}
	if (first_cpu == last_cpu) {
		/* one CPU: no migration to abort on; the transcript says so in both processes */
		sc_log("main", "one CPU only: nothing to check");
		sc_snapshot();
		return sc_finish();
	}
	for (long i = 0; i < NW; i++)
		sc_spawn(worker, (void *)i, (unsigned long *)&workers[i]);
	for (int i = 0; i < NW; i++)
		while (!in_cs[i])
			usleep(1000);
	usleep(10000);
	sc_snapshot();
	/* a migration aborts a section; one that was left armed wrongly commits on the first CPU */
	for (int i = 0; i < NW; i++)
		pin(workers[i], last_cpu);
	go = 1;
	for (int i = 0; i < NW; i++)
		pthread_join(workers[i], 0);
	sc_check("main", "commits on the first CPU", counters[first_cpu], 0);
	sc_check("main", "commits on the last CPU (none lost)", counters[last_cpu], NW);
	return sc_finish();
}
