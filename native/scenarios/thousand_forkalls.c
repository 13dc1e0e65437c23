/* 1,000 forkalls in a loop (in the parent and again in the clone) leak no file
 * descriptor, no memory mapping and no process. */
#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>
#include "scenario.h"

static struct sc_gate gate = SC_GATE_INIT;

static void *worker(void *arg)
{
	sc_gate_pass(&gate);
	return 0;
}

static int count_fds(void)
{
	int n = 0;
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n - 1;
}

static int count_maps(void)
{
	FILE *f = fopen("/proc/self/maps", "r");
	int n = 0, ch;
	while ((ch = fgetc(f)) != EOF)
		n += ch == '\n';
	fclose(f);
	return n;
}

static int loop(int rounds, int threads)
{
	int bad = 0;
	for (int i = 0; i < rounds; i++) {
		pid_t p = forkall();
		if (p == 0) {
			int n = sc_count_tasks(); /* a wrong count exits 100 + the count seen */
			_exit(n == threads ? 7 : n < 100 ? 100 + n : 8);
		}
		int st = 0;
		pid_t w = p < 0 ? p : waitpid(p, &st, 0);
		if (p < 0 || w != p || !WIFEXITED(st) || WEXITSTATUS(st) != 7) {
			/* how the first bad round went (once, under load, 1 clone in 1000 was bad, musl,
			 * in a clone's own loop, and nothing said how) */
			if (!bad)
				sc_log("main", "round %d bad: forkall %d%s%s, wait status 0x%x (exit 100+N: N tasks, want %d)", i, (int)p,
				       p < 0 ? ": " : "", p < 0 ? forkall_strerror() : "", (unsigned)st, threads);
			bad++;
		}
	}
	return bad;
}

int main(void)
{
	pthread_t t[4];
	for (int i = 0; i < 4; i++)
		sc_spawn(worker, 0, (unsigned long *)&t[i]);
	sc_gate_wait_arrivals(&gate, 4);
	sc_snapshot();
	int threads = sc_count_tasks();
	loop(1, threads); /* the engine maps its memory once */
	int fds = count_fds(), maps = count_maps();
	int bad = loop(1000, threads);
	sc_check("main", "1000 clones with every thread, exit 7", bad, 0);
	sc_check("main", "fd count unchanged", count_fds(), fds);
	sc_check("main", "mapping count unchanged", count_maps(), maps);
	sc_check("main", "no child left", sc_other_children(), 0);
	sc_gate_open(&gate);
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], 0);
	return sc_finish();
}
