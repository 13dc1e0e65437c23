/* Shared by the explore examples: a warm-up (argv[1] milliseconds of work,
 * default 50) with a pool of workers that wait on a start signal, then the
 * snapshot point. Each clone starts right before the racy section. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

extern int forkall_snapshot(void) __attribute__((weak));

static pthread_mutex_t start_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t start_cond = PTHREAD_COND_INITIALIZER;
static int started;

/* workers call this first: they are waiting here when the program is frozen */
static void wait_for_start(void)
{
	pthread_mutex_lock(&start_lock);
	while (!started)
		pthread_cond_wait(&start_cond, &start_lock);
	pthread_mutex_unlock(&start_lock);
}

static void warm_up_and_snapshot(int argc, char **argv)
{
	long ms = argc > 1 ? atol(argv[1]) : 50;
	struct timespec t0, t;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	volatile unsigned long x = 0;
	do {
		for (int i = 0; i < 100000; i++)
			x += i;
		clock_gettime(CLOCK_MONOTONIC, &t);
	} while ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000 < ms);
	if (forkall_snapshot)
		forkall_snapshot();
	pthread_mutex_lock(&start_lock);
	started = 1;
	pthread_cond_broadcast(&start_cond);
	pthread_mutex_unlock(&start_lock);
}
