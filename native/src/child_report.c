/* "The child is whole": a clone is reported to the caller only once every
 * thread exists again and has its per-thread kernel state back (robust list,
 * rseq, name, affinity, scheduling, gs_base, capabilities). A thread whose state
 * could not be restored makes a failed clone: the child says which thread and
 * which call, exits before any thread runs program code, and the caller kills
 * and reaps it and fails with that message.
 * The report travels through one shared anonymous page made for each fork (no
 * descriptor: a process at its file limit can still forkall), or lent by a
 * caller that forks often (op->report_pool: the agent); the caller sleeps
 * on it as a shared futex and looks whether the child died meanwhile. A caller
 * that must also watch descriptors (the agent) names an eventfd in
 * op->report_wake_fd: the child signals it too, so the caller's poll wakes on
 * the report instead of looking at the page on a timer. */
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include "engine.h"

enum { REPORT_PENDING = 0, REPORT_WHOLE = 1, REPORT_FAILED = 2 };

struct fa_report {
	volatile int state;
	volatile int copied;	/* the child has its own copy of every descriptor page */
	int owner;		/* PID of the process that made the page (it alone reuses it) */
	int err;		/* errno of the failed call */
	int tid;		/* the thread at fault (its TID in the caller's process) */
	char call[48];		/* what failed */
	uint64_t stamps[FA_TC_N]; /* the child's phase stamps (timing.c) */
};

#define FA_FUTEX_WAIT_SHARED 0
#define FA_FUTEX_WAKE_SHARED 1
#define AWAIT_LIMIT_MS 60000 /* a child that is neither whole nor dead by then is killed */

/* One page kept from the last fork for the next: an mmap and a munmap less per
 * forkall (the munmap flushed the TLB of every CPU the caller's threads run on).
 * Only its maker reuses it: a process forked from it (plain fork, or a clone
 * that inherited a page still being awaited) shares the page and must not
 * write it, so it only unmaps its own mapping. The child of the fork a page
 * serves has written its last byte there once the caller saw its state (or
 * is dead), so a page back from fa_report_await is free. Exchanged
 * atomically: two threads may be in fa_report_await and fa_report_create at
 * once (forkall callers are serialised only up to their release). */
static struct fa_report *spare;

static void unmap(struct fa_report *r) { fa_sys2(SYS_munmap, r, 4096); }

int fa_report_create(struct fa_op *op)
{
	if (op->report_pool && op->report) {
		/* a page lent from the agent's pool, used before: only what a report reads is reset */
		struct fa_report *r = op->report;
		r->err = 0;
		r->tid = 0;
		r->copied = 0;
		r->call[0] = 0;
		for (int i = 0; i < FA_TC_N; i++)
			r->stamps[i] = 0;
		__atomic_store_n(&r->state, REPORT_PENDING, __ATOMIC_SEQ_CST);
		return 0;
	}
	struct fa_report *r = __atomic_exchange_n(&spare, (struct fa_report *)0, __ATOMIC_SEQ_CST);
	if (r && r->owner != op->pid) {
		unmap(r);
		r = 0;
	}
	if (r) {
		for (size_t i = 0; i < sizeof *r; i++)
			((volatile char *)r)[i] = 0;
	} else {
		long p = fa_sys6(SYS_mmap, 0, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
		if (p < 0 && p > -4096) {
			op->report = 0;
			return fa_fail((int)-p, "cannot map the page through which the clone reports (errno %ld)", -p);
		}
		r = (struct fa_report *)p;
	}
	r->owner = op->pid;
	op->report = r;
	return 0;
}

/* The caller is done with the page: kept for the next fork if it made it. */
void fa_report_drop(struct fa_op *op)
{
	struct fa_report *r = op->report, *none = 0;
	if (op->report_pool) { /* lent from the agent's pool: never unmapped here */
		op->report = 0;
		return;
	}
	op->report = 0;
	if (!r)
		return;
	if (r->owner != fa_getpid() ||
	    !__atomic_compare_exchange_n(&spare, &none, r, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
		unmap(r);
}

/* In the child, once reported: the page (or the caller's whole pool) must not
 * be shared with this clone's own children, nor be seen by its program. */
static void child_drop(struct fa_op *op)
{
	if (op->report_pool)
		fa_sys2(SYS_munmap, op->report_pool, op->report_pool_len);
	else if (op->report)
		unmap(op->report);
	op->report = 0;
	op->report_pool = 0;
}

void fa_report_child(struct fa_op *op, int err, int tid, const char *call)
{
	struct fa_report *r = op->report;
	if (!r)
		return;
	if (err) {
		r->err = err;
		r->tid = tid;
		size_t i = 0;
		for (; call && call[i] && i + 1 < sizeof r->call; i++)
			r->call[i] = call[i];
		r->call[i] = 0;
	}
	r->stamps[FA_TC_REPORTED] = fa_tsc();
	__atomic_store_n(&r->state, err ? REPORT_FAILED : REPORT_WHOLE, __ATOMIC_SEQ_CST);
	fa_sys3(SYS_futex, &r->state, FA_FUTEX_WAKE_SHARED, 1);
	if (op->report_wake_fd >= 0) {
		static const uint64_t one = 1;
		fa_sys3(SYS_write, op->report_wake_fd, &one, 8);
		fa_sys1(SYS_close, op->report_wake_fd); /* the template's: not for the clone's program */
		op->report_wake_fd = -1;
	}
	if (err)
		fa_sys1(SYS_exit_group, 127); /* the caller kills and reaps us anyway */
	child_drop(op);
}

void fa_report_stamp(struct fa_op *op, int phase)
{
	if (op->report)
		op->report->stamps[phase] = fa_tsc();
}

/* The parent's threads, once released, each write their rseq area (the kernel
 * does, returning to user space after a sleep): a page the fork made
 * copy-on-write. While the child still shares the page, that write copies it
 * and flushes the TLB of every CPU running the parent (an IPI, dear in a
 * virtual machine): 27% of the parent's CPU time at 512 threads. The child
 * copies those pages anyway, first thing (fa_pages_child_descriptors, local
 * flushes only: it has one thread then); after that the parent's write merely
 * reuses its now unshared page. So the caller waits for this word before it
 * releases its threads, but never longer than the faults would cost (the wait
 * only saves time; it is not needed for correctness). */
void fa_report_copied(struct fa_op *op)
{
	struct fa_report *r = op->report;
	if (!r)
		return;
	__atomic_store_n(&r->copied, 1, __ATOMIC_SEQ_CST);
	if (fa_copied_awaited(op))
		fa_sys3(SYS_futex, &r->copied, FA_FUTEX_WAKE_SHARED, 1);
}

static long now_us(void)
{
	struct { long s, ns; } ts;
	fa_sys2(SYS_clock_gettime, 1 /* CLOCK_MONOTONIC */, &ts);
	return ts.s * 1000000L + ts.ns / 1000;
}

void fa_report_await_copied(struct fa_op *op, long pid, unsigned threads)
{
	struct fa_report *r = op->report;
	if (!r || pid <= 0 || !fa_copied_awaited(op))
		return;
	long limit = now_us() + 200 + 25L * threads; /* about what the faults would cost here */
	for (;;) {
		if (__atomic_load_n(&r->copied, __ATOMIC_SEQ_CST) || __atomic_load_n(&r->state, __ATOMIC_SEQ_CST) != REPORT_PENDING)
			return;
		long left = limit - now_us();
		if (left <= 0)
			return;
		struct { long s, ns; } ts = { 0, (left < 1000 ? left : 1000) * 1000 };
		fa_sys4(SYS_futex, &r->copied, FA_FUTEX_WAIT_SHARED, 0, &ts);
		/* a child that died (or failed) early never copies: look, without reaping */
		siginfo_t si;
		si.si_pid = 0;
		if (fa_sys5(SYS_waitid, P_PID, pid, &si, WEXITED | WNOHANG | WNOWAIT | __WALL, 0) < 0 || si.si_pid)
			return;
	}
}

int fa_report_pending(const struct fa_report *r)
{
	return r && __atomic_load_n(&r->state, __ATOMIC_SEQ_CST) == REPORT_PENDING;
}

static void kill_and_reap(long pid, int reaped)
{
	if (reaped)
		return;
	fa_sys2(SYS_kill, pid, SIGKILL);
	int st;
	while (fa_sys4(SYS_wait4, pid, &st, __WALL, 0) == -4)
		;
}

long fa_report_await(struct fa_op *op, long pid)
{
	struct fa_report *r = op->report;
	if (!r || pid <= 0)
		return pid;
	long start = fa_now_ms();
	int status = 0, reaped = 0;
	for (;;) {
		int s = __atomic_load_n(&r->state, __ATOMIC_SEQ_CST);
		if (s != REPORT_PENDING)
			break;
		struct { long s, ns; } ts = { 0, 20000000 };
		long w = fa_sys4(SYS_futex, &r->state, FA_FUTEX_WAIT_SHARED, REPORT_PENDING, &ts);
		if (w == -110 && __atomic_load_n(&r->state, __ATOMIC_SEQ_CST) == REPORT_PENDING) {
			long dead = fa_sys4(SYS_wait4, pid, &status, WNOHANG | __WALL, 0);
			if (dead == pid || dead == -10 /* ECHILD: reaped by someone else */) {
				reaped = 1;
				break;
			}
			if (fa_now_ms() - start > AWAIT_LIMIT_MS)
				break;
		}
	}
	int state = __atomic_load_n(&r->state, __ATOMIC_SEQ_CST);
	for (int i = 0; i < FA_TC_N; i++)
		fa_timing.child[i] = r->stamps[i];
	if (state == REPORT_WHOLE) {
		fa_report_drop(op);
		return pid;
	}
	kill_and_reap(pid, reaped);
	long ret;
	if (state == REPORT_FAILED)
		ret = fa_fail(r->err, "the clone (PID %ld) could not restore thread %d's state: %s failed (errno %d); "
				      "it was killed",
			      pid, r->tid, r->call, r->err);
	else if (reaped)
		ret = fa_fail(10, "the clone (PID %ld) ended before all its threads were re-created (wait status 0x%x)",
			      pid, status);
	else
		ret = fa_fail(110, "the clone (PID %ld) did not re-create its threads within %d ms; it was killed", pid,
			      AWAIT_LIMIT_MS);
	fa_report_drop(op);
	return ret;
}
