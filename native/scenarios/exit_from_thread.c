/* exit() called from a non-main thread ends the clone with that status, and
 * the process's atexit handlers run. */
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>
#include "scenario.h"

static volatile int go;

static void *exiter(void *arg)
{
	while (!go)
		usleep(1000);
	exit(0);
}

int main(void)
{
	pthread_t t;
	sc_spawn(exiter, 0, (unsigned long *)&t);
	usleep(10000);
	sc_snapshot();
	sc_log("main", "resumed; the worker will call exit(0)");
	sc_finish(); /* writes the transcript and, in the parent, reaps the clone */
	go = 1;
	pthread_join(t, 0); /* never returns: the worker's exit() ends the process */
	return 1;
}
