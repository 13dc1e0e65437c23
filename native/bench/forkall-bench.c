/* The latency benchmark driver behind `forkall bench`: one process with N
 * threads (main + N-1 workers blocked on a condition variable) and M MB of
 * touched anonymous memory measures, interleaved in one run:
 *   fork     fork() + child _exit + waitpid
 *   floor    fork() whose child makes N-1 raw clone() threads that exit at
 *            once, then exits: the cheapest child with N threads and no state
 *   forkall  forkall() + child _exit + waitpid
 *   exact    the same with FORKALL_EXACT_TIDS (with --exact)
 * Each is also measured in CPU time (this process's threads and the reaped
 * child's, getrusage): less sensitive than wall time to a machine shared with
 * other work, where each sleep and wake-up may wait behind other processes.
 * Prints one JSON object with the medians (microseconds) on stdout and a
 * '.' per round on stderr (progress); "phases" holds the median of each phase
 * of forkall (forkall_last_timing(): where the time above the floor goes).
 * Usage: forkall-bench THREADS RSS_MB RUNS [--exact]
 * Exit status: 0 measured; 1 a child failed; 2 bad arguments; 3 not enough
 * memory for RSS_MB (checked against MemAvailable before touching any of it,
 * so the kernel's OOM killer is never the one to say so). */
#include <errno.h>
#include <forkall.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t c = PTHREAD_COND_INITIALIZER;
static int stop, ready;
static char (*stacks)[16384];

static void *worker(void *arg)
{
	pthread_mutex_lock(&m);
	ready++;
	pthread_cond_broadcast(&c);
	while (!stop)
		pthread_cond_wait(&c, &m);
	pthread_mutex_unlock(&m);
	return arg;
}

static int exit_at_once(void *arg)
{
	syscall(SYS_exit, 0);
	return 0;
}

static double now_us(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof *v, cmp);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static double p90(double *v, int n) { return v[(n * 9) / 10 < n ? (n * 9) / 10 : n - 1]; } /* v sorted */

/* MemAvailable from /proc/meminfo in MB, or -1 if it cannot be read. */
static long available_mb(void)
{
	FILE *f = fopen("/proc/meminfo", "r");
	char line[256];
	long kb = -1;
	if (!f)
		return -1;
	while (fgets(line, sizeof line, f))
		if (sscanf(line, "MemAvailable: %ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb < 0 ? -1 : kb / 1024;
}

/* Maps and touches mb MB of anonymous memory, or says why not and exits 3. */
static void touch_memory(long mb)
{
	long avail = available_mb();
	if (avail >= 0 && mb > avail) {
		fprintf(stderr, "forkall-bench: RSS_MB %ld is more than this machine has available (%ld MB): out of memory (ENOMEM)\n", mb, avail);
		exit(3);
	}
	char *mem = mmap(0, (size_t)mb << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED) {
		fprintf(stderr, "forkall-bench: cannot map RSS_MB %ld MB: %s\n", mb, strerror(errno));
		exit(3);
	}
	memset(mem, 1, (size_t)mb << 20);
}

static void reap(pid_t p)
{
	int st;
	if (p < 0 || waitpid(p, &st, 0) != p || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		fprintf(stderr, "forkall-bench: a child failed (%s)\n", p < 0 ? forkall_strerror() : "bad status");
		exit(1);
	}
}

/* CPU time (user + system) of this process and of its reaped children, us. */
static double cpu_us(void)
{
	struct rusage self, kids;
	getrusage(RUSAGE_SELF, &self);
	getrusage(RUSAGE_CHILDREN, &kids);
	return (self.ru_utime.tv_sec + self.ru_stime.tv_sec + kids.ru_utime.tv_sec + kids.ru_stime.tv_sec) * 1e6 +
	       self.ru_utime.tv_usec + self.ru_stime.tv_usec + kids.ru_utime.tv_usec + kids.ru_stime.tv_usec;
}

static double last_cpu; /* CPU time of the last timed operation */

static double time_fork(void)
{
	double t0 = now_us();
	pid_t p = fork();
	if (p == 0)
		_exit(0);
	reap(p);
	return now_us() - t0;
}

static double time_floor(int threads)
{
	double c0 = cpu_us(), t0 = now_us();
	pid_t p = fork();
	if (p == 0) {
		for (int i = 0; i < threads - 1; i++)
			clone(exit_at_once, stacks[i] + sizeof stacks[i],
			      CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD | CLONE_SYSVSEM, 0);
		_exit(0);
	}
	reap(p);
	double t = now_us() - t0;
	last_cpu = cpu_us() - c0;
	return t;
}

/* Weak: the driver also runs against a libforkall without it (to compare). */
#pragma weak forkall_last_timing

/* The phases of forkall_last_timing(), in its order: name and one value per run. */
#define MAX_PHASES 16
static char phase_name[MAX_PHASES][32];
static double *phase_us[MAX_PHASES];
static int nphases;

/* Takes the numbers of the flat JSON object {"name":number,...} of run r. */
static void record_phases(int r, long runs)
{
	if (!forkall_last_timing)
		return;
	const char *p = forkall_last_timing();
	for (int i = 0; i < MAX_PHASES && (p = strchr(p, '"')); i++) {
		const char *q = strchr(p + 1, '"');
		if (!q || q[1] != ':')
			break;
		if (i >= nphases) {
			snprintf(phase_name[i], sizeof phase_name[i], "%.*s", (int)(q - p - 1), p + 1);
			phase_us[i] = calloc((size_t)runs, sizeof(double));
			if (!phase_us[i]) {
				fprintf(stderr, "forkall-bench: out of memory (ENOMEM)\n");
				exit(3);
			}
			nphases = i + 1;
		}
		phase_us[i][r] = strtod(q + 2, (char **)&p);
	}
}

static double time_forkall(unsigned flags)
{
	struct forkall_options o = { .size = sizeof o, .flags = flags };
	double c0 = cpu_us(), t0 = now_us();
	pid_t p = forkall_ex(&o);
	if (p == 0)
		_exit(0);
	reap(p);
	double t = now_us() - t0;
	last_cpu = cpu_us() - c0;
	return t;
}

int main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr, "usage: forkall-bench THREADS RSS_MB RUNS [--exact]\n");
		return 2;
	}
	char *e1, *e2, *e3;
	long threads = strtol(argv[1], &e1, 10), mb = strtol(argv[2], &e2, 10), runs = strtol(argv[3], &e3, 10);
	int exact = argc > 4 && strcmp(argv[4], "--exact") == 0;
	if (*e1 || *e2 || *e3 || threads < 1 || threads > 4096 || mb < 0 || mb > (1L << 30) || runs < 1 || runs > 1000000) {
		fprintf(stderr, "forkall-bench: bad arguments (THREADS 1-4096, RSS_MB >= 0, RUNS 1-1000000)\n");
		return 2;
	}
	stacks = mmap(0, sizeof *stacks * (size_t)threads, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (stacks == MAP_FAILED) {
		fprintf(stderr, "forkall-bench: cannot map %ld thread stacks: %s\n", threads, strerror(errno));
		return 3;
	}
	if (mb)
		touch_memory(mb);
	pthread_attr_t a;
	pthread_attr_init(&a);
	pthread_attr_setstacksize(&a, 64 * 1024);
	pthread_t *t = calloc((size_t)threads, sizeof *t);
	if (!t) {
		fprintf(stderr, "forkall-bench: out of memory (ENOMEM)\n");
		return 3;
	}
	for (int i = 0; i < threads - 1; i++)
		if (pthread_create(&t[i], &a, worker, 0)) {
			fprintf(stderr, "forkall-bench: cannot create thread %d of %ld\n", i + 1, threads - 1);
			return 1;
		}
	pthread_mutex_lock(&m);
	while (ready < threads - 1)
		pthread_cond_wait(&c, &m);
	pthread_mutex_unlock(&m);
	double *f = calloc((size_t)runs, sizeof *f), *fl = calloc((size_t)runs, sizeof *fl),
	       *fa = calloc((size_t)runs, sizeof *fa), *ex = calloc((size_t)runs, sizeof *ex),
	       *flc = calloc((size_t)runs, sizeof *flc), *fac = calloc((size_t)runs, sizeof *fac);
	if (!f || !fl || !fa || !ex || !flc || !fac) {
		fprintf(stderr, "forkall-bench: out of memory for %ld runs (ENOMEM)\n", runs);
		return 3;
	}
	time_forkall(0); /* the engine maps its memory once */
	for (int r = 0; r < runs; r++) {
		f[r] = time_fork();
		fl[r] = time_floor(threads);
		flc[r] = last_cpu;
		fa[r] = time_forkall(0);
		fac[r] = last_cpu;
		record_phases(r, runs);
		if (exact)
			ex[r] = time_forkall(FORKALL_EXACT_TIDS);
		fputc('.', stderr);
	}
	double mf = median(f, runs), mfl = median(fl, runs), mfa = median(fa, runs);
	printf("{\"threads\":%ld,\"rssMb\":%ld,\"runs\":%ld,\"forkUs\":%.1f,\"floorUs\":%.1f,\"forkallUs\":%.1f,"
	       "\"ratio\":%.3f,\"forkallP90Us\":%.1f",
	       threads, mb, runs, mf, mfl, mfa, mfa / mfl, p90(fa, runs));
	if (exact)
		printf(",\"exactUs\":%.1f", median(ex, runs));
	double mflc = median(flc, runs), mfac = median(fac, runs);
	printf(",\"floorCpuUs\":%.1f,\"forkallCpuUs\":%.1f,\"cpuRatio\":%.3f", mflc, mfac, mflc > 0 ? mfac / mflc : 0);
	printf(",\"phases\":{");
	for (int i = 0; i < nphases; i++)
		printf("%s\"%s\":%.1f", i ? "," : "", phase_name[i], median(phase_us[i], runs));
	printf("}");
	printf("}\n");
	fflush(stdout);
	pthread_mutex_lock(&m);
	stop = 1;
	pthread_cond_broadcast(&c);
	pthread_mutex_unlock(&m);
	for (int i = 0; i < threads - 1; i++)
		pthread_join(t[i], 0);
	return 0;
}
