/* The tree behind `forkall bench tree`: a root and CHILDREN child processes,
 * each with THREADS threads (main + workers blocked in a condition wait) and
 * RSS_MB of anonymous memory it wrote itself (a child rewrites the buffer it
 * inherited, so none of it is shared with the root any more). The root
 * prints "READY <pid>" once every child is up, then blocks in read(0); each
 * child blocks in read on a pipe nobody writes. EOF on the root's stdin ends
 * the tree.
 * Usage: forkall-tree-target CHILDREN THREADS RSS_MB */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <unistd.h>

static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t c = PTHREAD_COND_INITIALIZER;

static void *worker(void *arg)
{
	pthread_mutex_lock(&m);
	for (;;)
		pthread_cond_wait(&c, &m);
	return arg;
}

static void start_workers(int threads)
{
	for (int i = 1; i < threads; i++) {
		pthread_t t;
		if (pthread_create(&t, NULL, worker, NULL) != 0) {
			perror("pthread_create");
			exit(3);
		}
	}
}

int main(int argc, char **argv)
{
	if (argc < 4)
		return 2;
	int children = atoi(argv[1]), threads = atoi(argv[2]);
	size_t bytes = (size_t)atoi(argv[3]) << 20;
	char *mem = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED)
		return 3;
	memset(mem, 1, bytes);
	int ready[2], idle[2];
	if (pipe(ready) || pipe(idle))
		return 3;
	for (int k = 0; k < children; k++) {
		pid_t p = fork();
		if (p < 0)
			return 3;
		if (p == 0) {
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			memset(mem, 2 + k, bytes); /* its own pages now */
			start_workers(threads);
			char b = 1;
			if (write(ready[1], &b, 1) != 1)
				_exit(3);
			close(idle[1]);
			while (read(idle[0], &b, 1) != 0)
				;
			_exit(0);
		}
	}
	for (int k = 0; k < children; k++) {
		char b;
		if (read(ready[0], &b, 1) != 1)
			return 3;
	}
	start_workers(threads);
	printf("READY %d\n", (int)getpid());
	fflush(stdout);
	char b;
	while (read(0, &b, 1) > 0)
		;
	return 0;
}
