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
 * per thread while parking, one thread after another.
 * So:
 *  - the handler notes the range its frame and its calls wrote (fa_note_frame);
 *    the parent of a forkall keeps them (fa_pages_keep); the next forkall
 *    populates the engine's memory before it signals anyone (fa_pages_prepare)
 *    and each thread's kept range just before it signals that thread
 *    (fa_pages_prepare_thread), one call each. Not right after the fork: the child still shares
 *    the pages then, and each would be copied for nothing if the thread parks
 *    elsewhere next time. A thread that blocks in the same place again (the
 *    usual case: a thread waiting for work) then parks without a fault.
 *    Not done for the struct rseq the kernel writes when each thread returns
 *    to user space after the release (one fault per thread, in a page the
 *    child still shares): populating those right after the fork copies each
 *    page while every thread is held, and lengthened the hold (512 threads:
 *    release 31 -> 71-95 ms) more than it saved.
 *  - in the child, before it re-creates the threads, the forking thread
 *    populates each one's descriptor page (fa_pages_child_descriptors), which
 *    clone() (the new TID) and the rseq registration write; then the engine
 *    memory the new threads write: the stacks they start on, their slots,
 *    the sync words (fa_pages_child_engine).
 * MADV_POPULATE_WRITE breaks copy-on-write as a write would, without writing:
 * no byte changes (threads that are not parked may be writing there), and
 * memory that is not writable makes the call fail instead of faulting. A
 * thread's kept range is used only for a thread the new scan of
 * /proc/self/task lists, in the slot it had (fa_pages_kept): its stack is then
 * still its stack, where the next frame lands; an exited
 * thread's stack may have been unmapped and the address reused by another
 * mapping, which must not be touched (a shared file mapping would be dirtied).
 * Kernels before 5.14 refuse the advice (EINVAL): nothing is done, as before. */
#include <signal.h>
#include <ucontext.h>
#include "engine.h"

#define FA_MADV_POPULATE_WRITE 23
#define PAGE 4096ul
/* How far below the handler's stack pointer at entry its calls reach
 * (record_thread and fa_thread_tls). */
#define HANDLER_DEPTH 640
#define FA_XSTATE_MAGIC1 0x46505853u

/* slots of the last forkall whose ranges are kept (0: none), and of them
 * those this parking may use (the engine's memory is writable again) */
static unsigned kept_slots, prepared_slots;
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
	prepared_slots = 0;
	if (!n || kept_pid != op->pid || n > fa_area.cap)
		return; /* nothing kept, or kept by the process we were forked from */
	if (populate((unsigned long)fa_area.slots, (unsigned long)(fa_area.slots + n) - 1) == -22)
		return; /* EINVAL: the kernel lacks the advice */
	/* the TID table, the getdents buffer and the TID list, contiguous */
	populate((unsigned long)fa_area.table, (unsigned long)fa_area.stacks - 1);
	populate((unsigned long)&fa_sync, (unsigned long)(&fa_sync + 1) - 1);
	populate((unsigned long)&fa_timing, (unsigned long)(&fa_timing + 1) - 1);
	prepared_slots = n;
}

int fa_pages_kept(const struct fa_slot *s, int tid, unsigned idx)
{
	return idx < prepared_slots && s->tid == tid && s->state == FA_PARKED;
}

void fa_pages_prepare_thread(const struct fa_slot *s)
{
	if (s->frame_lo && s->frame_hi > s->frame_lo && s->frame_hi - s->frame_lo < 65536)
		populate(s->frame_lo, s->frame_hi);
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

/* In the child, before its threads are re-created: the engine stacks they start
 * on (fresh zero pages: the parent never writes them), one call for all; the
 * slots (each thread writes its restore result there, the creator its new
 * TID) and the sync words, shared with the parent until written. Without this
 * each stack top was a zero-fill fault in the creating loop, and each slot
 * page a copy-on-write fault while threads run on several CPUs. */
void fa_pages_child_engine(const struct fa_op *op)
{
	if (!op->nslots)
		return;
	populate((unsigned long)fa_area.stacks, (unsigned long)fa_area.stacks + (unsigned long)op->nslots * FA_STACK - 1);
	populate((unsigned long)fa_area.slots, (unsigned long)(fa_area.slots + op->nslots) - 1);
	populate((unsigned long)&fa_sync, (unsigned long)(&fa_sync + 1) - 1);
}
