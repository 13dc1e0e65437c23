/* FORKALL_* environment variables (docs/agent.md). Read once, at load time.
 * With FORKALL_CONTROL_FD set, every value is checked before the program runs:
 * a bad one ends the program with a message on stderr and FA_EXIT_CONFIG, never
 * a silent default. The control descriptor must be a connected unix stream
 * socket numbered 3 or above: the agent never writes protocol bytes into the
 * program's stdin/stdout/stderr or into a file the program opened. */
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include "agent.h"

static __attribute__((noreturn)) void config_error(const char *name, const char *value, const char *expected)
{
	const char *parts[] = { "forkall agent: ", name, "=", value ? value : "", ": ", expected, "\n" };
	for (unsigned i = 0; i < sizeof parts / sizeof parts[0]; i++)
		fa_sys3(SYS_write, 2, parts[i], strlen(parts[i]));
	fa_sys1(SYS_exit_group, FA_EXIT_CONFIG);
	__builtin_unreachable();
}

/* A whole decimal number in lo..hi, else -1. */
static long parse_number(const char *s, long lo, long hi)
{
	if (!s || *s < '0' || *s > '9')
		return -1;
	char *end;
	long v = strtol(s, &end, 10);
	return *end || v < lo || v > hi ? -1 : v;
}

static int parse_flag(const char *name)
{
	const char *v = getenv(name);
	if (!v || !*v || strcmp(v, "0") == 0)
		return 0;
	if (strcmp(v, "1") == 0)
		return 1;
	config_error(name, v, "expected 0 or 1");
}

/* 0: usable; -1: not open here (a process that inherited the variable but not
 * the descriptor, e.g. a subprocess started with close_fds: the agent stays off). */
static int check_control_fd(const char *text, int fd)
{
	if (fa_sys3(SYS_fcntl, fd, 1 /* F_GETFD */, 0) < 0)
		return -1;
	int type = 0, domain = 0;
	socklen_t len = sizeof type;
	long r1 = fa_sys5(SYS_getsockopt, fd, SOL_SOCKET, SO_TYPE, &type, &len);
	len = sizeof domain;
	long r2 = fa_sys5(SYS_getsockopt, fd, SOL_SOCKET, SO_DOMAIN, &domain, &len);
	if (r1 < 0 || r2 < 0 || type != SOCK_STREAM || domain != AF_UNIX)
		config_error("FORKALL_CONTROL_FD", text,
			     "this descriptor is not a unix stream socket (the controller's control channel); "
			     "refusing to write protocol messages into it");
	return 0;
}

int fa_agent_read_config(struct fa_agent_config *c)
{
	const char *fd = getenv("FORKALL_CONTROL_FD");
	const char *at = getenv("FORKALL_AT");
	c->control_fd = -1;
	c->at = FA_AT_REQUEST;
	c->at_value = 0;
	if (!fd || !*fd)
		return -1; /* no controller: the agent does nothing and checks nothing */
	long v = parse_number(fd, 3, 1 << 20);
	if (v < 0)
		config_error("FORKALL_CONTROL_FD", fd, "expected a descriptor number of 3 or more (0-2 are the program's stdio)");
	if (!at || !*at || strcmp(at, "request") == 0)
		c->at = FA_AT_REQUEST;
	else if (strncmp(at, "threads=", 8) == 0) {
		c->at = FA_AT_THREADS;
		if ((c->at_value = parse_number(at + 8, 1, 1 << 22)) < 0)
			config_error("FORKALL_AT", at, "threads=N needs a whole number N of 1 or more");
	} else if (strncmp(at, "delay=", 6) == 0) {
		c->at = FA_AT_DELAY;
		if ((c->at_value = parse_number(at + 6, 0, 1l << 31)) < 0) /* milliseconds */
			config_error("FORKALL_AT", at, "delay=MS needs a whole number of milliseconds");
	} else
		config_error("FORKALL_AT", at, "expected request, threads=N or delay=MS");
	c->exact_tids = parse_flag("FORKALL_EXACT_TIDS");
	c->compact = parse_flag("FORKALL_COMPACT");
	c->prefault = parse_flag("FORKALL_PREFAULT");
	c->shared_fds = parse_flag("FORKALL_SHARED_FDS");
	const char *wait = getenv("FORKALL_LAUNCHER_WAIT_MS");
	c->launcher_wait_ms = 3000;
	if (wait && *wait && (c->launcher_wait_ms = parse_number(wait, 0, 1l << 31)) < 0)
		config_error("FORKALL_LAUNCHER_WAIT_MS", wait, "expected a whole number of milliseconds (0: freeze launchers at once)");
	if (!fa_image_is_launcher())
		c->launcher_wait_ms = 0;
	if (check_control_fd(fd, (int)v) < 0)
		return -1;
	c->control_fd = (int)v;
	return 0;
}
