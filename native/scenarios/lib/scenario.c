/* Implementation of the scenario library (see scenario.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "scenario.h"

enum sc_role sc_role = SC_PARENT;
int sc_exact;
static pid_t child_pid = -1;
static int external;
static int threads_after;
static volatile int counted;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static char log_buf[1 << 20];
static size_t log_len;

void sc_die(const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "scenario (%s, pid %d): ", sc_role == SC_CHILD ? "child" : "parent", (int)getpid());
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	_exit(1);
}

pid_t sc_gettid(void) { return (pid_t)syscall(SYS_gettid); }

static int no_thread_count;
void sc_no_thread_count(void) { no_thread_count = 1; }
pid_t sc_clone_pid(void) { return sc_role == SC_PARENT ? child_pid : -1; }

int sc_other_children(void)
{
	char path[64], buf[4096];
	snprintf(path, sizeof path, "/proc/self/task/%d/children", (int)sc_gettid());
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		sc_die("cannot open %s: %s", path, strerror(errno));
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	buf[n > 0 ? n : 0] = 0;
	int others = 0;
	for (char *p = buf, *end; *p; p = end) {
		long pid = strtol(p, &end, 10);
		if (end == p)
			break;
		others += pid != (long)sc_clone_pid();
	}
	return others;
}

int sc_count_tasks(void)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	int n = 0;
	if (!d)
		sc_die("cannot open /proc/self/task: %s", strerror(errno));
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

void sc_gate_pass(struct sc_gate *g)
{
	pthread_mutex_lock(&g->m);
	g->arrived++;
	pthread_cond_broadcast(&g->c);
	while (!g->open)
		pthread_cond_wait(&g->c, &g->m);
	pthread_mutex_unlock(&g->m);
}

void sc_gate_wait_arrivals(struct sc_gate *g, int n)
{
	pthread_mutex_lock(&g->m);
	while (g->arrived < n)
		pthread_cond_wait(&g->c, &g->m);
	pthread_mutex_unlock(&g->m);
}

void sc_gate_open(struct sc_gate *g)
{
	pthread_mutex_lock(&g->m);
	g->open = 1;
	pthread_cond_broadcast(&g->c);
	pthread_mutex_unlock(&g->m);
}

void sc_spawn(void *(*fn)(void *), void *arg, unsigned long *out)
{
	pthread_t t;
	int r = pthread_create(&t, 0, fn, arg);
	if (r)
		sc_die("pthread_create: %s", strerror(r));
	if (out)
		*out = (unsigned long)t;
}

static int read_syscall_nr(pid_t tid, long *nr, char *state)
{
	char path[64], buf[256];
	snprintf(path, sizeof path, "/proc/self/task/%d/stat", (int)tid);
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	char *p = strrchr(buf, ')');
	*state = p && p[1] ? p[2] : '?';
	snprintf(path, sizeof path, "/proc/self/task/%d/syscall", (int)tid);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	*nr = strncmp(buf, "running", 7) == 0 ? -2 : strtol(buf, 0, 10);
	return 0;
}

/* Seconds on the monotonic clock. */
static double now_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Waits on the event (the thread asleep in the call), bounded only by a
 * generous deadline: on a loaded machine a thread can take seconds to get
 * there, and a short window would fail the scenario for nothing. */
#define SC_BLOCK_DEADLINE_S 120
void sc_wait_blocked(pid_t tid, long want)
{
	double deadline = now_s() + SC_BLOCK_DEADLINE_S;
	while (now_s() < deadline) {
		long nr;
		char st;
		if (read_syscall_nr(tid, &nr, &st) == 0 && st == 'S' && nr >= 0 && (want < 0 || nr == want)) {
			usleep(2000); /* let it settle inside the call */
			return;
		}
		usleep(1000);
	}
	sc_die("thread %d did not block in syscall %ld within %d s", (int)tid, want, SC_BLOCK_DEADLINE_S);
}

int sc_engine_is_inprocess(void)
{
	const char *engine = getenv("FORKALL_SCENARIO_ENGINE");
	return !engine || !*engine || strcmp(engine, "inprocess") == 0;
}

int sc_engine_is_external(void)
{
	const char *engine = getenv("FORKALL_SCENARIO_ENGINE");
	return engine && strcmp(engine, "external") == 0;
}

int sc_interrupted_as_documented(int r, int err)
{
	if (sc_engine_is_external() && sc_role == SC_PARENT)
		return r >= 0;
	return r < 0 && err == EINTR;
}

int sc_eintr_as_documented(int r, int err)
{
	const char *u = getenv("FORKALL_SCENARIO_UNCLONED");
	if (u && strcmp(u, "1") == 0)
		return r >= 0;
	return r < 0 && err == EINTR;
}

/* The PID namespace this process is in, as the /proc/self/ns/pid link text. */
static void pid_ns(char *buf, size_t n)
{
	ssize_t r = readlink("/proc/self/ns/pid", buf, n - 1);
	buf[r > 0 ? r : 0] = 0;
}

/* The engine clones from outside while this waits in read(0). A clone has a
 * new PID, or in exact-TID mode the same PID in a PID namespace of its own. */
static enum sc_role snapshot_external(void)
{
	pid_t before = getpid();
	char c, ns_before[64], ns_after[64];
	const char *ex = getenv("FORKALL_SCENARIO_EXACT");
	sc_exact = ex && strcmp(ex, "1") == 0;
	pid_ns(ns_before, sizeof ns_before);
	printf("READY %d\n", (int)before);
	fflush(stdout);
	external = 1;
	if (read(0, &c, 1) != 1)
		sc_die("external engine: stdin closed before the clone was made");
	pid_ns(ns_after, sizeof ns_after);
	return getpid() == before && strcmp(ns_before, ns_after) == 0 ? SC_PARENT : SC_CHILD;
}

static void write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			sc_die("cannot write the transcript: %s", strerror(errno));
		p += w;
		n -= (size_t)w;
	}
}

/* Writes the transcript so far to $FORKALL_SCENARIO_OUT/<name> (nothing if unset). */
static void write_transcript(const char *name)
{
	const char *dir = getenv("FORKALL_SCENARIO_OUT");
	char path[4096];
	if (!dir)
		return;
	snprintf(path, sizeof path, "%s/%s", dir, name);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		sc_die("cannot create %s: %s", path, strerror(errno));
	pthread_mutex_lock(&log_lock);
	write_all(fd, log_buf, log_len);
	pthread_mutex_unlock(&log_lock);
	close(fd);
}

/* Under the agent: the program's own snapshot point. The template never
 * returns from it; every clone does, in the role of a clone. */
extern int forkall_snapshot(void) __attribute__((weak));
static int agent_engine;

enum sc_role sc_snapshot_with(struct forkall_options *opts)
{
	const char *engine = getenv("FORKALL_SCENARIO_ENGINE");
	if (engine && strcmp(engine, "external") == 0) {
		sc_role = snapshot_external();
	} else if (engine && strcmp(engine, "agent") == 0) {
		write_transcript("template.log"); /* what the original did before it froze */
		if (!forkall_snapshot || forkall_snapshot() != 1)
			sc_die("agent engine: forkall_snapshot() is not there (run under the agent)");
		agent_engine = 1;
		external = 1;
		sc_role = SC_CHILD;
	} else {
		struct forkall_options o = { .size = sizeof o };
		if (opts)
			o = *opts;
		const char *t = getenv("FORKALL_SCENARIO_TIMEOUT_MS");
		if (t && !o.park_timeout_ms)
			o.park_timeout_ms = atoi(t);
		const char *ex = getenv("FORKALL_SCENARIO_EXACT");
		if (ex && strcmp(ex, "1") == 0)
			o.flags |= FORKALL_EXACT_TIDS;
		sc_exact = (o.flags & FORKALL_EXACT_TIDS) != 0;
		pid_t p = forkall_ex(&o);
		if (p < 0)
			sc_die("forkall failed: %s (%s)", strerror(errno), forkall_strerror());
		child_pid = p;
		sc_role = p == 0 ? SC_CHILD : SC_PARENT;
	}
	threads_after = sc_count_tasks();
	__atomic_store_n(&counted, 1, __ATOMIC_SEQ_CST);
	return sc_role;
}

enum sc_role sc_snapshot(void) { return sc_snapshot_with(0); }

void sc_wait_counted(void)
{
	while (!__atomic_load_n(&counted, __ATOMIC_SEQ_CST))
		usleep(500);
}

void sc_log(const char *label, const char *fmt, ...)
{
	char line[512];
	va_list ap;
	int n = snprintf(line, sizeof line, "%s\t", label);
	va_start(ap, fmt);
	n += vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
	va_end(ap);
	if (n > (int)sizeof line - 2)
		n = (int)sizeof line - 2;
	line[n++] = '\n';
	pthread_mutex_lock(&log_lock);
	if (log_len + (size_t)n < sizeof log_buf) {
		memcpy(log_buf + log_len, line, (size_t)n);
		log_len += (size_t)n;
	}
	pthread_mutex_unlock(&log_lock);
}

void sc_check(const char *label, const char *what, long got, long want)
{
	if (got == want)
		sc_log(label, "ok %s", what);
	else
		sc_log(label, "MISMATCH %s: got %ld want %ld", what, got, want);
}

int sc_finish(void)
{
	if (!no_thread_count)
		sc_log("main", "threads=%d", threads_after);
	const char *dir = getenv("FORKALL_SCENARIO_OUT");
	const char *name = sc_role == SC_CHILD ? "child" : "parent";
	if (dir) {
		char path[4096];
		if (agent_engine) /* several clones, one file each */
			snprintf(path, sizeof path, "%s/clone-%d.log", dir, (int)getpid());
		else
			snprintf(path, sizeof path, "%s/%s.log", dir, name);
		int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd < 0)
			sc_die("cannot create %s: %s", path, strerror(errno));
		write_all(fd, log_buf, log_len);
		close(fd);
	} else {
		pthread_mutex_lock(&log_lock);
		printf("--- %s\n%.*s", name, (int)log_len, log_buf);
		fflush(stdout);
		pthread_mutex_unlock(&log_lock);
	}
	if (sc_role == SC_PARENT && child_pid > 0 && !external) {
		int st;
		if (waitpid(child_pid, &st, 0) != child_pid)
			sc_die("waitpid(%d): %s", (int)child_pid, strerror(errno));
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
			sc_die("the clone %d ended with status 0x%x", (int)child_pid, st);
	}
	return 0;
}
