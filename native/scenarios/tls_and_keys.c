/* __thread variables and pthread_key values survive per thread, and the key
 * destructors run at thread exit in both processes. */
#include <pthread.h>
#include <stdint.h>
#include <unistd.h>
#include "scenario.h"

static __thread long tls_value;
static pthread_key_t key;
static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t c = PTHREAD_COND_INITIALIZER;
static int go, ready;

static void destructor(void *v)
{
	char label[16] = "destructor0";
	label[10] += (char)((intptr_t)v % 10);
	sc_log(label, "ran for key value %ld", (long)(intptr_t)v);
}

static void *worker(void *arg)
{
	long id = (long)arg;
	char label[8] = "worker0";
	label[6] += (char)id;
	tls_value = 1000 + id;
	pthread_setspecific(key, (void *)(intptr_t)(2000 + id));
	pthread_mutex_lock(&m);
	ready++;
	pthread_cond_broadcast(&c);
	while (!go)
		pthread_cond_wait(&c, &m);
	pthread_mutex_unlock(&m);
	sc_log(label, "__thread=%ld key=%ld", tls_value, (long)(intptr_t)pthread_getspecific(key));
	return 0;
}

int main(void)
{
	pthread_key_create(&key, destructor);
	pthread_t t[3];
	for (long i = 0; i < 3; i++)
		sc_spawn(worker, (void *)i, (unsigned long *)&t[i]);
	pthread_mutex_lock(&m);
	while (ready < 3)
		pthread_cond_wait(&c, &m);
	pthread_mutex_unlock(&m);
	sc_snapshot();
	pthread_mutex_lock(&m);
	go = 1;
	pthread_cond_broadcast(&c);
	pthread_mutex_unlock(&m);
	for (int i = 0; i < 3; i++)
		pthread_join(t[i], 0);
	return sc_finish();
}
