/* A data race with no synchronisation call inside it: two workers each add
 * to a counter with a plain read and a plain write. Only a switch between the
 * read and the write loses an update, so it is found only when the program is
 * built with -fsanitize=thread against libforkall-sched.so, which makes every
 * memory access a scheduling point (native/explore/tsan.c). Aborts when an
 * update was lost. */
#include <assert.h>
#include "warmup.h"

#define WORKERS 2
static volatile int counter;

static void *worker(void *arg)
{
	wait_for_start();
	int seen = counter;
	counter = seen + 1;
	return arg;
}

int main(int argc, char **argv)
{
	pthread_t t[WORKERS];
	for (int i = 0; i < WORKERS; i++)
		pthread_create(&t[i], 0, worker, 0);
	warm_up_and_snapshot(argc, argv);
	for (int i = 0; i < WORKERS; i++)
		pthread_join(t[i], 0);
	printf("counter %d\n", counter);
	fflush(stdout);
	assert(counter == WORKERS);
	return 0;
}
