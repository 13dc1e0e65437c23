/* A self-pipe (both ends held by the process) with 3 bytes buffered at the
 * snapshot, a socketpair with 3 bytes buffered at each end, and a thread
 * blocked in read() on a second, empty self-pipe. With private copies (remote
 * engine, agent) each process has its own pipes and socketpair: each reads
 * the buffered bytes, and each reader thread gets exactly the
 * byte its own process wrote; with fork's sharing (in-process engine) the
 * processes take bytes from one pipe, so only their total is known. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "scenario.h"
#include "scenario_events.h"

static int buffered[2], wake[2], pair[2];
static volatile pid_t reader_tid;

static void *reader(void *arg)
{
	char c = 0;
	reader_tid = sc_gettid();
	ssize_t n;
	while ((n = read(wake[0], &c, 1)) < 0 && errno == EINTR)
		;
	sc_wait_counted();
	if (sc_private_event_objects())
		sc_check("reader", "got its own process's byte", n == 1 && c == (sc_role == SC_PARENT ? 'P' : 'C'), 1);
	else
		sc_check("reader", "got one of the two bytes", n == 1 && (c == 'P' || c == 'C'), 1);
	return 0;
}

int main(void)
{
	if (pipe2(buffered, O_NONBLOCK) || pipe2(wake, O_CLOEXEC) || write(buffered[1], "abc", 3) != 3)
		sc_die("setup");
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, pair) || write(pair[0], "to1", 3) != 3 || write(pair[1], "to0", 3) != 3)
		sc_die("socketpair");
	sc_meet_init();
	pthread_t t;
	sc_spawn(reader, 0, (unsigned long *)&t);
	while (!reader_tid)
		usleep(1000);
	sc_wait_blocked(reader_tid, -1);
	sc_snapshot();
	int priv = sc_private_event_objects();
	sc_log("main", "event objects %s", priv ? "private" : "shared");
	sc_meet(1);
	if (write(wake[1], sc_role == SC_PARENT ? "P" : "C", 1) != 1)
		sc_die("write");
	pthread_join(t, 0);
	if (priv) {
		char buf[8] = { 0 };
		sc_check("main", "the 3 buffered bytes are in this process's pipe", read(buffered[0], buf, sizeof buf) == 3 && memcmp(buf, "abc", 3) == 0, 1);
		sc_check("main", "O_NONBLOCK kept on the read end", (fcntl(buffered[0], F_GETFL) & O_NONBLOCK) != 0, 1);
		sc_check("main", "FD_CLOEXEC kept", fcntl(wake[0], F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
		sc_check("main", "the pipe's size kept", fcntl(buffered[0], F_GETPIPE_SZ), 65536);
		char b0[8] = { 0 }, b1[8] = { 0 };
		sc_check("main", "socketpair: bytes buffered at each end are in this process's pair", read(pair[0], b0, sizeof b0) == 3 && read(pair[1], b1, sizeof b1) == 3 && !memcmp(b0, "to0", 3) && !memcmp(b1, "to1", 3), 1);
		sc_check("main", "socketpair: a write reaches this process's other end only", write(pair[0], sc_role == SC_PARENT ? "P" : "C", 1) == 1 && read(pair[1], b1, 1) == 1 && b1[0] == (sc_role == SC_PARENT ? 'P' : 'C'), 1);
		sc_check("main", "socketpair: O_NONBLOCK kept", (fcntl(pair[1], F_GETFL) & O_NONBLOCK) != 0, 1);
	}
	sc_meet(2);
	return sc_finish();
}
