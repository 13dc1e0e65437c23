/* A thread running SCHED_BATCH with nice 7 keeps both in the clone. (Raw
 * system calls: musl does not implement the sched_*scheduler wrappers.) */
#include <pthread.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "scenario.h"

static volatile int ready, go;

static void *worker(void *arg)
{
	struct sched_param p = { 0 };
	if (syscall(SYS_sched_setscheduler, 0, SCHED_BATCH, &p) || setpriority(PRIO_PROCESS, (id_t)sc_gettid(), 7))
		sc_die("cannot set SCHED_BATCH / nice");
	ready = 1;
	while (!go)
		usleep(1000);
	int pol = (int)syscall(SYS_sched_getscheduler, 0);
	int nice = getpriority(PRIO_PROCESS, (id_t)sc_gettid());
	sc_log("batch", "policy is SCHED_BATCH=%d nice=%d", pol == SCHED_BATCH, nice);
	return 0;
}

int main(void)
{
	pthread_t t;
	sc_spawn(worker, 0, (unsigned long *)&t);
	while (!ready)
		usleep(1000);
	sc_snapshot();
	go = 1;
	pthread_join(t, 0);
	int pol = (int)syscall(SYS_sched_getscheduler, 0);
	sc_log("main", "main stays SCHED_OTHER=%d nice=%d", pol == SCHED_OTHER, getpriority(PRIO_PROCESS, (id_t)sc_gettid()));
	return sc_finish();
}
