/* The thread table: one entry per thread the program made through
 * pthread_create, indexed by its rank in creation order (the main thread is
 * 0). Ranks are the same in every run of the program, unlike addresses, which
 * ASLR moves, so a seed means the same schedule in a new template too. The
 * table lives in the program's memory: a clone inherits it with the snapshot,
 * including which threads sat in a real condition wait (tmpl_cond). */
#include "explore.h"

struct fa_thread fa_threads[FA_MAX_THREADS];
uint32_t fa_nthreads = 1;
__thread int fa_rank = -1;

/* newest first: glibc reuses a joined thread's stack, and with it its pthread_t */
int fa_rank_of(pthread_t t)
{
	uint32_t n = __atomic_load_n(&fa_nthreads, __ATOMIC_ACQUIRE);
	for (uint32_t i = n < FA_MAX_THREADS ? n : FA_MAX_THREADS; i-- > 0;)
		if (fa_threads[i].self == t && (fa_threads[i].live || fa_threads[i].finished))
			return (int)i;
	return -1;
}

/* Start routines in order of their first pthread_create; a slot is claimed
 * with a compare-and-swap, since template threads may create at once. */
static const void *classes[FA_MAX_CLASSES];

uint32_t fa_thread_class(const void *fn)
{
	for (uint32_t i = 1; i < FA_MAX_CLASSES - 1; i++) {
		const void *seen = __atomic_load_n(&classes[i], __ATOMIC_ACQUIRE);
		if (!seen && __atomic_compare_exchange_n(&classes[i], &seen, fn, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
			return i;
		if (seen == fn)
			return i;
	}
	return FA_MAX_CLASSES - 1;
}
