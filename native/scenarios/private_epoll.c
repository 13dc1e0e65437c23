/* An epoll instance with an edge-triggered eventfd item, a level-triggered
 * pipe item, a nested epoll instance (epoll in epoll) watching another
 * eventfd, and an item whose fd number was closed and reused before the
 * snapshot (its target still open under another number). A thread is blocked
 * in epoll_wait on it at the snapshot. Then each process in turn writes to
 * every target while the other only looks: with private copies (remote
 * engine, agent) only the writer's epoll reports, with the data words it was
 * given; with fork's sharing (in-process engine) both see the level-triggered
 * items of the one shared instance. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include "scenario.h"
#include "scenario_events.h"

enum { D_EVENTFD = 0x11, D_PIPE = 0x22, D_NESTED = 0x33, D_REUSED = 0x44 };
static int ep, inner, efd, inner_efd, pfd[2], qfd[2], reused_no;
static volatile pid_t waiter_tid;

static void *waiter(void *arg)
{
	struct epoll_event ev;
	waiter_tid = sc_gettid();
	int r = epoll_wait(ep, &ev, 1, -1);
	sc_wait_counted();
	/* the kernel never restarts epoll_wait after a stop or a handler */
	sc_log("waiter", "epoll_wait at the snapshot: %s", r < 0 && errno == EINTR ? "EINTR" : "returned");
	return 0;
}

static void add(int e, int fd, uint32_t events, uint64_t data)
{
	struct epoll_event ev = { .events = events, .data.u64 = data };
	if (epoll_ctl(e, EPOLL_CTL_ADD, fd, &ev))
		sc_die("epoll_ctl ADD %d", fd);
}

/* Bits for the data words epoll reports now (without waiting). */
static int seen(void)
{
	struct epoll_event evs[8];
	int n = epoll_wait(ep, evs, 8, 0), bits = 0;
	for (int i = 0; i < n; i++)
		bits |= 1 << (evs[i].data.u64 >> 4);
	return bits;
}

static void poke(void)
{
	uint64_t one = 1;
	if (write(efd, &one, 8) != 8 || write(inner_efd, &one, 8) != 8 || write(pfd[1], "p", 1) != 1 || write(qfd[1], "q", 1) != 1)
		sc_die("poke");
}

static void drain(void)
{
	uint64_t v;
	char c;
	if (read(efd, &v, 8) != 8 || read(inner_efd, &v, 8) != 8 || read(pfd[0], &c, 1) != 1 || read(qfd[0], &c, 1) != 1)
		sc_die("drain");
}

int main(void)
{
	if ((ep = epoll_create1(EPOLL_CLOEXEC)) < 0 || (inner = epoll_create1(0)) < 0 || (efd = eventfd(0, EFD_NONBLOCK)) < 0 ||
	    (inner_efd = eventfd(0, EFD_NONBLOCK)) < 0 || pipe2(pfd, O_NONBLOCK) || pipe2(qfd, O_NONBLOCK))
		sc_die("setup");
	add(ep, efd, EPOLLIN | EPOLLET, D_EVENTFD);
	add(ep, pfd[0], EPOLLIN, D_PIPE);
	add(inner, inner_efd, EPOLLIN, 0);
	add(ep, inner, EPOLLIN, D_NESTED);
	/* an item keyed by a number that is then closed and reused */
	reused_no = dup(qfd[0]);
	add(ep, reused_no, EPOLLIN, D_REUSED);
	close(reused_no);
	if (open("/dev/null", O_RDONLY) != reused_no)
		sc_die("fd %d not reused", reused_no);
	sc_meet_init();
	pthread_t t;
	sc_spawn(waiter, 0, (unsigned long *)&t);
	while (!waiter_tid)
		usleep(1000);
	sc_wait_blocked(waiter_tid, -1);
	sc_snapshot();
	pthread_join(t, 0);
	int priv = sc_private_event_objects();
	sc_log("main", "event objects %s", priv ? "private" : "shared");
	const int all = 1 << 1 | 1 << 2 | 1 << 3 | 1 << 4, level = 1 << 2 | 1 << 3 | 1 << 4;
	for (int round = 0; round < 2; round++) {
		int mine = (round == 0) == (sc_role == SC_PARENT);
		sc_meet(3 * round + 1);
		if (mine)
			poke();
		sc_meet(3 * round + 2);
		int got = seen();
		if (priv)
			sc_check("main", round ? "round 2: only the writer's epoll reports, every item" : "round 1: only the writer's epoll reports, every item", got, mine ? all : 0);
		else
			sc_check("main", round ? "round 2: the shared epoll reports the level items to both" : "round 1: the shared epoll reports the level items to both", got & level, level);
		sc_meet(3 * round + 3);
		if (mine)
			drain();
	}
	sc_meet(7);
	return sc_finish();
}
