/* A thread in nanosleep(): documented to return EINTR with time remaining in
 * the clone (restart_syscall cannot carry over), and in the original with the
 * in-process engine; with an outside engine the original sleeps on. */
#include <errno.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include "scenario.h"

static volatile pid_t sleeper_tid;

static void *sleeper(void *arg)
{
	/* short under an outside engine: the original then sleeps it out */
	struct timespec ts = { sc_engine_is_external() ? 2 : 30, 0 }, rem = { 0, 0 };
	sleeper_tid = sc_gettid();
	int r = nanosleep(&ts, &rem);
	int err = errno;
	sc_wait_counted();
	errno = err;
	sc_log("sleeper", "nanosleep %s", sc_interrupted_as_documented(r, err) ? "ended as documented" : "UNEXPECTED");
	sc_check("sleeper", "time remaining if interrupted", r < 0 ? rem.tv_sec > 0 || rem.tv_nsec > 0 : 1, 1);
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
