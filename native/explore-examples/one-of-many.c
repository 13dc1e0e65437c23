/* One thread of its kind among many alike (SCTBench's twostage_100): sixty
 * writers each set a first value in one critical section and derive a second
 * from it in another; one reader, made last, reads both and aborts when it
 * saw the first set but not the second. The reader must run right after some
 * writer's first section and before any writer's second: a walk that draws
 * among the 61 threads alike reaches the reader once in 61 draws, one that
 * draws a kind of thread first (a start routine), then a thread of it, once
 * in two or three. Prints what the reader saw. */
#include <assert.h>
#include "warmup.h"

#define WRITERS 60
static pthread_mutex_t first_lock = PTHREAD_MUTEX_INITIALIZER, second_lock = PTHREAD_MUTEX_INITIALIZER;
static int first, second;

static void *writer(void *arg)
{
	pthread_mutex_lock(&first_lock);
	first = 1;
	pthread_mutex_unlock(&first_lock);
	pthread_mutex_lock(&second_lock);
	second = first + 1;
	pthread_mutex_unlock(&second_lock);
	return arg;
}

static int seen_first = -1, seen_second = -1;

static void *reader(void *arg)
{
	pthread_mutex_lock(&first_lock);
	seen_first = first;
	pthread_mutex_unlock(&first_lock);
	if (!seen_first)
		return arg;
	pthread_mutex_lock(&second_lock);
	seen_second = second;
	pthread_mutex_unlock(&second_lock);
	return arg;
}

int main(int argc, char **argv)
{
	pthread_t w[WRITERS], r;
	warm_up_and_snapshot(argc, argv);
	for (int i = 0; i < WRITERS; i++)
		pthread_create(&w[i], 0, writer, 0);
	pthread_create(&r, 0, reader, 0);
	for (int i = 0; i < WRITERS; i++)
		pthread_join(w[i], 0);
	pthread_join(r, 0);
	printf("reader saw %d %d\n", seen_first, seen_second);
	fflush(stdout);
	assert(seen_first != 1 || seen_second == 2);
	return 0;
}
