/* A thread blocked in accept() on a loopback listener: accept restarts in both
 * processes; the listener is shared, each process connects once, so each
 * acceptor gets one connection and reads the byte sent on it. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "scenario.h"

static int lfd;
static volatile pid_t acceptor_tid;

static void *acceptor(void *arg)
{
	acceptor_tid = sc_gettid();
	int c = accept(lfd, 0, 0);
	char b = 0;
	ssize_t n = c >= 0 ? read(c, &b, 1) : -1;
	sc_wait_counted();
	sc_log("acceptor", "accepted=%d read=%zd", c >= 0, n);
	if (c >= 0)
		close(c);
	return 0;
}

int main(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof a;
	lfd = socket(AF_INET, SOCK_STREAM, 0);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&a, sizeof a) || listen(lfd, 8) ||
	    getsockname(lfd, (struct sockaddr *)&a, &len))
		sc_die("cannot listen on loopback");
	pthread_t t;
	sc_spawn(acceptor, 0, (unsigned long *)&t);
	while (!acceptor_tid)
		usleep(1000);
	sc_wait_blocked(acceptor_tid, SYS_accept);
	sc_snapshot();
	int s = socket(AF_INET, SOCK_STREAM, 0);
	if (s < 0 || connect(s, (struct sockaddr *)&a, sizeof a) || write(s, "y", 1) != 1)
		sc_die("cannot connect to the listener");
	pthread_join(t, 0);
	close(s);
	return sc_finish();
}
