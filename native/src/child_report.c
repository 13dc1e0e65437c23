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
	int err;		/* errno of the failed call */
	int tid;		/* the thread at fault (its TID in the caller's process) */
	char call[48];		/* what failed */
	uint64_t stamps[FA_TC_N]; /* the child's phase stamps (timing.c) */
};

#define FA_FUTEX_WAIT_SHARED 0
#define FA_FUTEX_WAKE_SHARED 1
#define AWAIT_LIMIT_MS 60000 /* a child that is neither whole nor dead by then is killed */

int fa_report_create(struct fa_op *op)
{
	if (op->report_pool && op->report) {
		/* the caller's page, used before: only what a report reads is reset */
		struct fa_report *r = op->report;
		r->err = 0;
		r->tid = 0;
		r->call[0] = 0;
		for (int i = 0; i < FA_TC_N; i++)
			r->stamps[i] = 0;
		__atomic_store_n(&r->state, REPORT_PENDING, __ATOMIC_SEQ_CST);
		return 0;
	}
	long p = fa_sys6(SYS_mmap, 0, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (p < 0 && p > -4096) {
		op->report = 0;
		return fa_fail((int)-p, "cannot map the page through which the clone reports (errno %ld)", -p);
	}
	op->report = (struct fa_report *)p;
	return 0;
}

void fa_report_drop(struct fa_op *op)
{
	if (op->report && !op->report_pool)
		fa_sys2(SYS_munmap, op->report, 4096);
	op->report = 0;
}

/* In the child, once reported: the page (or the caller's whole pool) must not
 * be shared with this clone's own children, nor be seen by its program. */
static void child_drop(struct fa_op *op)
{
	if (op->report_pool)
		fa_sys2(SYS_munmap, op->report_pool, op->report_pool_len);
	else if (op->report)
		fa_sys2(SYS_munmap, op->report, 4096);
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
