/* A thread in nanosleep(): documented to return EINTR with time remaining in
 * both processes (restart_syscall cannot carry over). */
#include <errno.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include "scenario.h"

static volatile pid_t sleeper_tid;

static void *sleeper(void *arg)
{
	struct timespec ts = { 30, 0 }, rem = { 0, 0 };
	sleeper_tid = sc_gettid();
	int r = nanosleep(&ts, &rem);
	int err = errno;
	sc_wait_counted();
	errno = err;
	sc_log("sleeper", "nanosleep r=%d %s remaining>0=%d", r, r < 0 && errno == EINTR ? "EINTR" : "other",
	       rem.tv_sec > 0 || rem.tv_nsec > 0);
	return 0;
}

int main(void)
{
	pthread_t t;
	sc_spawn(sleeper, 0, (unsigned long *)&t);
	while (!sleeper_tid)
		usleep(1000);
	sc_wait_blocked(sleeper_tid, -1); /* nanosleep or clock_nanosleep, per libc */
	sc_snapshot();
	pthread_join(t, 0);
	return sc_finish();
}
