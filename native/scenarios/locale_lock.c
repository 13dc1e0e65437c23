/* A thread is inside setlocale() at the snapshot. glibc holds its locale lock
 * (a pthread rwlock, which records its writer's TID) for writing while it
 * loads a locale; here the load waits in open() on a FIFO that LOCPATH points
 * at. In a clone with new TIDs the lock still names the old writer: unless
 * forkall rewrites it, the thread's unlock is taken for a reader's, the lock
 * stays write-held, and the next setlocale() (or a locale's first mbstowcs)
 * waits for ever. Seen with python3 frozen at start-up (1 clone in ~40 hung).
 * Every process opens the FIFO for writing once it goes on, which lets the
 * loading thread read an empty file: its setlocale() fails and unlocks. */
#include <fcntl.h>
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "scenario.h"

#ifdef __GLIBC__
static char fifo[512];
static volatile pid_t loader_tid;
static volatile int loaded;

static void *loader(void *arg)
{
	loader_tid = sc_gettid();
	const char *r = setlocale(LC_CTYPE, "xx_XX"); /* blocks opening the FIFO, holding the lock */
	sc_wait_counted(); /* the other process may have let it go already */
	sc_check("loader", "setlocale of the empty locale failed and returned", r == 0, 1);
	loaded = 1;
	return 0;
}
#endif

int main(void)
{
#ifdef __GLIBC__
	/* in the harness's output directory when there is one: every process
	 * (the agent's clones too) needs the FIFO, and the harness removes it */
	const char *out = getenv("FORKALL_SCENARIO_OUT");
	char dir[400];
	snprintf(dir, sizeof dir, "%s/forkall-locale-XXXXXX", out && *out ? out : "/tmp");
	if (!mkdtemp(dir))
		sc_die("mkdtemp");
	snprintf(fifo, sizeof fifo, "%s/xx_XX", dir);
	if (mkdir(fifo, 0700))
		sc_die("mkdir");
	snprintf(fifo, sizeof fifo, "%s/xx_XX/LC_CTYPE", dir);
	if (mkfifo(fifo, 0600))
		sc_die("mkfifo");
	setenv("LOCPATH", dir, 1);
	pthread_t t;
	sc_spawn(loader, 0, (unsigned long *)&t);
	while (!loader_tid)
		usleep(1000);
	sc_wait_blocked(loader_tid, SYS_openat);
	sc_snapshot();
	/* Opening for writing wakes a reader waiting in open(); O_NONBLOCK fails
	 * (ENXIO) while this process's loader is not back in its open() yet. */
	while (!loaded) {
		int w = open(fifo, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
		if (w >= 0)
			close(w);
		usleep(1000);
	}
	pthread_join(t, 0);
	sc_check("main", "setlocale afterwards gets the lock", setlocale(LC_CTYPE, "C") != 0, 1);
	int rc = sc_finish(); /* the in-process engine's parent reaps the clone here */
	if (sc_role == SC_PARENT && sc_engine_is_inprocess() && !(out && *out)) {
		unlink(fifo);
		snprintf(fifo, sizeof fifo, "%s/xx_XX", dir);
		rmdir(fifo);
		rmdir(dir);
	}
	return rc;
#else
	/* musl loads no locale file for LC_CTYPE and its lock records no owner */
	sc_snapshot();
	sc_log("main", "not glibc: nothing to check");
	return sc_finish();
#endif
}
