/* A thread blocked in epoll_wait(): returns EINTR in both processes (the
 * kernel never restarts it after a handler or a ptrace stop); waiting again
 * sees the event. */
#include <errno.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "scenario.h"

static int pfd[2], ep;
static volatile pid_t waiter_tid;

static void *waiter(void *arg)
{
	struct epoll_event ev;
	waiter_tid = sc_gettid();
	int r = epoll_wait(ep, &ev, 1, -1), err = errno;
	sc_wait_counted();
	sc_log("waiter", "first epoll_wait %s", sc_eintr_as_documented(r, err) ? "ended as documented" : "UNEXPECTED");
	if (r >= 0) { /* the uncloned reference run: the event it got is the one waited for below */
		char c;
		sc_log("waiter", "then events=%d read=%zd", r, read(pfd[0], &c, 1));
		return 0;
	}
	while ((r = epoll_wait(ep, &ev, 1, -1)) < 0 && errno == EINTR)
		;
	char c;
	sc_log("waiter", "then events=%d read=%zd", r, read(pfd[0], &c, 1));
	return 0;
}

int main(void)
{
	struct epoll_event ev = { .events = EPOLLIN };
	if (pipe(pfd) || (ep = epoll_create1(0)) < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, pfd[0], &ev))
		sc_die("epoll setup");
	pthread_t t;
	sc_spawn(waiter, 0, (unsigned long *)&t);
	while (!waiter_tid)
		usleep(1000);
	sc_wait_blocked(waiter_tid, -1); /* epoll_wait or epoll_pwait, per libc */
	sc_snapshot();
	usleep(20000);
	if (write(pfd[1], "e", 1) != 1)
		sc_die("write");
	pthread_join(t, 0);
	return sc_finish();
}
