/* A thread holds a FILE lock (flockfile) and is inside fprintf when the
 * snapshot is taken; after it, the same thread takes the lock again
 * (ftrylockfile, recursive). glibc records the owner's descriptor, so that
 * always works; musl records the TID, so in a clone with new TIDs it fails
 * (documented) and in exact-TID mode it works. */
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>
#include "scenario.h"

static volatile int in_write, release;

static ssize_t slow_write(void *c, const char *buf, size_t n)
{
	in_write = 1;
	while (!release)
		usleep(1000);
	return (ssize_t)n;
}

static void *printer(void *arg)
{
	cookie_io_functions_t io = { .write = slow_write };
	FILE *f = fopencookie(0, "w", io);
	setvbuf(f, 0, _IONBF, 0);
	flockfile(f);
	fprintf(f, "inside printf at the snapshot\n"); /* blocks in slow_write */
#ifdef __GLIBC__
	int expect = 0;
#else
	int expect = (sc_role == SC_CHILD && !sc_exact) ? -1 : 0;
#endif
	int r = ftrylockfile(f);
	sc_check("printer", "recursive ftrylockfile as documented", r != 0 ? -1 : 0, expect);
	if (r == 0)
		funlockfile(f);
	funlockfile(f);
	return 0;
}

int main(void)
{
	pthread_t t;
	sc_spawn(printer, 0, (unsigned long *)&t);
	while (!in_write)
		usleep(1000);
	usleep(5000);
	sc_snapshot();
	release = 1;
	pthread_join(t, 0);
	return sc_finish();
}
