/* A thread that blocks every signal cannot be parked: forkall fails with
 * ETIMEDOUT within the timeout, names that thread, releases every parked
 * thread and leaves the process working. Skipping that thread then works:
 * the clone has every thread but it. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "scenario.h"

static volatile int stop_blocker, ready;
static volatile pid_t blocker_tid;
static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t c = PTHREAD_COND_INITIALIZER;
static int go;

static void *blocker(void *arg)
{
	sigset_t all;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, 0);
	blocker_tid = sc_gettid();
	while (!stop_blocker)
		usleep(1000);
	return 0;
}

static void *waiter(void *arg)
{
	pthread_mutex_lock(&m);
	ready = 1;
	while (!go)
		pthread_cond_wait(&c, &m);
	pthread_mutex_unlock(&m);
	sc_log("waiter", "woke after go");
	return 0;
}

static double now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

int main(void)
{
	pthread_t b, w;
	sc_spawn(blocker, 0, (unsigned long *)&b);
	sc_spawn(waiter, 0, (unsigned long *)&w);
	while (!blocker_tid || !ready)
		usleep(1000);
	struct forkall_options o = { .size = sizeof o, .park_timeout_ms = 300 };
	double t0 = now_ms();
	pid_t p = forkall_ex(&o);
	double took = now_ms() - t0;
	int err = errno;
	char tid[32];
	snprintf(tid, sizeof tid, "thread %d ", (int)blocker_tid);
	sc_check("main", "forkall failed", p, -1);
	sc_check("main", "errno is ETIMEDOUT", err, ETIMEDOUT);
	sc_check("main", "message names the blocking thread", strstr(forkall_strerror(), tid) != 0, 1);
	sc_check("main", "message says it blocks the signal", strstr(forkall_strerror(), "blocks the parking signal") != 0, 1);
	sc_check("main", "failed within timeout + 1 s", took < 1300, 1);
	sc_check("main", "no thread was added or lost", sc_count_tasks(), 3);
	/* skip the blocker: the clone gets main and the waiter */
	pid_t skip[1] = { blocker_tid };
	struct forkall_options s = { .size = sizeof s, .skip_tids = skip, .n_skip = 1 };
	sc_snapshot_with(&s);
	sc_check("main", "threads in this process (blocker only in the parent)", sc_count_tasks(),
		 sc_role == SC_CHILD ? 2 : 3);
	pthread_mutex_lock(&m);
	go = 1;
	pthread_cond_broadcast(&c);
	pthread_mutex_unlock(&m);
	pthread_join(w, 0);
	stop_blocker = 1;
	if (sc_role == SC_PARENT)
		pthread_join(b, 0);
	sc_no_thread_count();
	return sc_finish();
}
