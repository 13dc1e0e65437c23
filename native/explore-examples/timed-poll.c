/* A bug behind a timeout: a worker waits at most 5 s for the main thread to
 * publish its configuration and, when the wait times out, goes on anyway and
 * follows the null pointer (SIGSEGV). In real time the main thread always
 * publishes long before 5 s; only a schedule in which the timed wait times out
 * first (virtual time: the scheduler may end a timed wait at any point, no
 * time passes) shows the bug. */
#include <errno.h>
#include "warmup.h"

struct config { int value; };
static struct config storage = { 42 };
static struct config *config;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t published = PTHREAD_COND_INITIALIZER;
static int seen;

static void *worker(void *arg)
{
	struct timespec deadline;
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += 5;
	pthread_mutex_lock(&lock);
	while (!config)
		if (pthread_cond_timedwait(&published, &lock, &deadline) == ETIMEDOUT)
			break; /* the bug: a timeout is taken as "published" */
	seen = config->value;
	pthread_mutex_unlock(&lock);
	return arg;
}

static void *idle(void *arg)
{
	wait_for_start();
	return arg;
}

int main(int argc, char **argv)
{
	pthread_t helper, t;
	pthread_create(&helper, 0, idle, 0);
	warm_up_and_snapshot(argc, argv);
	pthread_create(&t, 0, worker, 0);
	pthread_mutex_lock(&lock);
	config = &storage;
	pthread_cond_broadcast(&published);
	pthread_mutex_unlock(&lock);
	pthread_join(t, 0);
	pthread_join(helper, 0);
	printf("value %d\n", seen);
	return 0;
}
