/* Thread names (comm) survive: each thread reads its own name back from
 * /proc/self/task/<tid>/comm after the snapshot. */
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "scenario.h"

static volatile int ready, go;

static void *worker(void *arg)
{
	char name[16], path[64], buf[32] = { 0 };
	snprintf(name, sizeof name, "fa-worker-%ld", (long)arg);
	pthread_setname_np(pthread_self(), name);
	__atomic_add_fetch(&ready, 1, __ATOMIC_SEQ_CST);
	while (!go)
		usleep(1000);
	snprintf(path, sizeof path, "/proc/self/task/%d/comm", (int)sc_gettid());
	int fd = open(path, O_RDONLY);
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof buf - 1) : -1;
	if (fd >= 0)
		close(fd);
	if (n > 0 && buf[n - 1] == '\n')
		buf[n - 1] = 0;
	char label[8] = "name0";
	label[4] += (char)(long)arg;
	sc_log(label, "comm=%s", buf);
	return 0;
}

int main(void)
{
	pthread_t t[3];
	for (long i = 0; i < 3; i++)
		sc_spawn(worker, (void *)i, (unsigned long *)&t[i]);
	while (ready < 3)
		usleep(1000);
	sc_snapshot();
	go = 1;
	for (int i = 0; i < 3; i++)
		pthread_join(t[i], 0);
	return sc_finish();
}
