/* libforkall-sched.so: schedule perturbation for `forkall explore` (docs/explore.md).
 *   shared.c     the mailbox shared with the driver (a file mapped MAP_SHARED)
 *   perturb.c    the decision at each synchronisation point: a pure function of
 *                (seed, thread key, event count) -> run on, yield, or sleep
 *   interpose.c  the pthread/semaphore/sleep functions it wraps
 * Preloaded next to libforkall-agent.so. Inactive in the template: every
 * wrapper is a pass-through until the driver arms the mailbox after the
 * snapshot; the first wrapper called in a clone (a process whose PID is not
 * the template's) activates it for that clone. */
#ifndef FA_EXPLORE_H
#define FA_EXPLORE_H

#include <stdint.h>

#define FA_EXPLORE_MAGIC 0x58454146u /* "FAEX" */
#define FA_EXPLORE_TABLE_OFFSET 4096

/* The file's first page; written by the driver (armed, template_pid, base_seed,
 * replay, pids) and by clones (next_slot, the seed table). The seed table
 * follows at FA_EXPLORE_TABLE_OFFSET: one uint64_t per PID, seed + 1 of the
 * clone with that PID (0: none claimed). */
struct fa_explore_shared {
	uint32_t magic;
	uint32_t armed;		/* 1 once the template is frozen */
	uint32_t template_pid;	/* the template: never perturbed */
	uint32_t replay;	/* 1: every clone runs base_seed */
	uint64_t base_seed;	/* clone n (in activation order) runs base_seed + n */
	uint64_t next_slot;	/* atomic claim counter */
	uint32_t pids;		/* entries in the seed table */
	uint32_t pad;
};

#define FA_HIDDEN __attribute__((visibility("hidden")))

FA_HIDDEN extern struct fa_explore_shared *fa_shared;
FA_HIDDEN extern volatile int fa_clone_active;
/* the calling thread's rank in creation order (interpose.c) */
FA_HIDDEN extern __thread uint64_t fa_thread_id;
FA_HIDDEN void fa_shared_open(void);
/* claims this clone's seed and records it for the driver */
FA_HIDDEN uint64_t fa_shared_claim_seed(int pid);

FA_HIDDEN void fa_perturb_activate(uint64_t seed, int pid);
FA_HIDDEN void fa_perturb_point(void);

/* the one check every wrapper makes: nothing at all until armed */
static inline void fa_point(void)
{
	if (__builtin_expect(fa_shared != 0, 0) && fa_shared->armed)
		fa_perturb_point();
}

#endif
