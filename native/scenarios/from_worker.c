/* forkall called from a worker thread: in the clone that worker is the main
 * thread (its TID is the PID) and the old main thread carries on as an
 * ordinary thread that joins it. */
#include <pthread.h>
#include <unistd.h>
#include "scenario.h"

static volatile int go;

static void *forker(void *arg)
{
	sc_snapshot();
	sc_check("forker", "gettid()==getpid() only in the clone", sc_gettid() == getpid(), sc_role == SC_CHILD);
	go = 1;
	return 0;
}

int main(void)
{
	pthread_t t;
	sc_spawn(forker, 0, (unsigned long *)&t);
	pthread_join(t, 0); /* parked here at the snapshot; joins the forker in both */
	sc_check("main", "old main is the main thread only in the parent", sc_gettid() == getpid(), sc_role == SC_PARENT);
	sc_log("main", "joined the forker, go=%d", go);
	return sc_finish();
}
