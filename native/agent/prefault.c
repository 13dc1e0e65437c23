/* FORKALL_PREFAULT=1: once frozen, let every clone inherit the template's
 * page-table entries for its read-only file mappings (code, read-only data),
 * instead of taking one page fault per 64 KB it reads there.
 * fork(2) copies a private mapping's page-table entries only if the mapping
 * has anonymous pages (an anon_vma); one that only ever mapped file pages is
 * left empty in the child, to be faulted in again (mm/memory.c,
 * vma_needs_copy). On a VM where a page fault costs tens of microseconds, a
 * small clone spent more time faulting libc's code back in than running.
 * So: for each private read-only file mapping, one byte is written back
 * unchanged through /proc/self/mem (a forced write, as a debugger's
 * breakpoint: that page becomes a private copy, the mapping gets its
 * anon_vma, nothing else changes). A clone then starts with the entries of
 * every page the template had mapped there; code only clones run (their
 * exit path) still faults, once per 64 KB. Populating whole mappings first
 * (MADV_POPULATE_READ) saved 3 of ~45 faults per clone of a small program
 * and would make a large program's every fork copy its whole libraries'
 * entries: not done. Costs 4 KB per mapping. Runs in the frozen template:
 * raw system calls, a static buffer. */
#include <fcntl.h>
#include "agent.h"

static char maps[1 << 16];

/* Returns how many mappings now pass their entries on, or -errno when
 * /proc/self/maps or /proc/self/mem cannot be opened. */
long fa_prefault_readonly_files(void)
{
	long fd = fa_sys3(SYS_open, "/proc/self/maps", O_RDONLY | O_CLOEXEC, 0);
	if (fd < 0)
		return fd;
	long n = 0, r;
	while (n < (long)sizeof maps - 1 && (r = fa_sys3(SYS_read, fd, maps + n, sizeof maps - 1 - (size_t)n)) > 0)
		n += r;
	fa_sys1(SYS_close, fd);
	maps[n] = 0;
	long mem = fa_sys3(SYS_open, "/proc/self/mem", O_RDWR | O_CLOEXEC, 0);
	if (mem < 0)
		return mem;
	long done = 0;
	for (const char *p = maps; *p;) {
		unsigned long lo = fa_parse_num(&p, 16);
		p++;
		unsigned long hi = fa_parse_num(&p, 16);
		const char *perm = p + 1;
		const char *eol = p;
		while (*eol && *eol != '\n')
			eol++;
		/* a file: the path column starts with '/' ([vdso], [stack] and anonymous ones do not) */
		const char *path = p;
		while (path < eol && *path != '/')
			path++;
		if (path < eol && perm[0] == 'r' && perm[1] != 'w' && perm[3] == 'p' && hi > lo) {
			unsigned char b;
			if (fa_sys4(SYS_pread64, mem, &b, 1, lo) == 1 && fa_sys4(SYS_pwrite64, mem, &b, 1, lo) == 1)
				done++;
		}
		p = *eol ? eol + 1 : eol;
	}
	fa_sys1(SYS_close, mem);
	return done;
}
