/* A thread blocked in poll() (no timeout): documented to return EINTR in the
 * clone (and in the original with the in-process engine: poll is not restarted
 * after a handler; with an outside engine the original's poll goes on); polling
 * again then sees the pipe readable once each process wrote a byte. */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "scenario.h"

static int pfd[2];
static volatile pid_t poller_tid;

static void *poller(void *arg)
{
	struct pollfd p = { .fd = pfd[0], .events = POLLIN };
	poller_tid = sc_gettid();
	int r = poll(&p, 1, -1);
	int err = errno;
	sc_wait_counted();
	sc_log("poller", "first poll %s", sc_interrupted_as_documented(r, err) ? "ended as documented" : "UNEXPECTED");
	while ((r = poll(&p, 1, -1)) < 0 && errno == EINTR)
		;
	char c;
	sc_log("poller", "then readable=%d read=%zd", r == 1 && (p.revents & POLLIN), read(pfd[0], &c, 1));
	return 0;
}

int main(void)
{
	if (pipe(pfd))
		sc_die("pipe");
	pthread_t t;
	sc_spawn(poller, 0, (unsigned long *)&t);
	while (!poller_tid)
		usleep(1000);
	sc_wait_blocked(poller_tid, SYS_poll);
	sc_snapshot();
	usleep(20000); /* let the poller see EINTR before data arrives */
	if (write(pfd[1], "p", 1) != 1)
		sc_die("write");
	pthread_join(t, 0);
	return sc_finish();
}
