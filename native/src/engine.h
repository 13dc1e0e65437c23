/* Internal state shared by the parts of the in-process engine:
 *   park.c       stop every other thread in a signal handler and record it
 *   fork_child.c create the child process and re-create the threads in it
 *   owners.c     rewrite lock owners that record a TID
 *   area.c       the memory the engine uses (slots, TID table, stacks)
 *   tasks.c      /proc/self/task reading without libc
 *   thread_tls.c whether a thread's FS base is its own libc descriptor
 *   readable.c   whether memory can be read, without a fault
 *   child_report.c the child telling the caller it is whole (or what failed)
 *   layout.c     what we learn about the libc at load time
 *   error.c      forkall_strerror()
 *   exact.c      exact-TID mode: namespace init and set_tid
 *   snapshot.c   begin / fork / end of a snapshot (what forkall and the agent use)
 *   timing.c     per-phase time stamps of the last forkall (forkall_last_timing)
 *   own_pages.c  the pages parked threads write, made writable without faults
 *   forkall.c    the public entry points */
#ifndef FA_ENGINE_H
#define FA_ENGINE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "sys.h"

/* FA_UNSENT: the kernel refused to queue the parking signal (EAGAIN: the
 * signal queue limit); it is sent again while the others park. */
enum fa_slot_state { FA_SIGNALLED = 1, FA_PARKED = 2, FA_DEAD = 3, FA_UNSENT = 4 };

/* Internal outcomes of a parking round (never errno values): release everyone
 * and try again; the area is too small, grow it and try again. */
#define FA_E_RETRY (-100001)
#define FA_E_GROW (-100002)

/* Everything a parked thread tells about itself, written by the thread in its
 * handler, read by the forking thread and, in the child, by its resurrection. */
struct fa_slot {
	int tid;		/* TID in the parent */
	int new_tid;		/* TID in the child */
	volatile int state;	/* enum fa_slot_state */
	int name_inherited;	/* same name as the forking thread: a new thread has it already */
	int seccomp_mode;	/* prctl(PR_GET_SECCOMP) */
	void *uc;		/* ucontext_t of the parked signal frame */
	unsigned long frame_lo, frame_hi; /* what the handler and its signal frame wrote (own_pages.c) */
	unsigned long fs_base;
	unsigned long gs_base;
	int *clear_child_tid;	/* prctl(PR_GET_TID_ADDRESS) */
	int *desc_tid;		/* the libc descriptor's tid field, if found */
	void *robust_head;	/* registered with the kernel (get_robust_list) */
	size_t robust_len;
	void *owner_list;	/* the list of locks it owns: robust_head or libc's own */
	int rseq_registered;
	int affinity_len;	/* > 0 when affinity holds a valid mask */
	int sched_ok;
	int affinity_inherited;	/* same as the forking thread's: nothing to restore */
	int sched_inherited;
	struct fa_sched_attr sched;
	int restore_err;	/* child: errno of the first call that failed to restore its state */
	const char *restore_call; /* ... and that call's name */
	char name[16];
	unsigned char affinity[FA_CPUSET_BYTES];
};

/* One snapshot operation: the parked set and the state of the protocol. */
#define FA_MAX_HELD_LOCKS 16

struct fa_op {
	int pid;		/* getpid() of the process being snapshotted */
	int self_tid;		/* the forking thread */
	int sig;
	int timeout_ms;
	const pid_t *skip;
	unsigned n_skip;
	unsigned nslots;	/* slots in use (signalled, parked or dead) */
	unsigned ndead;
	unsigned nunsent;	/* slots in state FA_UNSENT */
	unsigned seen;		/* threads listed by the last scan */
	int need_gate;		/* child threads must wait until owners are rewritten */
	/* glibc: the locks of ld.so and libc found held, by the caller or a parked
	 * thread, when all were parked (owners.c): the child rewrites these
	 * instead of scanning both data segments again (~100 KB, in every clone
	 * of a snapshot); more than FA_MAX_HELD_LOCKS: the child scans. */
	unsigned nheld_locks;
	int *held_locks[FA_MAX_HELD_LOCKS];
	unsigned char held_lock_kind[FA_MAX_HELD_LOCKS]; /* 0 ld.so's recursive lock, 1 libc's rwlock */
	int become_tid;		/* child: the forking thread takes over this parked thread (0: none) */
	int parent_death_signal; /* child: PR_SET_PDEATHSIG (the agent's clones die with their template) */
	unsigned long self_fs;
	int self_rseq_registered;
	struct fa_ksigaction old_action;
	uint64_t old_mask;	/* the caller's signal mask before the snapshot */
	/* exact-TID mode (exact.c) */
	int exact;		/* re-create the process and threads with their old IDs */
	int exact_userns;	/* ... inside a new user namespace (caller lacks CAP_SYS_ADMIN) */
	unsigned uid, gid;	/* uid: also the parking signal's si_uid */
	uint32_t caps[6];	/* capget v3 of the caller: restored in the child's threads */
	/* the forking thread's own state, restored in the child */
	int *self_clear_child_tid;
	int *self_desc_tid;
	void *self_robust_head;
	size_t self_robust_len;
	void *self_owner_list;
	int self_affinity_len;
	unsigned char self_affinity[FA_CPUSET_BYTES];
	struct fa_sched_attr self_sched;
	char self_name[16];
	struct fa_report *report; /* child_report.c: how the child says it is whole */
	int report_wake_fd;	/* child: an eventfd also signalled when it reports, then closed
				 * (the agent polls it with its channel); -1: none */
	/* Non-null: op->report is a page of this caller-owned shared region (the
	 * agent's pool, reused fork after fork instead of one mmap/munmap each):
	 * the caller side never unmaps it; the child unmaps the whole region
	 * once it has reported (none of it is the program's). */
	void *report_pool;
	size_t report_pool_len;
};

/* Words the threads synchronise on. Kept together, written with atomics. */
struct fa_sync {
	volatile int lock;	/* serialises forkall callers: 0 free, 1 held, 2 contended */
	volatile int gen;	/* generation of the current snapshot */
	volatile int parking;	/* 1 while handlers may park for `gen` */
	volatile int parked;	/* threads parked for `gen` */
	volatile int target;	/* how many must park */
	volatile int released;	/* last generation whose parked threads may go */
	volatile int gate;	/* child: 1 once resurrected threads may run */
	volatile int departing;	/* child: resurrected threads still using engine memory */
	volatile int inside;	/* threads running the parking handler (any generation) */
	volatile int drain_waiting; /* the forking thread waits for `inside` to reach 0 */
	volatile int restored;	/* child: resurrected threads that restored their state */
	volatile int restore_target; /* child: how many must (wake the forking thread then) */
};

/* area.c */
struct fa_area {
	unsigned cap;		/* slots available */
	struct fa_slot *slots;
	int *table;		/* TID -> slot index + 1, open addressing, 2 * cap */
	char *dirbuf;		/* getdents64 buffer */
	size_t dirbuf_len;
	int *tids;		/* one scan of /proc/self/task, cap entries */
	char *stacks;		/* cap stacks of FA_STACK bytes for resurrection */
};
/* A resurrected thread runs on its engine stack only from clone() to
 * fa_resume: resurrect_entry -> restore_thread -> raw system calls, all signals
 * blocked (no signal frame lands there), under 128 bytes at -O2. 1 KB keeps a
 * wide margin and packs four stacks in a page: the child populates them in one
 * call (fa_pages_child_engine) instead of a zero-fill fault per thread inside
 * the creating thread's loop (16 KB stacks: one fault each, 511 per forkall of
 * 512 threads, all on the child's critical path). */
#define FA_STACK 1024
FA_HIDDEN extern struct fa_area fa_area;
FA_HIDDEN int fa_area_reserve(unsigned nthreads);
FA_HIDDEN struct fa_slot *fa_slot_of(int tid);
FA_HIDDEN int fa_table_add(int tid, unsigned idx);
FA_HIDDEN void fa_table_clear(unsigned nslots);

/* park.c */
FA_HIDDEN extern struct fa_sync fa_sync;
FA_HIDDEN void fa_lock(void);
FA_HIDDEN void fa_unlock(void);
FA_HIDDEN int fa_park_all(struct fa_op *op);
FA_HIDDEN void fa_release(struct fa_op *op);
FA_HIDDEN void fa_record_self(struct fa_op *op);
FA_HIDDEN void fa_restore_handler(struct fa_op *op);
FA_HIDDEN int fa_drain_handlers(int timeout_ms);

/* own_pages.c: the handler notes its frame; the parent of a forkall keeps the
 * ranges and the next forkall makes them writable before it signals anyone;
 * the child makes each thread's descriptor page writable before clone() */
FA_HIDDEN void fa_note_frame(struct fa_slot *s, void *uc, unsigned long handler_sp);
FA_HIDDEN void fa_pages_keep(const struct fa_op *op);
FA_HIDDEN void fa_pages_prepare(const struct fa_op *op);
FA_HIDDEN int fa_pages_kept(const struct fa_slot *s, int tid, unsigned idx); /* before the slot is reused */
FA_HIDDEN void fa_pages_prepare_thread(const struct fa_slot *s);
FA_HIDDEN void fa_pages_child_descriptors(const struct fa_op *op); /* in the child */
FA_HIDDEN void fa_pages_child_engine(const struct fa_op *op); /* in the child: the engine memory new threads write */

/* snapshot.c */
struct forkall_options;
FA_HIDDEN int fa_snapshot_begin(struct fa_op *op, const struct forkall_options *opts);
FA_HIDDEN long fa_snapshot_fork(struct fa_op *op, void (*child_setup)(void *), void *arg);
FA_HIDDEN void fa_snapshot_end(struct fa_op *op);
/* After fa_snapshot_fork in the caller: the PID once the child is whole, else
 * -errno (the child killed and reaped). */
FA_HIDDEN long fa_snapshot_await(struct fa_op *op, long pid);

/* fork_child.c */
FA_HIDDEN long fa_raw_fork(void);
FA_HIDDEN void fa_wait_departed(void);
/* child_setup (may be NULL) runs in the child on the forking thread before any
 * other thread exists again: async-signal-safe code only (e.g. dup2 of stdio). */
FA_HIDDEN void fa_child_resurrect(struct fa_op *op, void (*child_setup)(void *), void *arg);

/* child_report.c: the caller maps the page before the fork; the child reports
 * (err 0: whole; else the thread, the call and its errno, then it exits); the
 * caller awaits it: the PID, or -errno with forkall_strerror() set, the child
 * killed and reaped. */
struct fa_report;
FA_HIDDEN int fa_report_create(struct fa_op *op);
FA_HIDDEN void fa_report_drop(struct fa_op *op);
FA_HIDDEN void fa_report_child(struct fa_op *op, int err, int tid, const char *call);
FA_HIDDEN long fa_report_await(struct fa_op *op, long pid);
/* without waiting: has the child not said yet whether it is whole? (a caller
 * with several children forked keeps their pages and awaits each once it said) */
FA_HIDDEN int fa_report_pending(const struct fa_report *r);
FA_HIDDEN void fa_report_stamp(struct fa_op *op, int phase); /* child: a phase ended (FA_TC_*) */
/* child: it has its own copy of every thread's descriptor page; caller: waits
 * (bounded) for that before releasing its threads, so their first write there
 * reuses the page instead of copying it with a TLB shootdown (child_report.c).
 * Not below FA_AWAIT_COPIED_MIN parked threads: at 8 the wait for the child to
 * run lengthened the hold (release phase 180-450 -> 590-670 us, quiet, 3
 * rounds alternated) for no gain in total time; at 64 it shortens even the
 * hold (3.4-3.6 -> 1.1-1.6 ms: the copies no longer stall the release). */
#define FA_AWAIT_COPIED_MIN 16
FA_HIDDEN void fa_report_copied(struct fa_op *op);
FA_HIDDEN void fa_report_await_copied(struct fa_op *op, long pid, unsigned threads);

/* owners.c */
FA_HIDDEN void fa_fix_owners(struct fa_op *op, int self_new_tid);
FA_HIDDEN int fa_owners_need_gate(struct fa_op *op);

/* readable.c: 1 when [addr, addr+len) (at most two pages) can be read, 0 when
 * it cannot, -1 when the kernel does not say (the caller then decides) */
FA_HIDDEN int fa_readable(const void *addr, size_t len);

/* read_file.c */
FA_HIDDEN long fa_read_file(const char *path, char *buf, size_t cap);
FA_HIDDEN uint64_t fa_parse_num(const char **p, int base);

/* tasks.c */
FA_HIDDEN long fa_task_dir_open(void);
FA_HIDDEN long fa_task_dir_read(int fd, int *tids, unsigned max, unsigned *count);
FA_HIDDEN char fa_task_state(int tid);
FA_HIDDEN int fa_task_blocks_signal(int tid, int sig);
FA_HIDDEN long fa_task_status_number(int tid, const char *key);
FA_HIDDEN void fa_task_comm(int tid, char *out, size_t len);
FA_HIDDEN size_t fa_utoa(char *out, unsigned v);

/* exact.c */
FA_HIDDEN long fa_exact_fork(struct fa_op *op);

/* layout.c */
struct fa_layout {
	long desc_tid_offset;	/* offset of the tid field from the thread pointer, -1 unknown */
	long rseq_offset;	/* glibc __rseq_offset */
	unsigned rseq_size;	/* glibc __rseq_size, 0 if rseq not used */
	char *ldso_base;	/* glibc: _rtld_global, scanned for recursive locks */
	size_t ldso_size;
	char *libc_rw_base;	/* glibc: libc.so.6's writable segment, scanned for its rwlocks */
	size_t libc_rw_size;
	long owner_list_offset;	/* musl: the descriptor's owner-list head, -1 unknown */
	long owner_list_futex_offset; /* list entry -> lock word, when the head does not say */
	unsigned problems;	/* FA_LAYOUT_NO_*: what could not be discovered (forkall_warnings) */
};
#define FA_LAYOUT_NO_DESC_TID 1u
#define FA_LAYOUT_NO_OWNER_LIST 2u
#define FA_LAYOUT_NO_LDSO_LOCKS 4u
FA_HIDDEN extern struct fa_layout fa_layout;
FA_HIDDEN int *fa_desc_tid_of(unsigned long fs_base, int tid);
FA_HIDDEN void *fa_owner_list_of(unsigned long fs_base, void *robust_head);

/* thread_tls.c: what may be read through a thread's FS base. Threads whose FS
 * is not their own libc descriptor (bare clone()) get no descriptor TID, only
 * the kernel's robust list as owner list, and no rseq re-registration. */
struct fa_thread_tls {
	int *desc_tid;
	void *owner_list;
	int rseq_registered;
};
FA_HIDDEN void fa_thread_tls(int pid, unsigned long fs_base, int tid, void *robust_head, struct fa_thread_tls *out);

/* timing.c: TSC stamps at the end of each phase. Parent phases: */
enum { FA_T_START, FA_T_LOCKED, FA_T_SIGNALLED, FA_T_PARKED, FA_T_FORK, FA_T_FORKED, FA_T_RELEASED, FA_T_N };
/* ... child phases, stamped in the child and carried back in the report page: */
enum { FA_TC_FORKED, FA_TC_SETUP, FA_TC_CREATED, FA_TC_RESTORED, FA_TC_REPORTED, FA_TC_N };
struct fa_timing {
	uint64_t t[FA_T_N];
	uint64_t child[FA_TC_N];
	uint64_t end_tsc, start_ns, end_ns;
	unsigned threads;
	int done;
};
FA_HIDDEN extern struct fa_timing fa_timing;
static inline uint64_t fa_tsc(void) { return __builtin_ia32_rdtsc(); }
static inline void fa_stamp(int phase) { fa_timing.t[phase] = fa_tsc(); }
FA_HIDDEN void fa_timing_start(void);
FA_HIDDEN void fa_timing_end(unsigned threads);

/* error.c */
FA_HIDDEN int fa_fail(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
FA_HIDDEN void fa_clear_error(void);
FA_HIDDEN long fa_now_ms(void);

/* arch_x86_64.S */
FA_HIDDEN long fa_clone3_thread(struct fa_clone_args *args, size_t size);
FA_HIDDEN long fa_clone_thread(unsigned long flags, void *stack, int *ptid, int *ctid,
			       unsigned long tls, void (*fn)(void *), void *arg);
FA_HIDDEN void fa_resume(void *uc, volatile int *departing) __attribute__((noreturn));
FA_HIDDEN void fa_restorer(void);

#endif
