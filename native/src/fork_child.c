/* The child side: a raw fork (glibc's fork() would take locks that parked
 * threads may hold, run atfork handlers and tear down the other threads' libc
 * bookkeeping), then one new thread per parked thread. Each new thread starts
 * on an engine stack, restores what is per thread in the kernel, waits at the
 * gate, and returns through its own parked signal frame. */
#include <signal.h>
#include <limits.h>
#include <sched.h>
#include "engine.h"

long fa_raw_fork(void)
{
	/* No CLONE_CHILD_SETTID/CLEARTID: the forking thread's clear_child_tid is
	 * put back in the child with set_tid_address (glibc uses &pd->tid, musl a
	 * global lock: only the saved value is right for both). */
	return fa_sys5(SYS_clone, SIGCHLD, 0, 0, 0, 0);
}

/* Exact-TID mode inside a user namespace: threads are created with the
 * namespace's full capability set; give them back the caller's. */
static const uint32_t *fa_child_caps;

static long set_caps(const uint32_t *caps)
{
	struct { uint32_t version; int pid; } hdr = { 0x20080522, 0 };
	return fa_sys2(SYS_capset, &hdr, caps);
}

/* Remembers the first call that failed for this thread (its errno, positive). */
static int failed(struct fa_slot *s, long r, const char *call)
{
	if (r >= 0)
		return 0;
	s->restore_err = (int)-r;
	s->restore_call = call;
	return 1;
}

/* Puts back what the kernel keeps per thread and a new thread does not
 * inherit. A failure is recorded in the slot: the forking thread turns it into
 * a failed clone before any thread returns to the program. */
static void restore_thread(struct fa_slot *s)
{
	s->restore_err = 0;
	if (s->robust_head && failed(s, fa_sys2(SYS_set_robust_list, s->robust_head, s->robust_len), "set_robust_list"))
		return;
	if (s->rseq_registered) {
		unsigned len = fa_layout.rseq_size < 32 ? 32 : fa_layout.rseq_size;
		if (failed(s, fa_sys4(SYS_rseq, s->fs_base + fa_layout.rseq_offset, len, 0, FA_RSEQ_SIG), "rseq"))
			return;
	}
	if (s->name[0] && !s->name_inherited && failed(s, fa_sys2(SYS_prctl, FA_PR_SET_NAME, s->name), "prctl(PR_SET_NAME)"))
		return;
	if (s->affinity_len && !s->affinity_inherited &&
	    failed(s, fa_sys3(SYS_sched_setaffinity, 0, s->affinity_len, s->affinity), "sched_setaffinity"))
		return;
	if (s->sched_ok && !s->sched_inherited) {
		s->sched.size = sizeof s->sched;
		if (failed(s, fa_sys3(SYS_sched_setattr, 0, &s->sched, 0), "sched_setattr"))
			return;
	}
	if (s->gs_base && failed(s, fa_sys2(SYS_arch_prctl, ARCH_SET_GS, s->gs_base), "arch_prctl(ARCH_SET_GS)"))
		return;
	if (fa_child_caps && failed(s, set_caps(fa_child_caps), "capset"))
		return;
}

static void wait_gate(void)
{
	while (!__atomic_load_n(&fa_sync.gate, __ATOMIC_ACQUIRE))
		fa_futex_wait(&fa_sync.gate, 0, 0);
}

/* First code of a resurrected thread, on an engine stack, every signal blocked
 * (inherited from the forking thread). Raw system calls only. It restores its
 * state, checks in, and waits at the gate until the forking thread has found
 * every thread whole (and rewritten lock owners). */
static void resurrect_entry(void *arg)
{
	struct fa_slot *s = arg;
	restore_thread(s);
	int n = __atomic_add_fetch(&fa_sync.restored, 1, __ATOMIC_SEQ_CST);
	if (n == __atomic_load_n(&fa_sync.restore_target, __ATOMIC_SEQ_CST))
		fa_futex_wake(&fa_sync.restored, 1);
	wait_gate();
	fa_resume(s->uc, &fa_sync.departing);
}

static long create_thread(struct fa_op *op, struct fa_slot *s, unsigned i, unsigned long flags)
{
	char *stack = fa_area.stacks + (size_t)i * FA_STACK;
	if (!op->exact)
		return fa_clone_thread(flags, stack + FA_STACK, s->desc_tid, s->clear_child_tid, s->fs_base,
				       resurrect_entry, s);
	/* clone3 with set_tid: the thread gets its old TID (we are in a PID
	 * namespace of our own, where that number is free). */
	pid_t tid = s->tid;
	void **top = (void **)(stack + FA_STACK);
	top[-2] = (void *)resurrect_entry;
	top[-1] = s;
	struct fa_clone_args a = {
		.flags = flags,
		.parent_tid = (uintptr_t)s->desc_tid,
		.child_tid = (uintptr_t)s->clear_child_tid,
		.stack = (uintptr_t)stack,
		.stack_size = FA_STACK,
		.tls = s->fs_base,
		.set_tid = (uintptr_t)&tid,
		.set_tid_size = 1,
	};
	return fa_clone3_thread(&a, sizeof a);
}

/* The forking thread's own state (a fork keeps rseq, affinity and scheduling). */
static void restore_self(struct fa_op *op, int *new_tid)
{
	long tid = fa_sys1(SYS_set_tid_address, op->self_clear_child_tid);
	*new_tid = (int)tid;
	if (op->self_desc_tid)
		*op->self_desc_tid = (int)tid;
	long r = op->self_robust_head ? fa_sys2(SYS_set_robust_list, op->self_robust_head, op->self_robust_len) : 0;
	if (r < 0)
		fa_report_child(op, (int)-r, op->self_tid, "set_robust_list");
}

/* Waits until every created thread has restored its state; then the child is
 * whole unless one of them (or the heir, restored by the forking thread) failed:
 * report it either way (a failure does not return). */
static void report_whole(struct fa_op *op)
{
	int n, want = __atomic_load_n(&fa_sync.restore_target, __ATOMIC_SEQ_CST);
	while ((n = __atomic_load_n(&fa_sync.restored, __ATOMIC_SEQ_CST)) < want)
		fa_futex_wait(&fa_sync.restored, n, 0);
	fa_report_stamp(op, FA_TC_RESTORED);
	for (unsigned i = 0; i < op->nslots; i++) {
		struct fa_slot *s = &fa_area.slots[i];
		if (s->state == FA_PARKED && s->restore_err)
			fa_report_child(op, s->restore_err, s->tid, s->restore_call);
	}
	fa_report_child(op, 0, 0, 0);
}

static void open_gate(void)
{
	__atomic_store_n(&fa_sync.gate, 1, __ATOMIC_RELEASE);
	fa_futex_wake(&fa_sync.gate, INT_MAX);
}

/* The forking thread takes over parked thread s in the child instead of
 * re-creating it: the agent's thread becomes the program's main thread, so the
 * clone's PID is the main thread's TID (exact-TID mode: the template's PID) and
 * the clone has exactly the program's threads. Never returns. */
static __attribute__((noreturn)) void become(struct fa_op *op, struct fa_slot *s)
{
	if (op->self_rseq_registered) {
		unsigned len = fa_layout.rseq_size < 32 ? 32 : fa_layout.rseq_size;
		fa_sys4(SYS_rseq, op->self_fs + fa_layout.rseq_offset, len, 1 /* RSEQ_FLAG_UNREGISTER */, FA_RSEQ_SIG);
	}
	long tid = fa_sys1(SYS_set_tid_address, s->clear_child_tid);
	if (s->desc_tid)
		*s->desc_tid = (int)tid;
	fa_sys2(SYS_arch_prctl, ARCH_SET_FS, s->fs_base);
	restore_thread(s); /* the rest, as for a new thread */
	report_whole(op);
	open_gate();
	fa_resume(s->uc, &fa_sync.departing); /* ... ending in its frame */
}

/* Waits until no resurrected thread of an earlier snapshot uses engine memory. */
void fa_wait_departed(void)
{
	int d;
	while ((d = __atomic_load_n(&fa_sync.departing, __ATOMIC_ACQUIRE)) != 0)
		fa_futex_wait(&fa_sync.departing, d, 0);
}

/* Runs in the child, on the forking thread. Returns once every thread exists
 * and has been let go; they finish their way back into the program on their own. */
void fa_child_resurrect(struct fa_op *op, void (*child_setup)(void *), void *arg)
{
	int self_new = 0;
	fa_report_stamp(op, FA_TC_FORKED);
	if (op->parent_death_signal) {
		/* Sent when the thread that forked us (the agent's) ends, i.e. when the
		 * template dies; it may have died already: then go now. In exact-TID
		 * mode our parent is the namespace init, which has its own. */
		fa_sys2(SYS_prctl, FA_PR_SET_PDEATHSIG, op->parent_death_signal);
		if (!op->exact && fa_sys0(SYS_getppid) != op->pid)
			fa_sys1(SYS_exit_group, 127);
	}
	restore_self(op, &self_new);
	/* first: the parent waits for these copies before releasing its threads */
	fa_pages_child_descriptors(op); /* one system call each, not a fault inside each clone */
	fa_report_copied(op);
	/* The engine's memory the new threads write (their stacks, their slots,
	 * the sync words), made the child's own while it has one thread: no
	 * copy-on-write fault (nor its TLB shootdown) once threads run on every
	 * CPU. So the new threads restore their state on the other CPUs while
	 * this one creates the next (they used to be pinned to this CPU for the
	 * sake of those faults, and each then set its affinity back). */
	fa_pages_child_engine(op);
	if (child_setup)
		child_setup(arg);
	fa_report_stamp(op, FA_TC_SETUP);
	/* Threads wait at the gate until the child is known whole (and lock owners
	 * are rewritten): no thread runs program code in a clone that fails. The
	 * caller's own locks are rewritten before any thread exists. It also keeps
	 * a thread from signalling a sibling not re-created yet (the signal would
	 * be lost: Go sends its preemption signal once and waits, and a clone's GC
	 * stalled for ever in 1 of 3 exact-TID agent clones before the gate). */
	fa_sync.gate = 0;
	if (!op->need_gate)
		fa_fix_owners(op, self_new);
	fa_sync.parking = 0;
	/* the parked threads were inside the handler; their copies return through
	 * their frames and never leave it, and skipped threads do not exist here */
	fa_sync.inside = 0;
	fa_sync.drain_waiting = 0;
	unsigned alive = op->nslots - op->ndead;
	fa_sync.departing = (int)alive;
	fa_child_caps = op->exact && op->exact_userns ? op->caps : 0;
	const unsigned long base = CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD |
				   CLONE_SYSVSEM | CLONE_SETTLS;
	struct fa_slot *heir = op->become_tid ? fa_slot_of(op->become_tid) : 0;
	if (heir && heir->state != FA_PARKED)
		heir = 0;
	if (heir)
		heir->new_tid = self_new;
	fa_sync.restored = 0;
	fa_sync.restore_target = (int)alive - (heir ? 1 : 0);
	for (unsigned i = 0; i < op->nslots; i++) {
		struct fa_slot *s = &fa_area.slots[i];
		if (s->state != FA_PARKED || s == heir)
			continue;
		unsigned long flags = base;
		if (s->desc_tid)
			flags |= CLONE_PARENT_SETTID; /* the libc descriptor learns the new TID */
		if (s->clear_child_tid)
			flags |= CLONE_CHILD_CLEARTID; /* pthread_join and musl's list lock rely on it */
		long r = create_thread(op, s, i, flags);
		if (r < 0)
			fa_report_child(op, (int)-r, s->tid, op->exact ? "clone3 (re-creating the thread)" : "clone (re-creating the thread)");
		s->new_tid = (int)r;
	}
	fa_report_stamp(op, FA_TC_CREATED);
	if (op->need_gate)
		fa_fix_owners(op, self_new);
	if (heir) {
		/* what fa_snapshot_fork would do after we return, but the heir's own
		 * signal mask comes back from its frame */
		fa_table_done();
		fa_restore_handler(op);
		fa_unlock();
		become(op, heir); /* reports and opens the gate once it has its state */
	}
	if (fa_child_caps) {
		long r = set_caps(fa_child_caps);
		if (r < 0)
			fa_report_child(op, (int)-r, op->self_tid, "capset");
	}
	report_whole(op);
	open_gate();
	/* Resurrected threads may still be on engine stacks; the next snapshot in
	 * this process waits for them (fa_wait_departed) before reusing them, so the
	 * child's program need not wait here. */
	fa_table_done();
}
