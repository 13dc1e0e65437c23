/* rseq stays registered for every resurrected thread (glibc 2.35+ registers
 * one area per thread; musl has none). The thread sits on the first CPU at the
 * snapshot and moves to the last one after it: the area's cpu_id must follow
 * (a stale, unregistered area would still say the first CPU). */
#include <pthread.h>
#include <sched.h>
#include <stddef.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "scenario.h"

extern const ptrdiff_t __rseq_offset __attribute__((weak));
extern const unsigned int __rseq_size __attribute__((weak));
static volatile int ready, go;

static int rseq_cpu_id(void)
{
	if (!&__rseq_size || !__rseq_size)
		return -100; /* no rseq in this libc */
	unsigned long tp;
	__asm__("mov %%fs:0, %0" : "=r"(tp));
	return *(volatile int *)(tp + __rseq_offset + 4); /* struct rseq.cpu_id */
}

static void *worker(void *arg)
{
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(0, &set);
	sched_setaffinity(0, sizeof set, &set);
	ready = 1;
	while (!go)
		usleep(1000);
	cpu_set_t all;
	int last = 0;
	sched_getaffinity(getpid(), sizeof all, &all);
	for (int i = 0; i < CPU_SETSIZE; i++)
		if (CPU_ISSET(i, &all))
			last = i;
	CPU_ZERO(&set);
	CPU_SET(last, &set);
	sched_setaffinity(0, sizeof set, &set);
	usleep(2000);
	unsigned cpu = 99;
	syscall(SYS_getcpu, &cpu, 0, 0);
	int id = rseq_cpu_id();
	if (id == -100)
		sc_log("worker", "no rseq area in this libc");
	else
		sc_check("worker", "rseq cpu_id follows the thread to the last CPU", id, (long)cpu);
	sc_check("worker", "moved to the last CPU", cpu, last);
	return 0;
}

int main(void)
{
	pthread_t t;
	sc_spawn(worker, 0, (unsigned long *)&t);
	while (!ready)
		usleep(1000);
	usleep(5000);
	sc_snapshot();
	go = 1;
	pthread_join(t, 0);
	return sc_finish();
}
