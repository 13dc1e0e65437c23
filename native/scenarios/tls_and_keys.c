/* __thread variables and pthread_key values survive per thread, and the key
 * destructors run at thread exit in both processes. */
#include <pthread.h>
#include <stdint.h>
#include <unistd.h>
#include "scenario.h"

static __thread long tls_value;
static pthread_key_t key;
static struct sc_gate gate = SC_GATE_INIT;

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
	sc_gate_pass(&gate);
	sc_log(label, "__thread=%ld key=%ld", tls_value, (long)(intptr_t)pthread_getspecific(key));
	return 0;
}

int main(void)
{
	pthread_key_create(&key, destructor);
	pthread_t t[3];
	for (long i = 0; i < 3; i++)
		sc_spawn(worker, (void *)i, (unsigned long *)&t[i]);
	sc_gate_wait_arrivals(&gate, 3);
	sc_snapshot();
	sc_gate_open(&gate);
	for (int i = 0; i < 3; i++)
		pthread_join(t[i], 0);
	return sc_finish();
}
