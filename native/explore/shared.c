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

uint64_t fa_shared_claim_seed(int pid)
{
	struct fa_explore_shared *s = fa_shared;
	uint64_t seed = s->replay ? s->base_seed
				  : s->base_seed + __atomic_fetch_add(&s->next_slot, 1, __ATOMIC_SEQ_CST);
	if (pid > 0 && (uint32_t)pid < s->pids) {
		uint64_t *table = (uint64_t *)((char *)s + FA_EXPLORE_TABLE_OFFSET);
		__atomic_store_n(&table[pid], seed + 1, __ATOMIC_SEQ_CST);
	}
	return seed;
}
