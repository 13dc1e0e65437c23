/* libforkall-sched.so: the serialising scheduler of `forkall explore` (docs/explore.md).
 *   shared.c     the mailbox shared with the driver (a file mapped MAP_SHARED)
 *   threads.c    the thread table: every thread the program made, its rank,
 *                and (in the template) the real wait it sits in
 *   sched.c      in a clone: one thread runs at a time; at each point the
 *                seed's schedule (PCT priorities and change points, or a
 *                random walk) picks who runs next and the token moves there
 *   files.c      private file offsets: the template's regular files reopened
 *                in each clone at the offsets they had at the snapshot
 *   interpose.c  the exported wrappers; in a clone, mutex/condition/rwlock/
 *                semaphore/spinlock/join are built on try-operations and the
 *                token, so no thread blocks in the kernel on a wrapped
 *                primitive while holding the token
 * Preloaded next to libforkall-agent.so. Inactive in the template: every
 * wrapper is a pass-through until the driver arms the mailbox after the
 * snapshot; the first wrapper called in a clone (a process whose PID is not
 * the template's) activates the scheduler for that clone. */
#ifndef FA_EXPLORE_H
#define FA_EXPLORE_H

#include <pthread.h>
#include <stdint.h>
#include <time.h>

#define FA_EXPLORE_MAGIC 0x58454146u /* "FAEX" */
#define FA_EXPLORE_TABLE_OFFSET 4096

/* A seed as reported: bits 0..43 the schedule's random seed, bits 44..62 the
 * number of steps its PCT change points were spread over (learned from earlier
 * clones, so it is part of the seed for replay). Bit 63 in a table entry: the
 * clone deadlocked (every thread blocked on a wrapped primitive). */
#define FA_SEED_BITS 44
#define FA_SEED_MASK ((1ull << FA_SEED_BITS) - 1)
#define FA_STEPS_MAX ((1ull << 19) - 1)
#define FA_DEADLOCK_BIT (1ull << 63)

/* The file's first page; written by the driver (armed, template_pid, base_seed,
 * replay, pids) and by clones (next_slot, max_steps, the seed table). The seed
 * table follows at FA_EXPLORE_TABLE_OFFSET: one uint64_t per PID, seed + 1 of
 * the clone with that PID (0: none claimed), FA_DEADLOCK_BIT when it deadlocked. */
struct fa_explore_shared {
	uint32_t magic;
	uint32_t armed;		/* 1 once the template is frozen */
	uint32_t template_pid;	/* the template: never scheduled */
	uint32_t replay;	/* 1: every clone runs base_seed as given */
	uint64_t base_seed;	/* clone n (in activation order) runs base_seed + n */
	uint64_t next_slot;	/* atomic claim counter */
	uint32_t pids;		/* entries in the seed table */
	uint32_t max_steps;	/* the most scheduling steps a clone took so far */
};

#define FA_HIDDEN __attribute__((visibility("hidden")))

FA_HIDDEN extern struct fa_explore_shared *fa_shared;
FA_HIDDEN void fa_shared_open(void);
/* claims this clone's seed (steps: this clone's PCT horizon) and records it for the driver */
FA_HIDDEN uint64_t fa_shared_claim_seed(int pid, uint64_t *steps);
FA_HIDDEN void fa_shared_mark_deadlock(int pid);
FA_HIDDEN void fa_shared_note_steps(uint64_t steps);

/* ---- threads.c */
#define FA_MAX_THREADS 512

enum fa_block { FA_RUNNABLE, FA_ON_MUTEX, FA_ON_COND, FA_ON_TIMED_COND, FA_ON_RWLOCK, FA_ON_SEM, FA_ON_SPIN, FA_ON_JOIN, FA_ON_BARRIER };

struct fa_thread {
	uint32_t go;		/* futex word: 1 while this thread holds the token */
	int live;		/* started and not finished (template or clone) */
	int finished;		/* its start routine returned or it called pthread_exit */
	pthread_t self;
	const void *tmpl_cond;	/* pass-through: inside the real pthread_cond_wait on this */
	/* the scheduler's view, valid while clone == the active clone's PID */
	int clone;
	int arrived;		/* reached its first point in this clone (atomic) */
	int block;		/* enum fa_block */
	const void *on;		/* the object it is blocked on */
	uint64_t wait_seq;	/* condition waiters are signalled in this order */
	int timed;		/* blocked in a timed wait: may end in a timeout (virtual time, sched.c) */
	int timed_out;		/* a timed wait ended by the scheduler */
	uint64_t prio;		/* PCT priority */
	uint32_t cls;		/* its start routine's class (fa_thread_class); 0: the main thread */
	/* for the after-write walk (sched.c), set by tsan.c: */
	int wrote;		/* its last access before its next point was a write */
	int dirty;		/* it wrote since its last point that was not an access (a lock, an unlock, ...) */
	int at_access;		/* the point it is at is a memory access's */
};

FA_HIDDEN extern struct fa_thread fa_threads[FA_MAX_THREADS];
FA_HIDDEN extern uint32_t fa_nthreads;	/* ranks handed out so far */
FA_HIDDEN extern __thread int fa_rank;	/* this thread's rank; -1: not ours (the agent's thread) */
/* the clone's PID once its scheduler is active; 0 in the template */
FA_HIDDEN extern volatile int fa_active;
FA_HIDDEN int fa_rank_of(pthread_t t);
/* Threads that run the same start routine form a class (reorder_N's setters,
 * twostage_100's 99 writers); a class-weighted walk (sched.c) draws a class
 * first and a thread of it second. 1.. for start routines in order of first
 * creation, FA_MAX_CLASSES - 1 shared by any further ones. */
#define FA_MAX_CLASSES 32
FA_HIDDEN uint32_t fa_thread_class(const void *start_routine);

/* ---- files.c */
/* in the template, before the snapshot: every regular file open, with its offset */
FA_HIDDEN void fa_files_record(void);
/* in a clone's activation: each recorded file reopened at its recorded offset (a private offset) */
FA_HIDDEN void fa_files_reopen(void);

/* ---- sched.c */
/* The calling thread's entry when the scheduler runs it (a clone, armed, a
 * thread of ours), after activating the clone or arriving in it; 0: pass through. */
FA_HIDDEN struct fa_thread *fa_enter(void);
/* would fa_enter() run this thread under the scheduler? (without arriving) */
FA_HIDDEN int fa_in_clone(void);
/* a scheduling point: the seed's choice runs next; returns when this thread has the token again */
FA_HIDDEN void fa_point(struct fa_thread *me, int yielding);
/* the token holder did something other than spin (tsan.c: a memory access to a new address) */
FA_HIDDEN void fa_sched_progress(struct fa_thread *me);
/* marks every thread blocked on obj runnable (all: 1; else only the first waiter) */
FA_HIDDEN void fa_wake(const void *obj, int kind, int all);
/* a new thread created by the token holder: it waits for the token before it runs */
FA_HIDDEN void fa_sched_new_thread(struct fa_thread *t);
/* this seed lets a creating thread keep the token at pthread_create */
FA_HIDDEN int fa_sched_holds_creator(void);
/* a new thread's start: it waits for its first turn (joining the schedule first when it
 * starts in a clone, created but not yet started by the frozen template) */
FA_HIDDEN void fa_sched_wait_first_turn(struct fa_thread *me);
/* the token holder is finishing: hand the token on without waiting for it */
FA_HIDDEN void fa_sched_exit(struct fa_thread *me);
FA_HIDDEN extern uint64_t fa_wait_seq;

#endif
