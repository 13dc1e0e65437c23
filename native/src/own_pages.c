/* Pages the parked threads write, made writable by the forking thread with
 * MADV_POPULATE_WRITE instead of by a fault in each thread.
 * A fork write-protects every private page of the parent, and the first write
 * to each then faults, even once the child is gone. In a virtual machine a
 * fault costs tens of microseconds (measured here: 14-40 us per page, against
 * 6 us per page through MADV_POPULATE_WRITE, which makes pages writable in a
 * system call without a trap per page). Parking writes, per thread, the
 * signal frame (its extended FPU state alone is 1-3 KB) and the handler's own
 * stack, about three pages below the thread's stack pointer, and the thread's
 * slot; the forking thread writes the engine's scan buffers and globals. So
 * every forkall after the first (or after any fork) took three or more faults
 * per thread while parking, one thread after another. And after the release,
 * each thread's first return to user space makes the kernel write its struct
 * rseq (rseq_cs and the CPU numbers, in the libc descriptor): one more fault
 * per thread, in a page the child still shares.
 * So:
 *  - the handler notes the range its frame and its calls wrote (fa_note_frame);
 *    the parent of a forkall keeps them (fa_pages_keep), and the next forkall,
 *    before it signals anyone, populates them and the engine's memory, one call
 *    each (fa_pages_prepare). Not right after the fork: the child still shares
 *    the pages then, and each would be copied for nothing if the thread parks
 *    elsewhere next time. A thread that blocks in the same place again (the
 *    usual case: a thread waiting for work) then parks without a fault.
 *  - after the fork, before the release, the forking thread populates each
 *    parked thread's struct rseq (fa_pages_own_rseq): the copy is made while
 *    nothing else runs, and the child's own write to its copy needs none.
 *  - in the child, before it re-creates the threads, the forking thread
 *    populates each one's descriptor page (fa_pages_child_descriptors), which
 *    clone() (the new TID) and the rseq registration write.
 * MADV_POPULATE_WRITE breaks copy-on-write as a write would, without writing:
 * no byte changes (threads that are not parked may be writing there), and
 * memory that is not writable makes the call fail instead of faulting. A
 * thread's kept range is used only while that thread still exists (tgkill 0):
 * its stack is then still its stack, where the next frame lands; an exited
 * thread's stack may have been unmapped and the address reused by another
 * mapping, which must not be touched (a shared file mapping would be dirtied).
 * Kernels before 5.14 refuse the advice (EINVAL): nothing is done, as before. */
#include <signal.h>
#include <ucontext.h>
#include "engine.h"

#define FA_MADV_POPULATE_WRITE 23
#define PAGE 4096ul
/* How far below the handler's stack pointer at entry its calls reach
 * (record_thread and fa_thread_tls, with the iovecs of process_vm_readv). */
#define HANDLER_DEPTH 640
#define FA_XSTATE_MAGIC1 0x46505853u

/* slots of the last forkall whose ranges are kept (0: none) */
static unsigned kept_slots;
static int kept_pid;

static unsigned long page_down(unsigned long a) { return a & ~(PAGE - 1); }

/* Pages [lo, hi] (addresses within the first and the last one). */
static long populate(unsigned long lo, unsigned long hi)
{
	unsigned long start = page_down(lo), end = page_down(hi) + PAGE;
	return fa_sys3(SYS_madvise, start, end - start, FA_MADV_POPULATE_WRITE);
}

void fa_note_frame(struct fa_slot *s, void *ucp, unsigned long handler_sp)
{
	/* The frame's highest byte is the end of its FPU state (fpregs): the
	 * kernel writes its full size after the legacy 512 bytes (sw_reserved:
	 * magic1, extended_size), whether the frame is on the thread's stack or
	 * on its sigaltstack. */
	const ucontext_t *uc = ucp;
	unsigned long fp = (unsigned long)uc->uc_mcontext.fpregs, top = (unsigned long)uc + sizeof *uc;
	if (fp) {
		const uint32_t *sw = (const uint32_t *)(fp + 464);
		unsigned long end = fp + (sw[0] == FA_XSTATE_MAGIC1 && sw[1] >= 512 && sw[1] < 65536 ? sw[1] : 512);
		if (end > top)
			top = end;
	}
	s->frame_lo = handler_sp - HANDLER_DEPTH;
	s->frame_hi = top - 1;
}

void fa_pages_keep(const struct fa_op *op)
{
	kept_slots = op->nslots;
	kept_pid = op->pid;
}

void fa_pages_prepare(const struct fa_op *op)
{
	unsigned n = kept_slots;
	kept_slots = 0;
	if (!n || kept_pid != op->pid || n > fa_area.cap)
		return; /* nothing kept, or kept by the process we were forked from */
	if (populate((unsigned long)fa_area.slots, (unsigned long)(fa_area.slots + n) - 1) == -22)
		return; /* EINVAL: the kernel lacks the advice */
	/* the TID table, the getdents buffer and the TID list, contiguous */
	populate((unsigned long)fa_area.table, (unsigned long)fa_area.stacks - 1);
	populate((unsigned long)&fa_sync, (unsigned long)(&fa_sync + 1) - 1);
	populate((unsigned long)&fa_timing, (unsigned long)(&fa_timing + 1) - 1);
	for (unsigned i = 0; i < n; i++) {
		const struct fa_slot *s = &fa_area.slots[i];
		if (s->state == FA_PARKED && s->frame_lo && s->frame_hi > s->frame_lo && s->frame_hi - s->frame_lo < 65536 &&
		    fa_sys3(SYS_tgkill, op->pid, s->tid, 0) == 0)
			populate(s->frame_lo, s->frame_hi);
	}
}

void fa_pages_own_rseq(const struct fa_op *op)
{
	for (unsigned i = 0; i < op->nslots; i++) {
		const struct fa_slot *s = &fa_area.slots[i];
		if (s->state == FA_PARKED && s->rseq_registered) {
			unsigned long r = s->fs_base + (unsigned long)fa_layout.rseq_offset;
			if (populate(r, r + 31) == -22)
				return; /* EINVAL: the kernel lacks the advice */
		}
	}
}


/* In the child, before its threads are re-created: each one's libc descriptor
 * page, shared with the parent, is written at once (CLONE_PARENT_SETTID writes
 * the new TID there, rseq registration the struct rseq): one call per thread
 * instead of a fault inside clone() for each. */
void fa_pages_child_descriptors(const struct fa_op *op)
{
	for (unsigned i = 0; i < op->nslots; i++) {
		const struct fa_slot *s = &fa_area.slots[i];
		if (s->state != FA_PARKED || !s->desc_tid)
			continue;
		unsigned long lo = (unsigned long)s->desc_tid, hi = lo + sizeof(int) - 1;
		if (s->rseq_registered) {
			unsigned long r = s->fs_base + (unsigned long)fa_layout.rseq_offset;
			if (page_down(r) + PAGE >= page_down(lo) && page_down(r) <= page_down(hi) + PAGE) {
				lo = r < lo ? r : lo; /* same or next page: one call */
				hi = r + 31 > hi ? r + 31 : hi;
			}
		}
		if (populate(lo, hi) == -22)
			return; /* EINVAL: the kernel lacks the advice */
	}
}
