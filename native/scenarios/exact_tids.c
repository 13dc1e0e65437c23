/* Every thread's TID and the PID after the snapshot: the same numbers in
 * exact-TID mode, new ones in the clone otherwise (documented). */
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>
#include "scenario.h"

static volatile int ready, go;
static pid_t worker_tid_before;

static void *worker(void *arg)
{
	worker_tid_before = sc_gettid();
	ready = 1;
	while (!go)
		usleep(1000);
	int same = sc_gettid() == worker_tid_before;
	sc_check("worker", "TID kept exactly when expected", same, sc_role == SC_PARENT || sc_exact);
	return 0;
}

int main(void)
{
	pid_t pid_before = getpid(), tid_before = sc_gettid();
	pthread_t t;
	sc_spawn(worker, 0, (unsigned long *)&t);
	while (!ready)
		usleep(1000);
	sc_snapshot();
	int keep = sc_role == SC_PARENT || sc_exact;
	sc_check("main", "PID kept exactly when expected", getpid() == pid_before, keep);
	sc_check("main", "main TID kept exactly when expected", sc_gettid() == tid_before, keep);
	sc_check("main", "getppid() is 1 only in an exact-TID clone", getppid() == 1, sc_role == SC_CHILD && sc_exact);
	/* /proc/self is the clone itself: its Pid: line matches getpid() */
	char buf[4096];
	FILE *f = fopen("/proc/self/status", "r");
	int match = 0;
	while (f && fgets(buf, sizeof buf, f))
		if (sscanf(buf, "Pid: %d", &match) == 1)
			break;
	if (f)
		fclose(f);
	sc_check("main", "/proc/self/status Pid equals getpid()", match == getpid(), 1);
	go = 1;
	pthread_join(t, 0);
	return sc_finish();
}
