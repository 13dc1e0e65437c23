/* What the engine learns about the C library once, at load time (a constructor
 * runs in ordinary context, where dlsym, snprintf and friends are safe):
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
 * The search rules (windows, steps, patterns) are in layout_rules.h, shared
 * with the remote engine. Nothing here is hard-coded: every value is
 * discovered and checked; what cannot be found is recorded in
 * fa_layout.problems and reported by forkall_warnings() and
 * forkall_diagnostics(), never silently skipped. */
#include <dlfcn.h>
#include <link.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#ifdef __GLIBC__
#include <gnu/libc-version.h>
#endif
#include "forkall.h"
#include "engine.h"
#include "layout_rules.h"

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
		if (off >= 0 && off < FA_RULE_TID_ADDR_MAX && *ctid == tid)
			return off;
	}
#ifndef __GLIBC__
	/* musl: clear_child_tid is a global lock; the tid sits a few words past the
	 * thread pointer. Take the first aligned int that holds it. (Only musl's
	 * rule: elsewhere an int that happens to equal the TID is no TID field.) */
	for (long off = FA_RULE_DESC_TID_SCAN_START; off < FA_RULE_DESC_TID_SCAN_END; off += FA_RULE_DESC_TID_SCAN_STEP)
		if (*(int *)(tp + off) == tid)
			return off;
#endif
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

/* libc.so.6's writable PT_LOAD segment past its RELRO part (its rwlocks live
 * there: owners.c). The segment begins with data that ld.so makes read-only
 * once relocated (PT_GNU_RELRO: .data.rel.ro, .dynamic, .got): no lock lives
 * there, and the child's rewrite of a look-alike faulted. Seen: libc's .dynamic
 * holds DT_RELA (an address, its high half odd in half of the layouts), then
 * DT_RELASZ = 2112 where a writer TID would be; a clone of any process with a
 * thread whose TID was 2112 died with SIGSEGV in fa_fix_owners before it was
 * whole (pid_max is 32768 here: every TID comes round). */
static int find_libc_rw(struct dl_phdr_info *info, size_t size, void *arg)
{
	(void)size, (void)arg;
	const char *slash = info->dlpi_name ? strrchr(info->dlpi_name, '/') : 0;
	const char *base = slash ? slash + 1 : info->dlpi_name;
	if (!base || strcmp(base, FA_RULE_GLIBC_SONAME) != 0)
		return 0;
	uintptr_t start = 0, end = 0, relro_start = 0, relro_end = 0;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		if (ph->p_type == PT_LOAD && (ph->p_flags & PF_W) && !end) {
			start = info->dlpi_addr + ph->p_vaddr;
			end = start + ph->p_memsz;
		} else if (ph->p_type == PT_GNU_RELRO) {
			relro_start = info->dlpi_addr + ph->p_vaddr;
			relro_end = relro_start + ph->p_memsz;
		}
	}
	if (relro_end > start && relro_start < end) /* rwlocks are 8-aligned: so is the scan */
		start = (relro_end + FA_RULE_RWLOCK_STEP - 1) & ~(uintptr_t)(FA_RULE_RWLOCK_STEP - 1);
	if (start < end) {
		fa_layout.libc_rw_base = (char *)start;
		fa_layout.libc_rw_size = end - start;
	}
	return 1;
}
#endif

#ifndef __GLIBC__
static void find_owner_list(void)
{
	unsigned long tp = thread_pointer();
	long cand[FA_RULE_OWNER_LIST_MAX_CANDIDATES];
	int ncand = 0;
	if (!tp)
		return;
	/* Self-pointing words past the descriptor's own self pointer. */
	for (long off = FA_RULE_OWNER_LIST_SCAN_START; off < FA_RULE_OWNER_LIST_SCAN_END && ncand < FA_RULE_OWNER_LIST_MAX_CANDIDATES;
	     off += FA_RULE_OWNER_LIST_SCAN_STEP)
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
		for (char *w = (char *)&m; w + sizeof(int) <= (char *)(&m + 1); w += sizeof(int)) {
			long d = w - head;
			if ((*(int *)w & FA_RULE_FUTEX_TID_MASK) == tid && d >= -FA_RULE_OWNER_LOCK_WINDOW && d < FA_RULE_OWNER_LOCK_WINDOW) {
				fa_layout.owner_list_offset = cand[i];
				fa_layout.owner_list_futex_offset = d;
				break;
			}
		}
	}
	pthread_mutex_unlock(&m);
	pthread_mutex_destroy(&m);
	pthread_mutexattr_destroy(&a);
}
#endif

/* What could not be found, and what that costs a clone with new TIDs. */
static const struct {
	unsigned bit;
	const char *text;
} problem_texts[] = {
	{ FA_LAYOUT_NO_DESC_TID, "the TID field of the thread descriptor was not found: with new TIDs, resurrected threads' descriptors keep their old TIDs (pthread_kill, pthread_join, owner-tracked locks misbehave)" },
	{ FA_LAYOUT_NO_OWNER_LIST, "musl's per-thread owner list was not found: with new TIDs, owners of recursive, errorcheck, PI and robust mutexes held by a non-forking thread are not rewritten" },
	{ FA_LAYOUT_NO_LDSO_LOCKS, "ld.so's recursive locks (_rtld_global) were not found (a static program?): with new TIDs, a dlopen/dl_iterate_phdr/TLS lock held by a non-forking thread keeps its old owner" },
};

static char warnings[768];
static char diagnostics[1536];

static void describe(void)
{
	size_t n = 0;
	for (unsigned i = 0; i < sizeof problem_texts / sizeof problem_texts[0]; i++)
		if (fa_layout.problems & problem_texts[i].bit)
			n += (size_t)snprintf(warnings + n, n < sizeof warnings ? sizeof warnings - n : 0, "%s%s", n ? "\n" : "", problem_texts[i].text);
#ifdef __GLIBC__
	const char *libc = "glibc", *version = gnu_get_libc_version();
#else
	const char *libc = "musl", *version = ""; /* musl has no run-time version call */
#endif
	n = (size_t)snprintf(diagnostics, sizeof diagnostics,
			     "{\"libc\":\"%s\",\"version\":\"%s\",\"descTidOffset\":%ld,\"rseqOffset\":%ld,\"rseqSize\":%u,"
			     "\"ownerListOffset\":%ld,\"ownerListFutexOffset\":%ld,\"ldsoLocks\":%s,\"ldsoLocksBytes\":%lu,\"warnings\":[",
			     libc, version, fa_layout.desc_tid_offset, fa_layout.rseq_offset, fa_layout.rseq_size,
			     fa_layout.owner_list_offset, fa_layout.owner_list_futex_offset, fa_layout.ldso_base ? "true" : "false",
			     (unsigned long)fa_layout.ldso_size);
	int first = 1;
	for (unsigned i = 0; i < sizeof problem_texts / sizeof problem_texts[0]; i++)
		if (fa_layout.problems & problem_texts[i].bit && n < sizeof diagnostics) {
			n += (size_t)snprintf(diagnostics + n, sizeof diagnostics - n, "%s\"%s\"", first ? "" : ",", problem_texts[i].text);
			first = 0;
		}
	if (n < sizeof diagnostics)
		snprintf(diagnostics + n, sizeof diagnostics - n, "]}");
}

__attribute__((constructor)) static void fa_layout_init(void)
{
	fa_layout.desc_tid_offset = find_desc_tid_offset();
	if (fa_layout.desc_tid_offset < 0)
		fa_layout.problems |= FA_LAYOUT_NO_DESC_TID;
	if (&__rseq_size && &__rseq_offset && __rseq_size) {
		fa_layout.rseq_size = __rseq_size;
		fa_layout.rseq_offset = __rseq_offset;
	}
#ifdef __GLIBC__
	find_ldso_locks();
	if (!fa_layout.ldso_base)
		fa_layout.problems |= FA_LAYOUT_NO_LDSO_LOCKS;
	dl_iterate_phdr(find_libc_rw, 0); /* not found (static glibc): nothing to scan */
#else
	find_owner_list();
	if (fa_layout.owner_list_offset < 0)
		fa_layout.problems |= FA_LAYOUT_NO_OWNER_LIST;
#endif
	describe();
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

__attribute__((visibility("default"))) const char *forkall_warnings(void) { return warnings; }
__attribute__((visibility("default"))) const char *forkall_diagnostics(void) { return diagnostics; }
