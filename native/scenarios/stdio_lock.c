/* A thread holds a FILE lock (flockfile) at the snapshot and another thread
 * waits for it inside fprintf: the holder releases it, the writer proceeds. */
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>
#include "scenario.h"

static FILE *f;
static volatile int held, release, writer_done;

static void *holder(void *arg)
{
	flockfile(f);
	held = 1;
	while (!release)
		usleep(1000);
	/* No output under the lock: re-entering it from this thread is the
	 * documented musl hazard (file_lock_owner covers it). */
	funlockfile(f);
	sc_log("holder", "released the FILE lock");
	return 0;
}

static void *writer(void *arg)
{
	fputs("writer\n", f); /* blocks until the holder lets go */
	writer_done = 1;
	sc_log("writer", "fputs went through");
	return 0;
}

int main(void)
{
	f = fopen("/dev/null", "w");
	if (!f)
		sc_die("fopen /dev/null");
	pthread_t h, w;
	sc_spawn(holder, 0, (unsigned long *)&h);
	while (!held)
		usleep(1000);
	sc_spawn(writer, 0, (unsigned long *)&w);
	usleep(20000);
	sc_snapshot();
	sc_check("main", "writer still waiting after the snapshot", writer_done, 0);
	release = 1;
	pthread_join(h, 0);
	pthread_join(w, 0);
	sc_check("main", "fflush", fflush(f), 0);
	return sc_finish();
}
