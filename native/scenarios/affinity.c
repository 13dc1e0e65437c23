/* Per-thread CPU affinity survives: one thread pinned to the first CPU, one to
 * the last (the same one on a single-CPU machine). */
#include <pthread.h>
#include <sched.h>
#include <unistd.h>
#include "scenario.h"

static volatile int ready, go;
static int first_cpu = -1, last_cpu = -1;

static void *worker(void *arg)
{
	int cpu = arg ? last_cpu : first_cpu;
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof set, &set))
		sc_die("sched_setaffinity");
	__atomic_add_fetch(&ready, 1, __ATOMIC_SEQ_CST);
	while (!go)
		usleep(1000);
	CPU_ZERO(&set);
	sched_getaffinity(0, sizeof set, &set);
	int n = CPU_COUNT(&set);
	sc_log(arg ? "pinned_last" : "pinned_first", "cpus=%d pinned to wanted cpu=%d", n, (int)CPU_ISSET(cpu, &set));
	return 0;
}

int main(void)
{
	cpu_set_t all;
	sched_getaffinity(0, sizeof all, &all);
	for (int i = 0; i < CPU_SETSIZE; i++)
		if (CPU_ISSET(i, &all)) {
			if (first_cpu < 0)
				first_cpu = i;
			last_cpu = i;
		}
	pthread_t t[2];
	for (long i = 0; i < 2; i++)
		sc_spawn(worker, (void *)i, (unsigned long *)&t[i]);
	while (ready < 2)
		usleep(1000);
	sc_snapshot();
	go = 1;
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], 0);
	return sc_finish();
}
