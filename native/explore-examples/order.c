/* An order violation: the main thread starts a worker and only then sets up
 * the configuration the worker reads; when the worker runs first it follows a
 * null pointer (SIGSEGV). */
#include "warmup.h"

struct config { int value; };
static struct config storage = { 42 };
static struct config *volatile config;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int seen;

static void *reader(void *arg)
{
	pthread_mutex_lock(&lock);
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
	pthread_create(&t, 0, reader, 0);
	pthread_mutex_lock(&lock);
	config = &storage;
	pthread_mutex_unlock(&lock);
	pthread_join(t, 0);
	pthread_join(helper, 0);
	printf("value %d\n", seen);
	return 0;
}
