/* An AFL++ target whose work is done by a worker thread that exists before
 * the fork server starts (__AFL_INIT after the threads, as in real programs
 * that initialise a thread pool first). Main hands each input to the worker
 * and waits for its verdict; the planted crash is reached only in the worker.
 * With a plain fork server the child has no worker: every run hangs. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t c = PTHREAD_COND_INITIALIZER;
static char job[64];
static int have_job, done;

/* One comparison per byte, each a new edge for AFL++ to climb (build with -O0:
 * optimisers merge adjacent byte compares into one 16-bit compare). */
static void check(const char *in)
{
	if (in[0] == 'F' && in[1] == 'A' && in[2] == '!')
		abort(); /* the planted crash */
}

static void *worker(void *arg)
{
	for (;;) {
		pthread_mutex_lock(&m);
		while (!have_job)
			pthread_cond_wait(&c, &m);
		have_job = 0;
		pthread_mutex_unlock(&m);
		check(job);
		pthread_mutex_lock(&m);
		done = 1;
		pthread_cond_broadcast(&c);
		pthread_mutex_unlock(&m);
	}
	return 0;
}

int main(int argc, char **argv)
{
	pthread_t t;
	pthread_create(&t, 0, worker, 0);
	usleep(10000);
#ifdef __AFL_HAVE_MANUAL_CONTROL
	__AFL_INIT();
#endif
	char buf[64] = { 0 };
	ssize_t n = read(0, buf, sizeof buf - 1);
	if (n < 0)
		return 1;
	pthread_mutex_lock(&m);
	memcpy(job, buf, sizeof job);
	have_job = 1;
	pthread_cond_broadcast(&c);
	while (!done)
		pthread_cond_wait(&c, &m);
	pthread_mutex_unlock(&m);
	return 0;
}
