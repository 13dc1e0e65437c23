/* The program behind `forkall bench server`: THREADS threads (main + blocked
 * workers) and RSS_MB of touched anonymous memory, then one of
 *   agent       freeze (forkall_snapshot(), under the agent); each clone
 *               writes one byte of the big buffer (a first write) and exits
 *   forkserver  a plain fork server, AFL++ style: for each byte read on stdin,
 *               fork(); the child writes one byte and exits; the parent
 *               answers with the 4-byte wait status
 *   once        write one byte and exit (exec-per-run)
 *   idle        print "READY <pid>" and block in read(0) until EOF (a target
 *               for the remote engine: `forkall bench remote`); a clone writes
 *               one byte and exits when its read returns
 *   probe       as agent, then print how much of the big mapping the clone
 *               owns privately after its one-byte write (Private_Dirty, kB) and
 *               how much is still huge pages (AnonHugePages, kB)
 * Usage: forkall-target THREADS RSS_MB agent|forkserver|once|probe|idle */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

extern int forkall_snapshot(void) __attribute__((weak));
static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t c = PTHREAD_COND_INITIALIZER;

static void *worker(void *arg)
{
	pthread_mutex_lock(&m);
	for (;;)
		pthread_cond_wait(&c, &m);
	return arg;
}

static void print_mapping_usage(char *mem)
{
	FILE *f = fopen("/proc/self/smaps", "r");
	char line[256];
	int in = 0;
	long dirty = -1, huge = -1;
	while (f && fgets(line, sizeof line, f)) {
		unsigned long lo, hi;
		if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 && strchr(line, '-') < strchr(line, ' '))
			in = (unsigned long)mem >= lo && (unsigned long)mem < hi;
		else if (in)
			sscanf(line, "Private_Dirty: %ld kB", &dirty), sscanf(line, "AnonHugePages: %ld kB", &huge);
	}
	if (f)
		fclose(f);
	printf("private_dirty_kb=%ld anon_huge_kb=%ld\n", dirty, huge);
	fflush(stdout);
}

int main(int argc, char **argv)
{
	if (argc < 4)
		return 2;
	int threads = atoi(argv[1]);
	size_t bytes = (size_t)atoi(argv[2]) << 20;
	const char *mode = argv[3];
	char *mem = bytes ? mmap(0, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) : 0;
	if (bytes)
		memset(mem, 1, bytes);
	pthread_attr_t a;
	pthread_attr_init(&a);
	pthread_attr_setstacksize(&a, 64 * 1024);
	for (int i = 1; i < threads; i++) {
		pthread_t t;
		pthread_create(&t, &a, worker, 0);
	}
	if (strcmp(mode, "agent") == 0 || strcmp(mode, "probe") == 0) {
		if (!forkall_snapshot || forkall_snapshot() != 1)
			return 3;
		if (mem)
			mem[bytes / 2] = 2;
		if (mode[0] == 'p')
			print_mapping_usage(mem);
		_exit(0);
	}
	if (strcmp(mode, "idle") == 0) {
		char b;
		printf("READY %d\n", (int)getpid());
		fflush(stdout);
		while (read(0, &b, 1) == 1)
			;
		return 0;
	}
	if (strcmp(mode, "forkserver") == 0) {
		char b;
		while (read(0, &b, 1) == 1) {
			pid_t p = fork();
			if (p == 0) {
				if (mem)
					mem[bytes / 2] = 2;
				_exit(0);
			}
			int st = -1;
			waitpid(p, &st, 0);
			if (write(1, &st, 4) != 4)
				return 4;
		}
		return 0;
	}
	if (mem)
		mem[bytes / 2] = 2;
	return 0;
}
