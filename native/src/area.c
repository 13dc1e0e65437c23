/* The engine's memory: one private anonymous mapping holding the slots, the
 * TID table, the directory buffer and the stacks that resurrected threads use
 * before they return to their own. It is made once and grown when a process has
 * more threads than it holds, never freed (a child inherits it and may forkall
 * again). MAP_NORESERVE: only touched pages cost anything, in the parent and in
 * every fork of it. */
#include <sys/mman.h>
#include "engine.h"

FA_HIDDEN struct fa_area fa_area;
static size_t area_len;

static size_t round_page(size_t n) { return (n + 4095) & ~(size_t)4095; }

int fa_area_reserve(unsigned nthreads)
{
	if (nthreads <= fa_area.cap)
		return 0;
	unsigned cap = fa_area.cap ? fa_area.cap : 64;
	while (cap < nthreads)
		cap *= 2;
	size_t slots = round_page(cap * sizeof(struct fa_slot));
	size_t table = round_page(2 * cap * sizeof(int));
	size_t dirbuf = round_page(4096 + cap * 32);
	size_t tids = round_page(cap * sizeof(int));
	size_t stacks = (size_t)cap * FA_STACK;
	size_t len = slots + table + dirbuf + tids + stacks;
	long p = fa_sys6(SYS_mmap, 0, (long)len, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p < 0 && p > -4096)
		return (int)p;
	if (fa_area.cap)
		fa_sys2(SYS_munmap, fa_area.slots, area_len);
	char *base = (char *)p;
	fa_area.cap = cap;
	fa_area.slots = (struct fa_slot *)base;
	fa_area.table = (int *)(base + slots);
	fa_area.dirbuf = base + slots + table;
	fa_area.dirbuf_len = dirbuf;
	fa_area.tids = (int *)(base + slots + table + dirbuf);
	fa_area.stacks = base + slots + table + dirbuf + tids;
	area_len = len;
	return 0;
}

static unsigned hash_tid(int tid) { return ((unsigned)tid * 2654435761u) & (2 * fa_area.cap - 1); }

struct fa_slot *fa_slot_of(int tid)
{
	unsigned mask = 2 * fa_area.cap - 1;
	for (unsigned h = hash_tid(tid);; h = (h + 1) & mask) {
		int e = fa_area.table[h];
		if (e == 0)
			return 0;
		if (fa_area.slots[e - 1].tid == tid)
			return &fa_area.slots[e - 1];
	}
}

int fa_table_add(int tid, unsigned idx)
{
	unsigned mask = 2 * fa_area.cap - 1;
	for (unsigned h = hash_tid(tid);; h = (h + 1) & mask) {
		if (fa_area.table[h] == 0) {
			fa_area.table[h] = (int)idx + 1;
			return 0;
		}
	}
}

/* Not wiped when a snapshot ends but before the next one parks: a child (a
 * template's clone, a forkall child) then never writes the table page it
 * shares with its parent, a copy-on-write fault in every child for a table
 * that its program almost never uses again; the parent's wipe likewise left
 * its release phase (the page was shared with the child just forked). */
void fa_table_done(void) { fa_sync.table_stale = 1; }

void fa_table_clear(void)
{
	/* Linear probing does not delete in place; the table only ever holds one
	 * snapshot's entries, so wipe it whole. */
	if (!fa_sync.table_stale)
		return;
	for (unsigned i = 0; i < 2 * fa_area.cap; i++)
		fa_area.table[i] = 0;
	fa_sync.table_stale = 0;
}
