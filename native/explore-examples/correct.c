/* The correct twin of atomicity.c: each deposit reads and writes the balance
 * in one critical section, so every schedule prints the same balance. */
#include <assert.h>
#include "warmup.h"

#define WORKERS 2
#define DEPOSITS 2
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int balance;

static void *worker(void *arg)
{
	wait_for_start();
	for (int i = 0; i < DEPOSITS; i++) {
		pthread_mutex_lock(&lock);
		balance = balance + 1;
		pthread_mutex_unlock(&lock);
	}
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
	printf("balance %d\n", balance);
	fflush(stdout);
	assert(balance == WORKERS * DEPOSITS);
	return 0;
}
