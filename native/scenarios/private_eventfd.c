/* eventfds: a counter (5 at the snapshot) and a semaphore (2), plus a thread
 * blocked in read() on a third, empty one (a semaphore). With private copies (remote engine,
 * agent) each process has its own counters: each adds 1 and reads 6, each
 * takes the semaphore twice, and each reader thread is woken only by its own
 * process's write. With fork's sharing (in-process engine) the one counter
 * shows both additions (7). */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include "scenario.h"
#include "scenario_events.h"

static int counter, sem, wake;
static volatile pid_t reader_tid;

static void *reader(void *arg)
{
	uint64_t v = 0;
	reader_tid = sc_gettid();
	ssize_t n;
	while ((n = read(wake, &v, sizeof v)) < 0 && errno == EINTR)
		;
	sc_wait_counted();
	sc_check("reader", "woken, took 1", n == 8 ? (long)v : -1, 1);
	return 0;
}

int main(void)
{
	if ((counter = eventfd(5, EFD_NONBLOCK | EFD_CLOEXEC)) < 0 || (sem = eventfd(2, EFD_SEMAPHORE | EFD_NONBLOCK)) < 0 || (wake = eventfd(0, EFD_SEMAPHORE)) < 0)
		sc_die("eventfd");
	sc_meet_init();
	pthread_t t;
	sc_spawn(reader, 0, (unsigned long *)&t);
	while (!reader_tid)
		usleep(1000);
	sc_wait_blocked(reader_tid, -1);
	sc_snapshot();
	int priv = sc_private_event_objects();
	sc_log("main", "event objects %s", priv ? "private" : "shared");
	uint64_t one = 1;
	sc_meet(1);
	if (write(counter, &one, 8) != 8)
		sc_die("write counter");
	sc_meet(2);
	sc_check("main", "counter after each process added 1", (long)sc_fdinfo_field(counter, "eventfd-count", 16), priv ? 6 : 7);
	if (priv) {
		uint64_t v = 0;
		sc_check("main", "semaphore flag kept", (long)sc_fdinfo_field(sem, "eventfd-semaphore", 10), 1);
		sc_check("main", "semaphore take 1", read(sem, &v, 8) == 8 ? (long)v : -1, 1);
		sc_check("main", "semaphore take 2", read(sem, &v, 8) == 8 ? (long)v : -1, 1);
		sc_check("main", "semaphore empty", read(sem, &v, 8) < 0 && errno == EAGAIN, 1);
		sc_check("main", "O_NONBLOCK kept", (fcntl(counter, F_GETFL) & O_NONBLOCK) != 0, 1);
		sc_check("main", "FD_CLOEXEC kept", fcntl(counter, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
	}
	/* private: this process's reader takes this write; shared (a semaphore):
	 * the two writes feed the two readers, one each */
	if (write(wake, &one, 8) != 8)
		sc_die("write wake");
	pthread_join(t, 0);
	sc_meet(3);
	return sc_finish();
}
