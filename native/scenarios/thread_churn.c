/* Threads are being created and exiting (joinable and detached) while forkall
 * runs: 100 snapshots taken during the churn all succeed and every clone runs.
 * Those 100 are forkall() calls, so they are made only when the in-process
 * engine is the engine under test; under an outside engine (remote, agent) the
 * one snapshot that engine takes, during the churn, is the test. */
#include <pthread.h>
#include <sys/wait.h>
#include <unistd.h>
#include "scenario.h"

static volatile int stop;

static void *noop(void *arg) { return arg; }

static void *joiner(void *arg)
{
	while (!stop) {
		pthread_t t;
		if (pthread_create(&t, 0, noop, 0) == 0)
			pthread_join(t, 0);
	}
	return 0;
}

static void *detacher(void *arg)
{
	pthread_attr_t a;
	pthread_attr_init(&a);
	pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
	while (!stop) {
		pthread_t t;
		pthread_create(&t, &a, noop, 0);
		usleep(200);
	}
	return 0;
}

int main(void)
{
	pthread_t t[3];
	sc_spawn(joiner, 0, (unsigned long *)&t[0]);
	sc_spawn(joiner, 0, (unsigned long *)&t[1]);
	sc_spawn(detacher, 0, (unsigned long *)&t[2]);
	if (sc_engine_is_inprocess()) {
		int ok = 0;
		for (int i = 0; i < 100; i++) {
			pid_t p = forkall();
			if (p == 0) {
				usleep(500); /* let the churn run in the clone too */
				_exit(0);
			}
			int st;
			ok += p > 0 && waitpid(p, &st, 0) == p && WIFEXITED(st) && WEXITSTATUS(st) == 0;
		}
		sc_log("main", "%d of 100 clones taken during churn exited 0", ok);
	}
	sc_no_thread_count(); /* the churn makes the count at the snapshot vary */
	sc_snapshot();
	stop = 1;
	for (int i = 0; i < 3; i++)
		pthread_join(t[i], 0);
	sc_log("main", "churn threads stopped and joined");
	return sc_finish();
}
