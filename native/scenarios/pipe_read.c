/* A thread blocked in read() on a pipe: the read restarts in both processes.
 * The pipe is shared (as after fork): each process writes one byte, so each
 * of the two readers gets one. */
#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "scenario.h"

static int pfd[2];
static volatile pid_t reader_tid;

static void *reader(void *arg)
{
	char c = 0;
	reader_tid = sc_gettid();
	ssize_t n = read(pfd[0], &c, 1);
	sc_wait_counted();
	sc_log("reader", "read returned %zd", n);
	return 0;
}

int main(void)
{
	if (pipe(pfd))
		sc_die("pipe");
	pthread_t t;
	sc_spawn(reader, 0, (unsigned long *)&t);
	while (!reader_tid)
		usleep(1000);
	sc_wait_blocked(reader_tid, SYS_read);
	sc_snapshot();
	if (write(pfd[1], "x", 1) != 1)
		sc_die("write");
	pthread_join(t, 0);
	return sc_finish();
}
