/* Two threads call forkall at the same moment, 20 times. Calls are
 * serialised: the second caller is parked while it waits, so the first clone
 * contains it still waiting, and it forks again there. Every process reaps its
 * own children and every clone exits 0; the original sees exactly 2 clones per
 * round, all successful. */
#include <errno.h>
#include <pthread.h>
#include <sys/wait.h>
#include <unistd.h>
#include "scenario.h"

static pthread_barrier_t barrier;
static pid_t original;

static void *caller(void *arg)
{
	pthread_barrier_wait(&barrier);
	if (forkall() < 0)
		sc_die("forkall: %s", forkall_strerror());
	return 0;
}

/* One round; returns in the original only. */
static void round_(int *clones, int *bad)
{
	pthread_t a, b;
	pthread_barrier_init(&barrier, 0, 2);
	sc_spawn(caller, 0, (unsigned long *)&a);
	sc_spawn(caller, 0, (unsigned long *)&b);
	pthread_join(a, 0);
	pthread_join(b, 0);
	pthread_barrier_destroy(&barrier);
	int st, n = 0, failed = 0;
	pid_t p;
	while ((p = wait(&st)) > 0 || (p < 0 && errno == EINTR))
		if (p > 0) {
			n++;
			failed += !WIFEXITED(st) || WEXITSTATUS(st) != 0;
		}
	if (getpid() != original)
		_exit(failed ? 1 : 0);
	*clones += n;
	*bad += failed;
}

int main(void)
{
	original = getpid();
	int clones = 0, bad = 0;
	for (int i = 0; i < 20; i++)
		round_(&clones, &bad);
	sc_log("main", "20 rounds: %d direct clones, %d failed", clones, bad);
	sc_snapshot();
	return sc_finish();
}
