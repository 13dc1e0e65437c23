/* In the child every thread has a new TID. Locks that record their owner's TID
 * would then look owned by a thread of the parent. Before any resurrected
 * thread runs, rewrite the owners that can be found exactly:
 *  - each thread's robust-futex list (lock word; glibc's __owner too), which
 *    covers robust and robust-PI mutexes; with musl, the descriptor's owner
 *    list, which also holds its recursive, errorcheck and PI mutexes;
 *  - ld.so's recursive locks in glibc's _rtld_global (dlopen, dl_iterate_phdr,
 *    TLS setup take them);
 *  - glibc's own rwlocks in libc.so.6's data (the locale lock: setlocale and a
 *    locale's first mbstowcs hold it for writing), whose writer TID decides
 *    whether an unlock is a writer's.
 * Other TID-owned locks (plain recursive/errorcheck/PI mutexes, the program's
 * rwlocks) are not on any list; docs/semantics.md documents what happens to them. */
#include <sys/uio.h>
#include "engine.h"
#include "layout_rules.h"

/* The patterns are the shared rules (layout_rules.h), also used by the remote engine. */
#define FUTEX_TID_MASK FA_RULE_FUTEX_TID_MASK
#define ROBUST_LIST_LIMIT FA_RULE_OWNER_LIST_LIMIT
#define GLIBC_OWNER_WORD (FA_RULE_GLIBC_MUTEX_OWNER / (int)sizeof(int))

#ifdef __GLIBC__
/* A lock found by shape in a region of libc's or ld.so's data. */
struct lock_shape {
	size_t step, bytes;
	int (*held)(const int *m);
	int owner_word;		/* index of the owner TID in the candidate */
};

/* ld.so's locks: held recursive mutexes. */
static int ldso_lock_held(const int *m)
{
	return m[0] != 0 && m[FA_RULE_LDSO_LOCK_COUNT / 4] >= 1 && m[FA_RULE_LDSO_LOCK_OWNER / 4] > 0 &&
	       (m[FA_RULE_LDSO_LOCK_KIND / 4] & FA_RULE_LDSO_LOCK_KIND_MASK) == FA_RULE_LDSO_LOCK_KIND_RECURSIVE;
}
static const struct lock_shape ldso_locks = { FA_RULE_LDSO_LOCK_STEP, FA_RULE_LDSO_LOCK_BYTES, ldso_lock_held,
					      FA_RULE_LDSO_LOCK_OWNER / 4 };

/* libc's own rwlocks: write-locked, futex words that are futex words, zero
 * padding, a writer TID (layout_rules.h says why each). */
static int rwlock_write_held(const int *m)
{
	unsigned wrphase = (unsigned)m[FA_RULE_RWLOCK_WRPHASE_FUTEX / 4], writers = (unsigned)m[FA_RULE_RWLOCK_WRITERS_FUTEX / 4];
	return (m[FA_RULE_RWLOCK_READERS / 4] & FA_RULE_RWLOCK_WRLOCKED) && (writers & 1) && writers <= FA_RULE_RWLOCK_FUTEX_MAX &&
	       wrphase <= FA_RULE_RWLOCK_FUTEX_MAX && m[FA_RULE_RWLOCK_PAD / 4] == 0 && m[FA_RULE_RWLOCK_PAD / 4 + 1] == 0 &&
	       m[FA_RULE_RWLOCK_CUR_WRITER / 4] > 0;
}
static const struct lock_shape libc_rwlocks = { FA_RULE_RWLOCK_STEP, FA_RULE_RWLOCK_BYTES, rwlock_write_held,
						FA_RULE_RWLOCK_CUR_WRITER / 4 };

/* The next held lock of that shape at or after *off in [p, p + size), or NULL.
 * Always inlined, as are its two callers, with a constant shape: the test is
 * then inlined too instead of an indirect call every 8 bytes (libc's writable
 * segment is 75 KB: 9,400 calls in the parent and as many in the child, 4% of
 * all the CPU time of an 8-thread forkall). */
static inline __attribute__((always_inline)) int *next_held(char *p, size_t size, const struct lock_shape *sh, size_t *off)
{
	for (; p && *off + sh->bytes <= size; *off += sh->step) {
		int *m = (int *)(p + *off);
		if (sh->held(m)) {
			*off += sh->step;
			return m;
		}
	}
	return 0;
}
#endif

struct robust_head {
	void *next;
	long futex_offset;
	void *list_op_pending;
};

/* Copies len bytes from possibly bad memory without faulting (a corrupt
 * robust list must not crash the child): asked first (readable.c), then read;
 * process_vm_readv only when the kernel would not say. */
static int safe_read(const void *addr, void *out, size_t len)
{
	int ok = fa_readable(addr, len);
	if (ok > 0) {
		for (size_t i = 0; i < len; i++)
			((char *)out)[i] = ((const volatile char *)addr)[i];
		return 1;
	}
	if (ok == 0)
		return 0;
	struct iovec local = { out, len }, remote = { (void *)addr, len };
	return fa_sys6(SYS_process_vm_readv, fa_getpid(), (long)&local, 1, (long)&remote, 1, 0) == (long)len;
}

static int safe_read_ptr(const void *addr, void **out) { return safe_read(addr, out, sizeof *out); }

static void fix_lock_word(int *word, int old, int new)
{
	int copy[3];
	if (!safe_read(word, copy, sizeof copy))
		return;
	int w = copy[0];
	if ((w & FUTEX_TID_MASK) == old)
		*word = (w & ~FUTEX_TID_MASK) | new;
#ifdef __GLIBC__
	/* struct __pthread_mutex_s: __lock, __count, __owner */
	if (word[GLIBC_OWNER_WORD] == old)
		word[GLIBC_OWNER_WORD] = new;
#endif
}

static void fix_robust_list(void *head_ptr, int old, int new)
{
	struct robust_head *head = head_ptr;
	void *entry;
	if (!head || !new || !safe_read_ptr(&head->next, &entry))
		return;
	long off = head->futex_offset ? head->futex_offset : fa_layout.owner_list_futex_offset;
	if (!off)
		return;
	for (int n = 0; entry && entry != (void *)head && n < ROBUST_LIST_LIMIT; n++) {
		fix_lock_word((int *)((char *)entry + off), old, new);
		if (!safe_read_ptr(entry, &entry))
			break;
	}
	if (head->list_op_pending)
		fix_lock_word((int *)((char *)head->list_op_pending + off), old, new);
}

#ifdef __GLIBC__
static int new_tid_for(int old, int self_old, int self_new)
{
	if (old == self_old)
		return self_new;
	struct fa_slot *s = fa_slot_of(old);
	return s && s->state == FA_PARKED ? s->new_tid : 0;
}

/* Held locks of that shape owned by one of ours get the owner's new TID. */
static inline __attribute__((always_inline)) void fix_by_shape(char *p, size_t size, const struct lock_shape *sh, int self_old, int self_new)
{
	size_t off = 0;
	for (int *m; (m = next_held(p, size, sh, &off));) {
		int n = new_tid_for(m[sh->owner_word], self_old, self_new);
		if (n)
			m[sh->owner_word] = n;
	}
}

/* The held locks of libc's and ld.so's data that the child must rewrite,
 * found once by the parent while its threads are parked (fa_owners_need_gate)
 * instead of by a scan in every child. The scan reads 75 KB of libc's
 * writable segment: in a fresh child each of those ~20 pages is a first touch
 * of the new address space, dear in a virtual machine (5% of a template
 * clone's CPU time, all of it on the child's path before its threads exist).
 * Exact: between the parent's scan and the fork only the forking thread runs,
 * and it is inside the engine (or the agent's loop), where it takes and
 * releases no libc or ld.so lock; what it held at the scan it still holds.
 * The child checks each recorded lock's shape and owner again before it
 * rewrites it. More held locks than PLAN_MAX (never seen: a few at most):
 * the child scans as before. */
#define PLAN_MAX 32
static struct planned_lock {
	int *lock;
	const struct lock_shape *shape;
} plan[PLAN_MAX];
static int plan_len = -1; /* -1: no plan (overflow, or no scan yet): scan */

/* Records the held locks of that shape owned by the caller or a parked thread;
 * returns 1 if one of them is a parked thread's (the child's threads must then
 * wait for the rewrite), 0 if not, and sets plan_len to -1 on overflow. */
static inline __attribute__((always_inline)) int plan_shape(char *p, size_t size, const struct lock_shape *sh, int self_tid)
{
	size_t off = 0;
	int parked_owner = 0;
	for (int *m; (m = next_held(p, size, sh, &off));) {
		int owner = m[sh->owner_word];
		if (owner != self_tid && !fa_slot_of(owner))
			continue;
		parked_owner |= owner != self_tid;
		if (plan_len >= 0 && plan_len < PLAN_MAX)
			plan[plan_len++] = (struct planned_lock){ m, sh };
		else
			plan_len = -1;
	}
	return parked_owner;
}
#endif

/* In the parent, threads parked: does any thread other than the caller own a
 * lock we would rewrite? If not, the child's threads need not wait for the
 * rewrite (no gate), which saves each of them a sleep and a wake-up. */
int fa_owners_need_gate(struct fa_op *op)
{
	int gate = 0;
	for (unsigned i = 0; i < op->nslots && !gate; i++) {
		struct fa_slot *s = &fa_area.slots[i];
		struct robust_head h;
		if (s->state != FA_PARKED || !s->owner_list)
			continue;
		if (!safe_read(s->owner_list, &h, sizeof h))
			continue;
		if ((h.next && h.next != s->owner_list) || h.list_op_pending)
			gate = 1;
	}
	op->lists_held = gate;
#ifdef __GLIBC__
	plan_len = 0; /* both regions are scanned whole: the plan is complete */
	gate |= plan_shape(fa_layout.ldso_base, fa_layout.ldso_size, &ldso_locks, op->self_tid);
	gate |= plan_shape(fa_layout.libc_rw_base, fa_layout.libc_rw_size, &libc_rwlocks, op->self_tid);
#endif
	return gate;
}

void fa_fix_owners(struct fa_op *op, int self_new)
{
	fix_robust_list(op->self_owner_list, op->self_tid, self_new);
	/* The parked threads' lists were all empty when the parent looked
	 * (fa_owners_need_gate; parked, they cannot have changed): nothing to
	 * walk, and each walk costs the child a readability probe per thread. */
	for (unsigned i = 0; op->lists_held && i < op->nslots; i++) {
		struct fa_slot *s = &fa_area.slots[i];
		if (s->state == FA_PARKED)
			fix_robust_list(s->owner_list, s->tid, s->new_tid);
	}
#ifdef __GLIBC__
	if (plan_len < 0) {
		fix_by_shape(fa_layout.ldso_base, fa_layout.ldso_size, &ldso_locks, op->self_tid, self_new);
		fix_by_shape(fa_layout.libc_rw_base, fa_layout.libc_rw_size, &libc_rwlocks, op->self_tid, self_new);
		return;
	}
	for (int i = 0; i < plan_len; i++) {
		int *m = plan[i].lock;
		const struct lock_shape *sh = plan[i].shape;
		int n = sh->held(m) ? new_tid_for(m[sh->owner_word], op->self_tid, self_new) : 0;
		if (n)
			m[sh->owner_word] = n;
	}
#endif
}
