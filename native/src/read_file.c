/* Reading a small /proc file whole with raw system calls (no libc, no errno),
 * and its numbers: what the engine's /proc readers share. */
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

/* Digits in base 8, 10 or 16 after optional blanks (and a '-'); *p moves past them. */
uint64_t fa_parse_num(const char **p, int base)
{
	const char *s = *p;
	uint64_t v = 0;
	while (*s == ' ' || *s == '\t')
		s++;
	int neg = *s == '-';
	s += neg;
	for (;; s++) {
		int d = *s >= '0' && *s <= '9' ? *s - '0' : *s >= 'a' && *s <= 'f' ? *s - 'a' + 10 : 99;
		if (d >= base)
			break;
		v = v * (uint64_t)base + (uint64_t)d;
	}
	*p = s;
	return neg ? (uint64_t)-(int64_t)v : v;
}
