/* timerfds: an interval timer (20 ms) running at the snapshot, and a one-shot
 * timer that expired before it with its expiration unread (ticks = 1). A
 * thread is blocked in read() on the interval timer. After the snapshot the
 * parent disarms its interval timer. With private copies (remote engine,
 * agent) the clone's timer keeps running on its own schedule (same clock,
 * same interval, first expiry at the original's instant), its reader thread
 * gets its expirations, and each process reads the one-shot's pending
 * expiration; with fork's sharing (in-process engine) the parent's disarm
 * stops the one timer for both. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>
#include "scenario.h"
#include "scenario_events.h"

static int tick, once;
static volatile pid_t reader_tid;
static volatile int reader_done;

static void *reader(void *arg)
{
	uint64_t v = 0;
	reader_tid = sc_gettid();
	ssize_t n;
	while ((n = read(tick, &v, sizeof v)) < 0 && errno == EINTR)
		;
	sc_wait_counted();
	sc_check("reader", "read expirations (at least 1)", n == 8 && v >= 1, 1);
	reader_done = 1;
	return 0;
}

static int armed(int fd, long long *interval_ns)
{
	struct itimerspec cur;
	if (timerfd_gettime(fd, &cur))
		sc_die("timerfd_gettime");
	*interval_ns = cur.it_interval.tv_sec * 1000000000LL + cur.it_interval.tv_nsec;
	return cur.it_value.tv_sec || cur.it_value.tv_nsec;
}

int main(void)
{
	struct itimerspec every = { { 0, 20000000 }, { 0, 20000000 } }, soon = { { 0, 0 }, { 0, 1000000 } };
	if ((tick = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC)) < 0 || (once = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK)) < 0)
		sc_die("timerfd_create");
	if (timerfd_settime(once, 0, &soon, 0))
		sc_die("settime once");
	while (sc_fdinfo_field(once, "ticks", 10) < 1)
		usleep(1000);
	sc_meet_init();
	pthread_t t;
	sc_spawn(reader, 0, (unsigned long *)&t);
	while (!reader_tid)
		usleep(1000);
	sc_wait_blocked(reader_tid, -1);
	/* armed only now: the reader is blocked in read() at the snapshot */
	if (timerfd_settime(tick, 0, &every, 0))
		sc_die("settime tick");
	sc_snapshot();
	int priv = sc_private_event_objects();
	sc_log("main", "event objects %s", priv ? "private" : "shared");
	sc_meet(1);
	struct itimerspec off = { { 0, 0 }, { 0, 0 } };
	if (sc_role == SC_PARENT && timerfd_settime(tick, 0, &off, 0))
		sc_die("disarm");
	sc_meet(2);
	long long interval;
	int on = armed(tick, &interval);
	sc_meet(3); /* both have looked before the parent arms it again below */
	if (priv) {
		sc_check("main", "interval timer armed only in the clone", on, sc_role == SC_CHILD);
		sc_check("main", "interval: the clone's is the original's (20 ms), the parent's disarmed", interval, sc_role == SC_CHILD ? 20000000 : 0);
		uint64_t v = 0;
		sc_check("main", "the one-shot's unread expiration is there", read(once, &v, 8) == 8 ? (long)v : -1, 1);
		sc_check("main", "the one-shot is nonblocking and now empty", read(once, &v, 8) < 0 && errno == EAGAIN, 1);
		sc_check("main", "clock kept", (long)sc_fdinfo_field(tick, "clockid", 10), CLOCK_MONOTONIC);
		sc_check("main", "FD_CLOEXEC kept", fcntl(tick, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
		if (sc_role == SC_PARENT) {
			/* the parent's reader waits on a disarmed timer: wake it (with
			 * ticks to spare, so a wrongly shared timer wakes both readers) */
			struct itimerspec now = { { 0, 1000000 }, { 0, 1000 } };
			if (timerfd_settime(tick, 0, &now, 0))
				sc_die("settime");
		}
	} else {
		sc_check("main", "the parent's disarm stopped the one shared timer", on, 0);
		if (sc_role == SC_PARENT) {
			/* both readers wait on the one timer: let it tick until each got some */
			struct itimerspec now = { { 0, 1000000 }, { 0, 1000 } };
			if (timerfd_settime(tick, 0, &now, 0))
				sc_die("settime");
		}
	}
	pthread_join(t, 0);
	sc_meet(4);
	return sc_finish();
}
