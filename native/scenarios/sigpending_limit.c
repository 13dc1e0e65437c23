/* RLIMIT_SIGPENDING lower than the number of threads: the kernel refuses to
 * queue more parking signals (EAGAIN) until parked threads have taken theirs.
 * forkall must wait for the queue to drain and signal the rest, never treat a
 * refused signal as a thread that exited: the clone has all 41 threads
 * (20 spinning, 20 sleeping in short nanosleeps, main). */
#include <pthread.h>
#include <sys/resource.h>
#include <unistd.h>
#include "scenario.h"

#define SPIN 20
#define WAIT 20

static volatile int go;
static volatile int spinning, sleeping;

static void *spinner(void *arg)
{
	__atomic_add_fetch(&spinning, 1, __ATOMIC_SEQ_CST);
	unsigned long n = 0;
	while (!go)
		n++;
	return (void *)n;
}

static void *waiter(void *arg)
{
	__atomic_add_fetch(&sleeping, 1, __ATOMIC_SEQ_CST);
	while (!go)
		usleep(1000);
	return 0;
}

int main(void)
{
	pthread_t s[SPIN], w[WAIT];
	for (int i = 0; i < SPIN; i++)
		sc_spawn(spinner, 0, (unsigned long *)&s[i]);
	for (int i = 0; i < WAIT; i++)
		sc_spawn(waiter, 0, (unsigned long *)&w[i]);
	while (spinning < SPIN || sleeping < WAIT)
		usleep(1000);
	/* Only 8 queued signals for this user at a time (others' pending signals
	 * count too: the limit may be reached before we send any). */
	struct rlimit rl;
	getrlimit(RLIMIT_SIGPENDING, &rl);
	rl.rlim_cur = 8;
	if (setrlimit(RLIMIT_SIGPENDING, &rl))
		sc_die("setrlimit(RLIMIT_SIGPENDING, 8)");
	sc_snapshot();
	sc_check("main", "threads right after the snapshot", sc_count_tasks(), 1 + SPIN + WAIT);
	go = 1;
	for (int i = 0; i < SPIN; i++)
		pthread_join(s[i], 0);
	for (int i = 0; i < WAIT; i++)
		pthread_join(w[i], 0);
	sc_log("main", "joined %d threads", SPIN + WAIT);
	return sc_finish();
}
