/* FORKALL_COMPACT=1: once frozen, move the template's anonymous memory into
 * transparent huge pages (madvise MADV_COLLAPSE, Linux 6.1+), so each clone
 * copies one page-table entry per 2 MB instead of 512. A clone's first write
 * to a shared huge page still copies only 4 KB (the kernel splits the PMD).
 * Runs in the frozen template: raw system calls, a static buffer. */
#include <fcntl.h>
#include "agent.h"

#define FA_MADV_HUGEPAGE 14
#define FA_MADV_COLLAPSE 25
#define HUGE (2ul << 20)

static char maps[1 << 16];

/* Collapses every private writable anonymous range; returns bytes collapsed,
 * or -errno of the first refusal when nothing could be collapsed. */
long fa_compact_anonymous(void)
{
	long fd = fa_sys3(SYS_open, "/proc/self/maps", O_RDONLY | O_CLOEXEC, 0);
	if (fd < 0)
		return fd;
	long n = 0, r;
	while (n < (long)sizeof maps - 1 && (r = fa_sys3(SYS_read, fd, maps + n, sizeof maps - 1 - (size_t)n)) > 0)
		n += r;
	fa_sys1(SYS_close, fd);
	maps[n] = 0;
	long done = 0, first_err = 0;
	for (const char *p = maps; *p;) {
		unsigned long lo = fa_parse_num(&p, 16);
		p++;
		unsigned long hi = fa_parse_num(&p, 16);
		const char *perm = p + 1;
		const char *eol = p;
		while (*eol && *eol != '\n')
			eol++;
		/* anonymous: no path after the inode column */
		const char *q = eol;
		while (q > p && q[-1] == ' ')
			q--;
		int anonymous = q > p && q[-1] == '0' && q[-2] == ' ';
		if (perm[0] == 'r' && perm[1] == 'w' && perm[3] == 'p' && anonymous) {
			unsigned long a = (lo + HUGE - 1) & ~(HUGE - 1), b = hi & ~(HUGE - 1);
			if (b > a) {
				fa_sys3(SYS_madvise, a, b - a, FA_MADV_HUGEPAGE);
				long e = fa_sys3(SYS_madvise, a, b - a, FA_MADV_COLLAPSE);
				if (e == 0)
					done += (long)(b - a);
				else if (!first_err)
					first_err = e;
			}
		}
		p = *eol ? eol + 1 : eol;
	}
	return done ? done : first_err;
}
