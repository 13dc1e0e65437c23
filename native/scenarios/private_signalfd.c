/* A signalfd for SIGUSR1 and SIGUSR2 (blocked in every thread), watched by an
 * epoll instance on which a thread waits. Each process in turn (the clone
 * first) sends itself its own signal (the parent SIGUSR1, the clone SIGUSR2)
 * and reads it from the signalfd. With private copies (remote engine, agent) the clone's epoll item
 * was registered by the clone, so its waiter is woken by the clone's own
 * signal; with fork's sharing (in-process engine) the one epoll item waits on
 * the parent's signal queue, and the clone's waiter would sleep through its
 * own signals: there the waiter is woken by a pipe instead. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <unistd.h>
#include "scenario.h"
#include "scenario_events.h"

static int sfd, ep, pfd[2];
static volatile pid_t waiter_tid;

static void *waiter(void *arg)
{
	struct epoll_event ev;
	waiter_tid = sc_gettid();
	int r;
	/* bounded: with a shared epoll item the clone's own signal never wakes it */
	while ((r = epoll_wait(ep, &ev, 1, 10000)) < 0 && errno == EINTR)
		;
	sc_wait_counted();
	sc_check("waiter", sc_private_event_objects() ? "woken by its own process's signal" : "woken", r == 1 ? (long)ev.data.u64 : -1, sc_private_event_objects() ? 7 : 9);
	return 0;
}

int main(void)
{
	sigset_t m;
	sigemptyset(&m);
	sigaddset(&m, SIGUSR1);
	sigaddset(&m, SIGUSR2);
	if (sigprocmask(SIG_BLOCK, &m, 0))
		sc_die("sigprocmask");
	if ((sfd = signalfd(-1, &m, SFD_NONBLOCK | SFD_CLOEXEC)) < 0 || (ep = epoll_create1(0)) < 0 || pipe(pfd))
		sc_die("setup");
	int priv_expected = sc_private_event_objects();
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = priv_expected ? 7 : 9 };
	if (epoll_ctl(ep, EPOLL_CTL_ADD, priv_expected ? sfd : pfd[0], &ev))
		sc_die("epoll_ctl");
	sc_meet_init();
	pthread_t t;
	sc_spawn(waiter, 0, (unsigned long *)&t);
	while (!waiter_tid)
		usleep(1000);
	sc_wait_blocked(waiter_tid, -1);
	sc_snapshot();
	int priv = sc_private_event_objects();
	sc_log("main", "event objects %s", priv ? "private" : "shared");
	sc_check("main", "signalfd mask kept", (long)sc_fdinfo_field(sfd, "sigmask", 16), (1L << (SIGUSR1 - 1)) | (1L << (SIGUSR2 - 1)));
	/* the clone signals itself first, the parent only after: each waiter
	 * must be woken by its own process's signal alone */
	int mine = sc_role == SC_PARENT ? SIGUSR1 : SIGUSR2;
	for (int round = 0; round < 2; round++) {
		sc_meet(round + 1);
		if ((round == 0) == (sc_role == SC_CHILD)) {
			if (kill(getpid(), mine))
				sc_die("kill");
			if (!priv && write(pfd[1], "w", 1) != 1)
				sc_die("write");
			pthread_join(t, 0);
		}
	}
	struct signalfd_siginfo si;
	sc_check("main", "read its own signal from the signalfd", read(sfd, &si, sizeof si) == sizeof si ? (long)si.ssi_signo : -1, mine);
	sc_check("main", "the signal came from itself", si.ssi_pid == (uint32_t)getpid(), 1);
	sc_check("main", "nothing else queued", read(sfd, &si, sizeof si) < 0 && errno == EAGAIN, 1);
	sc_meet(3);
	return sc_finish();
}
