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
/* m points at a candidate ld.so lock: is it a held recursive mutex? */
static int ldso_lock_held(const int *m)
{
	return m[0] != 0 && m[FA_RULE_LDSO_LOCK_COUNT / 4] >= 1 && m[FA_RULE_LDSO_LOCK_OWNER / 4] > 0 &&
	       (m[FA_RULE_LDSO_LOCK_KIND / 4] & FA_RULE_LDSO_LOCK_KIND_MASK) == FA_RULE_LDSO_LOCK_KIND_RECURSIVE;
}
#define LDSO_OWNER_WORD (FA_RULE_LDSO_LOCK_OWNER / 4)

/* m points at a candidate rwlock in libc's data: is it write-locked? */
static int rwlock_write_held(const int *m)
{
	return (m[FA_RULE_RWLOCK_READERS / 4] & FA_RULE_RWLOCK_WRLOCKED) && (m[FA_RULE_RWLOCK_WRITERS_FUTEX / 4] & 1) &&
	       m[FA_RULE_RWLOCK_CUR_WRITER / 4] > 0;
}
#define RWLOCK_WRITER_WORD (FA_RULE_RWLOCK_CUR_WRITER / 4)
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

/* ld.so's locks are recursive pthread mutexes inside _rtld_global: __lock != 0,
 * __count >= 1, __owner = a TID of ours, __kind = PTHREAD_MUTEX_RECURSIVE_NP. */
static void fix_ldso_locks(int self_old, int self_new)
{
	char *p = fa_layout.ldso_base;
	if (!p)
		return;
	for (size_t off = 0; off + FA_RULE_LDSO_LOCK_BYTES <= fa_layout.ldso_size; off += FA_RULE_LDSO_LOCK_STEP) {
		int *m = (int *)(p + off);
		if (!ldso_lock_held(m))
			continue;
		int n = new_tid_for(m[LDSO_OWNER_WORD], self_old, self_new);
		if (n)
			m[LDSO_OWNER_WORD] = n;
	}
}

/* libc's own rwlocks (the locale lock) held for writing by one of ours. */
static void fix_libc_rwlocks(int self_old, int self_new)
{
	char *p = fa_layout.libc_rw_base;
	for (size_t off = 0; p && off + FA_RULE_RWLOCK_BYTES <= fa_layout.libc_rw_size; off += FA_RULE_RWLOCK_STEP) {
		int *m = (int *)(p + off);
		if (!rwlock_write_held(m))
			continue;
		int n = new_tid_for(m[RWLOCK_WRITER_WORD], self_old, self_new);
		if (n)
			m[RWLOCK_WRITER_WORD] = n;
	}
}
#endif

/* In the parent, threads parked: does any thread other than the caller own a
 * lock we would rewrite? If not, the child's threads need not wait for the
 * rewrite (no gate), which saves each of them a sleep and a wake-up. */
int fa_owners_need_gate(struct fa_op *op)
{
	for (unsigned i = 0; i < op->nslots; i++) {
		struct fa_slot *s = &fa_area.slots[i];
		struct robust_head h;
		if (s->state != FA_PARKED || !s->owner_list)
			continue;
		if (!safe_read(s->owner_list, &h, sizeof h))
			continue;
		if ((h.next && h.next != s->owner_list) || h.list_op_pending)
			return 1;
	}
#ifdef __GLIBC__
	char *p = fa_layout.ldso_base;
	for (size_t off = 0; p && off + FA_RULE_LDSO_LOCK_BYTES <= fa_layout.ldso_size; off += FA_RULE_LDSO_LOCK_STEP) {
		int *m = (int *)(p + off);
		if (ldso_lock_held(m) && m[LDSO_OWNER_WORD] != op->self_tid && fa_slot_of(m[LDSO_OWNER_WORD]))
			return 1;
	}
	p = fa_layout.libc_rw_base;
	for (size_t off = 0; p && off + FA_RULE_RWLOCK_BYTES <= fa_layout.libc_rw_size; off += FA_RULE_RWLOCK_STEP) {
		int *m = (int *)(p + off);
		if (rwlock_write_held(m) && m[RWLOCK_WRITER_WORD] != op->self_tid && fa_slot_of(m[RWLOCK_WRITER_WORD]))
			return 1;
	}
#endif
	return 0;
}

void fa_fix_owners(struct fa_op *op, int self_new)
{
	fix_robust_list(op->self_owner_list, op->self_tid, self_new);
	for (unsigned i = 0; i < op->nslots; i++) {
		struct fa_slot *s = &fa_area.slots[i];
		if (s->state == FA_PARKED)
			fix_robust_list(s->owner_list, s->tid, s->new_tid);
	}
#ifdef __GLIBC__
	fix_ldso_locks(op->self_tid, self_new);
	fix_libc_rwlocks(op->self_tid, self_new);
#endif
}
