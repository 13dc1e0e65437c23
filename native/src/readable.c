/* Whether memory can be read, asked of the kernel instead of found out by a
 * fault (a fault in the parking handler or in a fresh child would kill it).
 * The probe is rt_sigprocmask with an invalid `how`: the kernel copies the 8
 * bytes of the new set from the address first (-EFAULT if they cannot be read)
 * and only then refuses the `how` (-EINVAL), so the signal mask never changes.
 * It replaced process_vm_readv of ourselves, which pins the pages it reads:
 * pinning a page that a fork made shared unshares (copies) it first, about
 * 25 us per thread in the parking handler here against 1 us for the probe.
 * The answer holds while nothing unmaps the memory: callers use it where every
 * other thread is parked or does not exist yet. */
#include "engine.h"

#define PROBE_HOW 0x7fffffff /* no such SIG_* value */

/* 1: the aligned 8-byte word at p can be read; 0: it cannot; -1: the kernel
 * would not say (a sandbox refuses the call). */
static int word_readable(unsigned long p)
{
	long r = fa_sys4(SYS_rt_sigprocmask, PROBE_HOW, p, 0, 8);
	if (r == -22 /* EINVAL: copied, then refused */)
		return 1;
	if (r == -14 /* EFAULT */)
		return 0;
	return -1;
}

int fa_readable(const void *addr, size_t len)
{
	if (!len)
		return 1;
	/* an aligned word never straddles two pages, and readability is per
	 * page: the first and the last word tell for every page when the range
	 * spans at most two (callers read a few words) */
	unsigned long p = (unsigned long)addr, first = p & ~7ul, last = (p + len - 1) & ~7ul;
	if (last < first || (last & ~4095ul) - (first & ~4095ul) > 4096)
		return -1; /* wraps, or more than two pages: not what this is for */
	int a = word_readable(first);
	if (a == 0 || first == last)
		return a;
	int b = word_readable(last);
	return b == 0 ? 0 : (a > 0 && b > 0 ? 1 : -1);
}
