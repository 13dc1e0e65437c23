/* An inotify instance watching a fresh directory (watch descriptor 2: the
 * first watch was removed), with a thread blocked in read() on it. The
 * parent creates a file, then the clone creates one (under the agent, where
 * the frozen template never runs, the clone creates both). With private copies
 * (remote engine, agent) each process's instance sees both creations (the
 * watch was copied with its number and mask, reopened by file handle) and
 * its own thread is woken by the first; with fork's sharing (in-process
 * engine) the two processes take events from one queue, so only the total is
 * known: here each reader is woken by whichever event it gets. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>
#include "scenario.h"
#include "scenario_events.h"

static int in, wd;
static char dir[256];
static volatile pid_t reader_tid;

static void *reader(void *arg)
{
	char buf[48] __attribute__((aligned(8))); /* one event with a short name, never two */
	reader_tid = sc_gettid();
	ssize_t n;
	while ((n = read(in, buf, sizeof buf)) < 0 && errno == EINTR)
		;
	sc_wait_counted();
	struct inotify_event *e = (struct inotify_event *)buf;
	sc_check("reader", "woken by a creation in the watched directory, on watch 2", n > 0 && (e->mask & IN_CREATE) ? e->wd : -1, wd);
	return 0;
}

/* Creates <dir>/<what>-<pid> (names of up to 15 bytes: an event of 32 bytes). */
static void create(const char *what)
{
	char path[512];
	snprintf(path, sizeof path, "%s/%s-%d", dir, what, (int)getpid());
	int fd = open(path, O_CREAT | O_EXCL | O_WRONLY, 0600);
	if (fd < 0)
		sc_die("create %s", path);
	close(fd);
}

static void remove_own(const char *what)
{
	char path[512];
	snprintf(path, sizeof path, "%s/%s-%d", dir, what, (int)getpid());
	unlink(path);
}

int main(void)
{
	const char *base = getenv("FORKALL_SCENARIO_OUT");
	snprintf(dir, sizeof dir - 8, "%s/inotify-XXXXXX", base && strlen(base) < sizeof dir - 24 ? base : "/tmp");
	if (!mkdtemp(dir) || (in = inotify_init1(IN_CLOEXEC)) < 0)
		sc_die("setup");
	int first = inotify_add_watch(in, "/", IN_DELETE_SELF);
	inotify_rm_watch(in, first);
	char ignored[sizeof(struct inotify_event) + NAME_MAX + 1];
	if (read(in, ignored, sizeof ignored) <= 0) /* the IN_IGNORED of the removed watch */
		sc_die("read IN_IGNORED");
	if ((wd = inotify_add_watch(in, dir, IN_CREATE)) != 2)
		sc_die("watch descriptor %d, expected 2", wd);
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
	if (sc_role == SC_PARENT || sc_alone())
		create("by-parent");
	sc_meet(2);
	if (sc_role == SC_CHILD)
		create("by-clone");
	pthread_join(t, 0);
	sc_meet(3);
	if (priv) {
		/* the reader took the first event; the second is still queued here */
		char buf[48] __attribute__((aligned(8)));
		int fl = fcntl(in, F_GETFL);
		fcntl(in, F_SETFL, fl | O_NONBLOCK);
		ssize_t n = read(in, buf, sizeof buf);
		struct inotify_event *e = (struct inotify_event *)buf;
		sc_check("main", "the other process's creation is in this process's queue too", n > 0 && e->len && strncmp(e->name, "by-clone-", 9) == 0, 1);
		sc_check("main", "FD_CLOEXEC kept", fcntl(in, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
	}
	sc_meet(4);
	remove_own(sc_role == SC_PARENT ? "by-parent" : "by-clone");
	if (sc_alone())
		remove_own("by-parent");
	sc_meet(5);
	if (sc_role == SC_PARENT)
		rmdir(dir);
	return sc_finish();
}
