/* Implementation of scenario_events.h. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
/* g++ builds the library's second file as C++ for the C++ scenario */
#ifdef __cplusplus
extern "C" {
#endif
#include "scenario.h"
#include "scenario_events.h"
#ifdef __cplusplus
}
#endif

#ifdef __cplusplus
extern "C" {
#endif

static int *meet_count;

int sc_private_event_objects(void)
{
	const char *engine = getenv("FORKALL_SCENARIO_ENGINE");
	return engine && (strcmp(engine, "external") == 0 || strcmp(engine, "agent") == 0);
}

static int participants(void)
{
	const char *engine = getenv("FORKALL_SCENARIO_ENGINE");
	return engine && strcmp(engine, "agent") == 0 ? 1 : 2;
}

int sc_alone(void) { return participants() == 1; }

void sc_meet_init(void)
{
	/* MAP_SHARED memory stays shared with every clone, whatever the engine */
	meet_count = (int *)mmap(0, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (meet_count == MAP_FAILED)
		sc_die("mmap for the meeting point");
}

void sc_meet(int k)
{
	if (participants() == 1)
		return;
	__atomic_add_fetch(meet_count, 1, __ATOMIC_SEQ_CST);
	for (int i = 0; i < 20000; i++) {
		if (__atomic_load_n(meet_count, __ATOMIC_SEQ_CST) >= k * participants())
			return;
		usleep(1000);
	}
	sc_die("meeting %d: the other process did not arrive within 20 s", k);
}

long long sc_fdinfo_field(int fd, const char *name, int base)
{
	char path[64], buf[4096];
	snprintf(path, sizeof path, "/proc/self/fdinfo/%d", fd);
	int f = open(path, O_RDONLY);
	if (f < 0)
		return -1;
	ssize_t n = read(f, buf, sizeof buf - 1);
	close(f);
	buf[n > 0 ? n : 0] = 0;
	size_t len = strlen(name);
	for (char *p = buf; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : 0)
		if (strncmp(p, name, len) == 0 && p[len] == ':')
			return strtoll(p + len + 1, 0, base);
	return -1;
}
#ifdef __cplusplus
}
#endif
