/* The bundled example behind `forkall demo`: worker threads in different
 * states - waiting on a condition variable, blocked reading a pipe, sleeping,
 * computing with values live in AVX registers, and holding a mutex. It clones itself N times with forkall(); each
 * clone, and finally the original, lets the workers finish and reports what
 * each one computed. Output: one JSON object per line on stdout (each written
 * with a single write, so processes never interleave mid-line).
 * Usage: forkall-demo [clones] */
#include <errno.h>
#include <fcntl.h>
#include <forkall.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define NW 5
static const char *labels[NW] = { "waiter", "reader", "sleeper", "vector", "holder" };
static const char *states[NW] = {
	"waiting on a condition variable", "blocked in read() on a pipe", "sleeping in nanosleep()",
	"spinning with values in ymm0-ymm3", "holding a mutex main waits for",
};
static pid_t tids[NW];
static char names[NW][16];
static char results[NW][96];
static volatile int go, ready, reader_done, sleeper_done;
static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER, held = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t c = PTHREAD_COND_INITIALIZER;
static int published, pfd[2];

static void line(const char *s)
{
	if (write(1, s, strlen(s)) < 0)
		_exit(3);
}

static void hello(int i)
{
	tids[i] = (pid_t)syscall(SYS_gettid);
	snprintf(names[i], sizeof names[i], "demo-%s", labels[i]);
	pthread_setname_np(pthread_self(), names[i]);
	__atomic_add_fetch(&ready, 1, __ATOMIC_SEQ_CST);
}

static void *waiter(void *a)
{
	hello(0);
	pthread_mutex_lock(&m);
	while (!published)
		pthread_cond_wait(&c, &m);
	int v = published;
	pthread_mutex_unlock(&m);
	snprintf(results[0], sizeof results[0], "woke, saw value %d", v);
	return 0;
}

/* The pipe is shared with every clone (as after fork). The original's reader
 * keeps reading until it is told to stop; a finishing process writes a byte
 * at a time until its own reader got one. */
static void *reader(void *a)
{
	char b = 0;
	ssize_t n;
	hello(1);
	do
		n = read(pfd[0], &b, 1);
	while (!go && n == 1);
	snprintf(results[1], sizeof results[1], "read %zd byte '%c'", n, b);
	reader_done = 1;
	return 0;
}

static void *sleeper(void *a)
{
	hello(2);
	int eintr = 0;
	while (!go) {
		struct timespec ts = { 3600, 0 };
		if (nanosleep(&ts, 0) < 0 && errno == EINTR)
			eintr = 1;
	}
	snprintf(results[2], sizeof results[2], "nanosleep %s, then woke", eintr ? "returned EINTR" : "completed");
	sleeper_done = 1;
	return 0;
}

static void *vector(void *a)
{
	static uint64_t in[16] __attribute__((aligned(32))), out[16] __attribute__((aligned(32)));
	for (int i = 0; i < 16; i++)
		in[i] = 0x0123456789abcdefull * (uint64_t)(i + 1);
	hello(3);
	__asm__ volatile("vmovdqa 0(%0), %%ymm0\n\t vmovdqa 32(%0), %%ymm1\n\t"
			 "vmovdqa 64(%0), %%ymm2\n\t vmovdqa 96(%0), %%ymm3\n"
			 "1:\n\t pause\n\t cmpl $0, (%2)\n\t je 1b\n\t"
			 "vmovdqa %%ymm0, 0(%1)\n\t vmovdqa %%ymm1, 32(%1)\n\t"
			 "vmovdqa %%ymm2, 64(%1)\n\t vmovdqa %%ymm3, 96(%1)\n\t vzeroupper"
			 :
			 : "r"(in), "r"(out), "r"(&go)
			 : "memory", "xmm0", "xmm1", "xmm2", "xmm3");
	uint64_t h = 1469598103934665603ull;
	for (int i = 0; i < 16; i++)
		h = (h ^ out[i]) * 1099511628211ull;
	snprintf(results[3], sizeof results[3], "ymm checksum %016llx, intact=%s", (unsigned long long)h,
		 memcmp(in, out, sizeof in) ? "no" : "yes");
	return 0;
}

static void *holder(void *a)
{
	pthread_mutex_lock(&held);
	hello(4);
	while (!go)
		usleep(1000);
	pthread_mutex_unlock(&held);
	snprintf(results[4], sizeof results[4], "released the mutex");
	return 0;
}

static void wake_up(int sig) { (void)sig; }

static double now_us(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

static int count_tasks(void)
{
	char path[64];
	int n = 0;
	snprintf(path, sizeof path, "/proc/%d/status", getpid());
	FILE *f = fopen(path, "r");
	char l[256];
	while (f && fgets(l, sizeof l, f))
		if (sscanf(l, "Threads: %d", &n) == 1)
			break;
	if (f)
		fclose(f);
	return n;
}

/* Lets the workers finish and reports their results as one JSON line. */
static void finish(const char *role, int index, pthread_t *t)
{
	int threads = count_tasks();
	pthread_mutex_lock(&m);
	published = 42;
	pthread_cond_broadcast(&c);
	pthread_mutex_unlock(&m);
	go = 1;
	while (!reader_done) {
		if (write(pfd[1], "k", 1) != 1)
			_exit(3);
		usleep(2000);
	}
	while (!sleeper_done) { /* a no-op signal ends its hour-long sleep */
		pthread_kill(t[2], SIGUSR1);
		usleep(2000);
	}
	pthread_mutex_lock(&held); /* blocks until the holder lets go */
	pthread_mutex_unlock(&held);
	for (int i = 0; i < NW; i++)
		pthread_join(t[i], 0);
	char buf[2048];
	int n = snprintf(buf, sizeof buf, "{\"type\":\"result\",\"role\":\"%s\",\"index\":%d,\"pid\":%d,\"threads\":%d,\"results\":{",
			 role, index, getpid(), threads);
	for (int i = 0; i < NW; i++)
		n += snprintf(buf + n, sizeof buf - (size_t)n, "%s\"%s\":\"%s\"", i ? "," : "", labels[i], results[i]);
	snprintf(buf + n, sizeof buf - (size_t)n, "}}\n");
	line(buf);
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	int clones = argc > 1 ? atoi(argv[1]) : 3;
	if (clones < 1 || clones > 64) {
		fprintf(stderr, "forkall-demo: clones must be 1..64\n");
		return 2;
	}
	if (pipe(pfd))
		return 3;
	struct sigaction sa = { .sa_handler = wake_up }; /* no SA_RESTART: sleeps end with EINTR */
	sigaction(SIGUSR1, &sa, 0);
	void *(*fns[NW])(void *) = { waiter, reader, sleeper, vector, holder };
	pthread_t t[NW];
	for (int i = 0; i < NW; i++)
		pthread_create(&t[i], 0, fns[i], 0);
	while (ready < NW)
		usleep(1000);
	usleep(50000); /* let each one settle into its state */
	char buf[512];
	for (int i = 0; i < NW; i++) {
		snprintf(buf, sizeof buf, "{\"type\":\"thread\",\"label\":\"%s\",\"name\":\"%s\",\"tid\":%d,\"state\":\"%s\"}\n",
			 labels[i], names[i], tids[i], states[i]);
		line(buf);
	}
	double forkall_us[64], fork_us[64];
	for (int k = 0; k < clones; k++) {
		double t0 = now_us();
		pid_t p = forkall();
		if (p == 0) {
			finish("clone", k, t);
			_exit(0);
		}
		forkall_us[k] = now_us() - t0;
		if (p < 0) {
			snprintf(buf, sizeof buf, "{\"type\":\"error\",\"message\":\"%s\"}\n", forkall_strerror());
			line(buf);
			return 1;
		}
		int st;
		waitpid(p, &st, 0);
		snprintf(buf, sizeof buf, "{\"type\":\"clone\",\"index\":%d,\"pid\":%d,\"status\":%d,\"forkallUs\":%.1f}\n", k,
			 (int)p, st, forkall_us[k]);
		line(buf);
	}
	for (int k = 0; k < clones; k++) {
		double t0 = now_us();
		pid_t p = fork();
		if (p == 0)
			_exit(0);
		fork_us[k] = now_us() - t0;
		waitpid(p, 0, 0);
	}
	qsort(forkall_us, (size_t)clones, sizeof(double), cmp);
	qsort(fork_us, (size_t)clones, sizeof(double), cmp);
	snprintf(buf, sizeof buf, "{\"type\":\"timing\",\"forkallMedianUs\":%.1f,\"forkMedianUs\":%.1f,\"samples\":%d}\n",
		 forkall_us[clones / 2], fork_us[clones / 2], clones);
	line(buf);
	finish("original", -1, t);
	return 0;
}
