/* The scenario library: what every fidelity scenario uses to take its snapshot
 * and write the transcript that the test harness compares.
 *
 * A scenario puts threads into one known state, calls sc_snapshot(), then lets
 * the threads continue; parent and clone both log what each thread did with
 * sc_log(label, ...) and end with sc_finish(). Labels are logical thread names,
 * never TIDs: a correct clone writes exactly the parent's transcript.
 *
 * Engines (env FORKALL_SCENARIO_ENGINE):
 *   inprocess (default)  sc_snapshot() calls forkall_ex(); the parent reaps the
 *                        child in sc_finish() and fails unless it exited 0.
 *                        FORKALL_SCENARIO_EXACT=1 adds FORKALL_EXACT_TIDS;
 *                        FORKALL_SCENARIO_TIMEOUT_MS sets the park timeout.
 *   external             the main thread prints "READY <pid>" on stdout and
 *                        blocks in read(0): a controller clones the process
 *                        from outside, then writes one byte per process.
 *   agent                under libforkall-agent.so: sc_snapshot() calls
 *                        forkall_snapshot(); the frozen template never returns,
 *                        each clone writes $FORKALL_SCENARIO_OUT/clone-<pid>.log;
 *                        the template writes template.log (its transcript up
 *                        to the snapshot) just before it freezes.
 * Output: $FORKALL_SCENARIO_OUT/<parent|child>.log (or stdout if unset). */
#ifndef SCENARIO_H
#define SCENARIO_H

#include <sys/types.h>
#include <forkall.h>

enum sc_role { SC_PARENT = 0, SC_CHILD = 1 };

extern enum sc_role sc_role;
extern int sc_exact;

/* With new TIDs, locks that record the owner's TID and are not on a list that
 * forkall rewrites keep a stale owner in the clone (docs/semantics.md). glibc
 * lists only robust mutexes; musl lists every owner-tracked mutex. */
#ifdef __GLIBC__
#define SC_GLIBC 1
#else
#define SC_GLIBC 0
#endif
#define SC_STALE_OWNER (SC_GLIBC && sc_role == SC_CHILD && !sc_exact)	/* the snapshot keeps TIDs (inprocess engine with FORKALL_SCENARIO_EXACT=1) */

/* The engine is an outside one (FORKALL_SCENARIO_ENGINE=external): the
 * original's threads are stopped by a tracer, not parked in a signal handler,
 * so its interrupted system calls go on as if nothing happened (see
 * sc_interrupted_as_documented). */
int sc_engine_is_external(void);
/* The in-process engine makes the snapshot (forkall_ex() called by sc_snapshot);
 * false under the external and agent engines. A scenario that calls forkall()
 * itself to exercise the engine does so only when this is true. */
int sc_engine_is_inprocess(void);
/* For a call that the kernel resumes through restart_syscall (nanosleep, poll,
 * timed waits): was its outcome the documented one for this process? A clone
 * sees EINTR; so does the original with the in-process engine (its threads were
 * parked in a handler); with an outside engine the original's call goes on and
 * returns normally (r >= 0). */
int sc_interrupted_as_documented(int r, int err);
/* For a call that returns EINTR after any stop of its thread, ptrace's too
 * (epoll_wait): EINTR is documented for every process that went through a
 * snapshot, the original included; a program let go at its snapshot point
 * with no clone made (FORKALL_SCENARIO_UNCLONED=1, the reference run the
 * agent suite compares clones with) returns normally (r >= 0). */
int sc_eintr_as_documented(int r, int err);

/* Takes the snapshot with the engine chosen by the environment. */
enum sc_role sc_snapshot(void);
/* Same, with forkall options (inprocess engine only). */
enum sc_role sc_snapshot_with(struct forkall_options *opts);

/* For threads that may finish as soon as they resume (their wait can be ended
 * by the other process, through a shared pipe or socket): waits until this
 * process has counted its threads after the snapshot. */
void sc_wait_counted(void);

/* Appends "<label>\t<text>" to the transcript. Thread-safe. */
void sc_log(const char *label, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Logs "ok <what>" if got == want, else "MISMATCH <what>: got X want Y". */
void sc_check(const char *label, const char *what, long got, long want);
/* Writes the transcript, reaps the child (parent, inprocess), returns the exit code. */
int sc_finish(void);
/* Prints a one-line reason to stderr and exits 1. */
void sc_die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* The clone made by sc_snapshot (parent, inprocess engine), else -1. */
pid_t sc_clone_pid(void);
/* Children of the calling thread other than the snapshot's clone (from
 * /proc/self/task/<tid>/children): leaked or unreaped processes. */
int sc_other_children(void);
/* Leaves the "threads=" line out of the transcript (for scenarios whose
 * thread count at the snapshot is not deterministic, e.g. thread churn). */
void sc_no_thread_count(void);

/* A gate on a condition variable: workers check in and wait on it (their
 * state at the snapshot: blocked in pthread_cond_wait); main waits until all
 * have checked in, takes the snapshot, then opens it. */
#include <pthread.h>
struct sc_gate {
	pthread_mutex_t m;
	pthread_cond_t c;
	int arrived, open;
};
#define SC_GATE_INIT { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0 }
void sc_gate_pass(struct sc_gate *g);
void sc_gate_wait_arrivals(struct sc_gate *g, int n);
void sc_gate_open(struct sc_gate *g);

pid_t sc_gettid(void);
int sc_count_tasks(void);
/* Waits until thread tid sleeps in system call nr (-1: any); dies after a
 * generous deadline (120 s), never after a short fixed window. */
void sc_wait_blocked(pid_t tid, long nr);
/* Starts a thread; dies on failure. */
void sc_spawn(void *(*fn)(void *), void *arg, unsigned long *out);

#endif
