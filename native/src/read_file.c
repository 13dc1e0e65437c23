/* Reading a small /proc file whole with raw system calls (no libc, no errno):
 * what the engine's /proc readers share. */
#include <fcntl.h>
#include "engine.h"

long fa_read_file(const char *path, char *buf, size_t cap)
{
	long fd = fa_sys3(SYS_open, path, O_RDONLY | O_CLOEXEC, 0);
	if (fd < 0)
		return fd;
	long n = 0, r;
	while ((size_t)n < cap - 1 && (r = fa_sys3(SYS_read, fd, buf + n, cap - 1 - (size_t)n)) > 0)
		n += r;
	fa_sys1(SYS_close, fd);
	buf[n] = 0;
	return (size_t)n >= cap - 1 ? -7 /* E2BIG: a partial file would be misread */ : n;
}
