/* Detached threads waiting at the snapshot resume, finish and release their
 * resources on their own in both processes. */
#include <pthread.h>
#include <unistd.h>
#include "scenario.h"

static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t c = PTHREAD_COND_INITIALIZER;
static int go, ready, finished;

static void *worker(void *arg)
{
	char label[8] = "det0";
	label[3] += (char)(long)arg;
	pthread_mutex_lock(&m);
	ready++;
	pthread_cond_broadcast(&c);
	while (!go)
		pthread_cond_wait(&c, &m);
	finished++;
	pthread_cond_broadcast(&c);
	pthread_mutex_unlock(&m);
	sc_log(label, "finished");
	return 0;
}

int main(void)
{
	pthread_attr_t a;
	pthread_attr_init(&a);
	pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
	for (long i = 0; i < 4; i++) {
		pthread_t t;
		if (pthread_create(&t, &a, worker, (void *)i))
			sc_die("pthread_create");
	}
	pthread_mutex_lock(&m);
	while (ready < 4)
		pthread_cond_wait(&c, &m);
	pthread_mutex_unlock(&m);
	sc_snapshot();
	pthread_mutex_lock(&m);
	go = 1;
	pthread_cond_broadcast(&c);
	while (finished < 4)
		pthread_cond_wait(&c, &m);
	pthread_mutex_unlock(&m);
	/* up to 30 s (a loaded machine); two counts of one in a row, as a readdir of
	 * /proc/self/task can skip a task while another exits and undercount once */
	int n = sc_count_tasks();
	for (int i = 0, ones = 0; i < 30000 && ones < 2; i++) {
		usleep(1000);
		n = sc_count_tasks();
		ones = n > 1 ? 0 : ones + 1;
	}
	sc_check("main", "detached threads gone", n, 1);
	return sc_finish();
}
