/* FORKALL_* environment variables (docs/agent.md). Read once, at load time. */
#include <stdlib.h>
#include <string.h>
#include "agent.h"

int fa_agent_read_config(struct fa_agent_config *c)
{
	const char *fd = getenv("FORKALL_CONTROL_FD");
	const char *at = getenv("FORKALL_AT");
	const char *exact = getenv("FORKALL_EXACT_TIDS");
	c->control_fd = -1;
	c->at = FA_AT_REQUEST;
	c->at_value = 0;
	c->exact_tids = exact && strcmp(exact, "1") == 0;
	const char *compact = getenv("FORKALL_COMPACT");
	c->compact = compact && strcmp(compact, "1") == 0;
	const char *shared = getenv("FORKALL_SHARED_FDS");
	c->shared_fds = shared && strcmp(shared, "1") == 0;
	if (!fd || !*fd)
		return -1;
	char *end;
	long v = strtol(fd, &end, 10);
	if (*end || v < 0 || v > 1 << 20)
		return -1;
	c->control_fd = (int)v;
	if (at && strncmp(at, "threads=", 8) == 0) {
		c->at = FA_AT_THREADS;
		c->at_value = strtol(at + 8, 0, 10);
	} else if (at && strncmp(at, "delay=", 6) == 0) {
		c->at = FA_AT_DELAY;
		c->at_value = strtol(at + 6, 0, 10); /* milliseconds */
	}
	return 0;
}
