/* The mailbox: a file the driver creates and names in FORKALL_EXPLORE. Mapped
 * MAP_SHARED at load time, so the template and every clone see the driver's
 * writes (armed, seeds) and the driver sees which seed each clone ran. */
#include <fcntl.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include "explore.h"

struct fa_explore_shared *fa_shared;

void fa_shared_open(void)
{
	const char *path = getenv("FORKALL_EXPLORE");
	if (!path || !*path)
		return;
	int fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return;
	struct stat st;
	void *p = MAP_FAILED;
	if (fstat(fd, &st) == 0 && st.st_size >= FA_EXPLORE_TABLE_OFFSET)
		p = mmap(0, st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (p == MAP_FAILED)
		return;
	struct fa_explore_shared *s = p;
	if (s->magic != FA_EXPLORE_MAGIC ||
	    (uint64_t)FA_EXPLORE_TABLE_OFFSET + (uint64_t)s->pids * 8 > (uint64_t)st.st_size) {
		munmap(p, st.st_size);
		return;
	}
	fa_shared = s;
}

static uint64_t *seed_entry(int pid)
{
	struct fa_explore_shared *s = fa_shared;
	if (pid <= 0 || (uint32_t)pid >= s->pids)
		return 0;
	return (uint64_t *)((char *)s + FA_EXPLORE_TABLE_OFFSET) + pid;
}

/* A fresh seed carries the horizon learned so far (the most steps any clone
 * took); a replayed seed brings its own. */
uint64_t fa_shared_claim_seed(int pid, uint64_t *steps)
{
	struct fa_explore_shared *s = fa_shared;
	uint64_t seed;
	if (s->replay)
		seed = s->base_seed & ~FA_DEADLOCK_BIT;
	else {
		uint64_t n = __atomic_fetch_add(&s->next_slot, 1, __ATOMIC_SEQ_CST);
		uint64_t k = __atomic_load_n(&s->max_steps, __ATOMIC_RELAXED);
		if (k > FA_STEPS_MAX)
			k = FA_STEPS_MAX;
		seed = ((s->base_seed + n) & FA_SEED_MASK) | (k << FA_SEED_BITS);
	}
	*steps = seed >> FA_SEED_BITS;
	uint64_t *e = seed_entry(pid);
	if (e)
		__atomic_store_n(e, seed + 1, __ATOMIC_SEQ_CST);
	return seed;
}

void fa_shared_mark_deadlock(int pid)
{
	uint64_t *e = seed_entry(pid);
	if (e)
		__atomic_fetch_or(e, FA_DEADLOCK_BIT, __ATOMIC_SEQ_CST);
}

void fa_shared_note_steps(uint64_t steps)
{
	uint32_t *m = &fa_shared->max_steps, cur = __atomic_load_n(m, __ATOMIC_RELAXED);
	if (steps > FA_STEPS_MAX)
		steps = FA_STEPS_MAX;
	while (steps > cur && !__atomic_compare_exchange_n(m, &cur, (uint32_t)steps, 0, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		;
}
