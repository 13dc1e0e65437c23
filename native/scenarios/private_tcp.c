/* A TCP connection accepted from a client the process also holds, with
 * "req" waiting on the server side, and a thread blocked in read() on a
 * second, empty connection. A TCP connection is the original's alone: with
 * private objects (remote engine, agent) the clone finds both server ends
 * ended (end of file; writes fail with EPIPE), its reader thread wakes with
 * end of file, and the original still reads "req" and its reader gets the
 * byte the original sent; with fork's sharing (in-process engine) the
 * processes take bytes from one stream, so only their total is known. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "scenario.h"
#include "scenario_events.h"

static int served, client, quiet_served, quiet_client;
static volatile pid_t reader_tid;

static void *reader(void *arg)
{
	char c = 0;
	reader_tid = sc_gettid();
	ssize_t n;
	while ((n = read(quiet_served, &c, 1)) < 0 && errno == EINTR)
		;
	sc_wait_counted();
	if (!sc_private_event_objects())
		sc_check("reader", "got one of the two bytes", n == 1 && (c == 'P' || c == 'C'), 1);
	else
		sc_check("reader", "original: got the byte it sent; clone: woke with end of file",
			 sc_role == SC_PARENT ? n == 1 && c == 'P' : n == 0, 1);
	return 0;
}

static void connect_pair(int lst, const struct sockaddr_in *a, int *srv, int *cli, int flags)
{
	*cli = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (*cli < 0 || connect(*cli, (const struct sockaddr *)a, sizeof *a))
		sc_die("connect");
	if ((*srv = accept4(lst, 0, 0, flags)) < 0)
		sc_die("accept");
}

int main(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t alen = sizeof a;
	int lst = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lst < 0 || bind(lst, (struct sockaddr *)&a, sizeof a) || listen(lst, 4) || getsockname(lst, (struct sockaddr *)&a, &alen))
		sc_die("listen");
	connect_pair(lst, &a, &served, &client, SOCK_NONBLOCK | SOCK_CLOEXEC);
	connect_pair(lst, &a, &quiet_served, &quiet_client, 0);
	if (write(client, "req", 3) != 3)
		sc_die("write");
	sc_meet_init();
	pthread_t t;
	sc_spawn(reader, 0, (unsigned long *)&t);
	while (!reader_tid)
		usleep(1000);
	sc_wait_blocked(reader_tid, -1);
	sc_snapshot();
	int priv = sc_private_event_objects();
	sc_log("main", "tcp connections %s", priv ? "private" : "shared");
	sc_meet(1);
	char mine = sc_role == SC_PARENT ? 'P' : 'C';
	ssize_t sent = send(quiet_client, &mine, 1, MSG_NOSIGNAL);
	int send_errno = errno;
	if (priv)
		sc_check("main", "a write to the client's end: original's sent, clone's fails with EPIPE",
			 sc_role == SC_PARENT ? sent == 1 : sent == -1 && send_errno == EPIPE, 1);
	pthread_join(t, 0);
	if (priv) {
		char buf[8] = { 0 };
		ssize_t n = recv(served, buf, sizeof buf, 0);
		sc_check("main", "original: reads the 3 bytes its client sent; clone: end of file",
			 sc_role == SC_PARENT ? n == 3 && memcmp(buf, "req", 3) == 0 : n == 0, 1);
		sc_check("main", "O_NONBLOCK kept", (fcntl(served, F_GETFL) & O_NONBLOCK) != 0, 1);
		sc_check("main", "FD_CLOEXEC kept", fcntl(served, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
		int listening = 0;
		socklen_t ll = sizeof listening;
		sc_check("main", "the listener still listens", getsockopt(lst, SOL_SOCKET, SO_ACCEPTCONN, &listening, &ll) == 0 && listening, 1);
	}
	sc_meet(2);
	return sc_finish();
}
