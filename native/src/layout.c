/* What the engine learns about the C library once, at load time (a constructor
 * runs in ordinary context, where dlsym and friends are safe to call):
 *  - where a thread's libc descriptor keeps its TID, so a resurrected thread's
 *    descriptor gets its new TID (glibc: the clear_child_tid address itself;
 *    musl: found by looking for the TID near the thread pointer);
 *  - glibc's rseq area (__rseq_offset/__rseq_size), re-registered per thread;
 *  - glibc's _rtld_global, which holds ld.so's recursive locks;
 *  - musl's per-thread owner list: musl links every owner-tracked mutex a
 *    thread holds (recursive, errorcheck, PI, robust) into a list in its
 *    descriptor, but tells the kernel about it only once a robust mutex was
 *    used. We find the list head (a self-pointing word when empty) and the
 *    distance from a list entry to the mutex's lock word (by locking a private
 *    errorcheck mutex once and looking).
 * Nothing here is hard-coded: every value is discovered and checked. */
#include <dlfcn.h>
#include <link.h>
#include <pthread.h>
#include <stddef.h>
#include "engine.h"

FA_HIDDEN struct fa_layout fa_layout = { .desc_tid_offset = -1, .owner_list_offset = -1 };

extern const ptrdiff_t __rseq_offset __attribute__((weak));
extern const unsigned int __rseq_size __attribute__((weak));

static unsigned long thread_pointer(void)
{
	unsigned long fs = 0;
	fa_sys2(SYS_arch_prctl, ARCH_GET_FS, &fs);
	return fs;
}

static long find_desc_tid_offset(void)
{
	unsigned long tp = thread_pointer();
	int tid = fa_gettid();
	int *ctid = 0;
	if (!tp)
		return -1;
	/* glibc: clear_child_tid is &pd->tid, and pd is the thread pointer. */
	if (fa_sys2(SYS_prctl, FA_PR_GET_TID_ADDRESS, &ctid) == 0 && ctid) {
		long off = (long)((unsigned long)ctid - tp);
		if (off >= 0 && off < 4096 && *ctid == tid)
			return off;
	}
	/* musl: clear_child_tid is a global lock; the tid sits a few words past the
	 * thread pointer. Take the first aligned int that holds it. */
	for (long off = 8; off < 512; off += 4)
		if (*(int *)(tp + off) == tid)
			return off;
	return -1;
}

#ifdef __GLIBC__
static void find_ldso_locks(void)
{
	void *g = dlsym(RTLD_DEFAULT, "_rtld_global");
	Dl_info info;
	const ElfW(Sym) *sym = 0;
	if (!g || !dladdr1(g, &info, (void **)&sym, RTLD_DL_SYMENT) || !sym)
		return;
	fa_layout.ldso_base = g;
	fa_layout.ldso_size = sym->st_size;
}
#endif

#ifndef __GLIBC__
static void find_owner_list(void)
{
	unsigned long tp = thread_pointer();
	long cand[8];
	int ncand = 0;
	if (!tp)
		return;
	/* Self-pointing words past the descriptor's own self pointer. */
	for (long off = 8; off < 512 && ncand < 8; off += 8)
		if (*(unsigned long *)(tp + off) == tp + (unsigned long)off)
			cand[ncand++] = off;
	pthread_mutexattr_t a;
	pthread_mutex_t m;
	pthread_mutexattr_init(&a);
	pthread_mutexattr_settype(&a, PTHREAD_MUTEX_ERRORCHECK);
	pthread_mutex_init(&m, &a);
	pthread_mutex_lock(&m);
	int tid = fa_gettid();
	for (int i = 0; i < ncand && fa_layout.owner_list_offset < 0; i++) {
		char *head = *(char **)(tp + (unsigned long)cand[i]);
		if (head < (char *)&m || head >= (char *)(&m + 1))
			continue;
		for (char *w = (char *)&m; w + sizeof(int) <= (char *)(&m + 1); w += sizeof(int))
			if ((*(int *)w & 0x3fffffff) == tid) {
				fa_layout.owner_list_offset = cand[i];
				fa_layout.owner_list_futex_offset = w - head;
				break;
			}
	}
	pthread_mutex_unlock(&m);
	pthread_mutex_destroy(&m);
	pthread_mutexattr_destroy(&a);
}
#endif

__attribute__((constructor)) static void fa_layout_init(void)
{
	fa_layout.desc_tid_offset = find_desc_tid_offset();
	if (&__rseq_size && &__rseq_offset && __rseq_size) {
		fa_layout.rseq_size = __rseq_size;
		fa_layout.rseq_offset = __rseq_offset;
	}
#ifdef __GLIBC__
	find_ldso_locks();
#else
	find_owner_list();
#endif
}

/* The list of locks a thread owns: the kernel's robust list when registered,
 * else the libc descriptor's own list (musl), else NULL. */
void *fa_owner_list_of(unsigned long fs_base, void *robust_head)
{
	if (robust_head)
		return robust_head;
	if (!fs_base || fa_layout.owner_list_offset < 0)
		return 0;
	return (void *)(fs_base + (unsigned long)fa_layout.owner_list_offset);
}

/* The address of the tid field of the descriptor at fs_base, if it holds tid. */
int *fa_desc_tid_of(unsigned long fs_base, int tid)
{
	if (!fs_base || fa_layout.desc_tid_offset < 0)
		return 0;
	int *p = (int *)(fs_base + (unsigned long)fa_layout.desc_tid_offset);
	return *p == tid ? p : 0;
}
