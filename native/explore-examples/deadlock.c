/* A lock-order deadlock: one worker takes a then b, the other b then a. Both
 * finish unless each takes its first lock before the other its second. */
#include "warmup.h"

static pthread_mutex_t a = PTHREAD_MUTEX_INITIALIZER, b = PTHREAD_MUTEX_INITIALIZER;
static int transfers;

static void *transfer(pthread_mutex_t *first, pthread_mutex_t *second)
{
	wait_for_start();
	pthread_mutex_lock(first);
	pthread_mutex_lock(second);
	transfers++;
	pthread_mutex_unlock(second);
	pthread_mutex_unlock(first);
	return 0;
}

static void *ab(void *arg) { return transfer(&a, &b); }
static void *ba(void *arg) { return transfer(&b, &a); }

int main(int argc, char **argv)
{
	pthread_t t1, t2;
	pthread_create(&t1, 0, ab, 0);
	pthread_create(&t2, 0, ba, 0);
	warm_up_and_snapshot(argc, argv);
	pthread_join(t1, 0);
	pthread_join(t2, 0);
	printf("transfers %d\n", transfers);
	return 0;
}
