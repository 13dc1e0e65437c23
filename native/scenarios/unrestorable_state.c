/* A thread whose state cannot be put back in a clone makes forkall fail, not
 * succeed with the thread changed. Here a thread holds a gs_base the kernel
 * lets user space set with WRGSBASE but refuses through arch_prctl(ARCH_SET_GS)
 * (a canonical address in the upper half): the child cannot restore it, reports
 * that, is killed and reaped; forkall returns -1 with EPERM and a message naming
 * the thread and the call; the process goes on untouched. Once the thread puts
 * an ordinary gs_base back, forkall makes a faithful clone.
 * Exits 77 (skip) when the CPU or kernel has no FSGSBASE instructions. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/auxv.h>
#include <unistd.h>
#include "scenario.h"

#define HWCAP2_FSGSBASE (1 << 1)
static const unsigned long bad_gs = 0xffff800000001000ul;

static volatile int phase, ready;
static volatile pid_t worker_tid;

static unsigned long read_gs(void)
{
	unsigned long v;
	__asm__ __volatile__("rdgsbase %0" : "=r"(v));
	return v;
}

static void write_gs(unsigned long v) { __asm__ __volatile__("wrgsbase %0" ::"r"(v) : "memory"); }

static void *worker(void *arg)
{
	worker_tid = sc_gettid();
	write_gs(bad_gs);
	ready = 1;
	while (phase == 0)
		usleep(1000);
	write_gs(0);
	ready = 2;
	while (phase == 1)
		usleep(1000);
	sc_log("worker", "gs_base after the clone is 0: %d", read_gs() == 0);
	return 0;
}

int main(void)
{
	if (!(getauxval(AT_HWCAP2) & HWCAP2_FSGSBASE)) {
		fprintf(stderr, "skip: no FSGSBASE (WRGSBASE) on this CPU/kernel\n");
		return 77;
	}
	pthread_t w;
	sc_spawn(worker, 0, (unsigned long *)&w);
	while (ready != 1)
		usleep(1000);
	pid_t p = forkall();
	int err = errno;
	char want[64];
	snprintf(want, sizeof want, "thread %d's state", (int)worker_tid);
	sc_check("main", "forkall failed", p, -1);
	sc_check("main", "errno is EPERM", err, EPERM);
	sc_check("main", "message names the thread", strstr(forkall_strerror(), want) != 0, 1);
	sc_check("main", "message names the call", strstr(forkall_strerror(), "ARCH_SET_GS") != 0, 1);
	sc_check("main", "the failed child was reaped", sc_other_children(), 0);
	sc_check("main", "threads unchanged", sc_count_tasks(), 2);
	phase = 1;
	while (ready != 2)
		usleep(1000);
	sc_snapshot();
	phase = 2;
	pthread_join(w, 0);
	return sc_finish();
}
