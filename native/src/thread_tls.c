/* Is a thread's FS base its own libc descriptor? The parking handler reads
 * through fs_base (the descriptor's tid, musl's owner list, glibc's rseq area),
 * but a thread made with a bare clone() has whatever fs_base its creator gave
 * it: 0, the creator's own descriptor, or a page that is not readable at all.
 * The descriptor's self pointer (word 0 of the thread control block, glibc and
 * musl alike on x86-64) and its tid field are read only once the kernel said
 * they are readable (readable.c, no fault); only a descriptor that points to
 * itself and holds this thread's TID is read further. */
#include "engine.h"

void fa_thread_tls(int pid, unsigned long fs_base, int tid, void *robust_head, struct fa_thread_tls *out)
{
	(void)pid;
	out->desc_tid = 0;
	out->owner_list = robust_head;
	out->rseq_registered = 0;
	if (!fs_base)
		return;
	int ok = fa_readable((const void *)fs_base, sizeof(unsigned long));
	if (ok == 0)
		return; /* not readable: read nothing through it */
	if (ok > 0) {
		if (*(volatile unsigned long *)fs_base != fs_base)
			return; /* not a descriptor that points to itself */
		if (fa_layout.desc_tid_offset >= 0) {
			unsigned long t = fs_base + (unsigned long)fa_layout.desc_tid_offset;
			/* readability is per page: in the same page as fs_base it is known
			 * (a system call less per parked thread) */
			int tok = (t & ~4095ul) == (fs_base & ~4095ul) && (t & 4095ul) <= 4096 - sizeof(int)
					  ? ok
					  : fa_readable((const void *)t, sizeof(int));
			if (tok == 0 || (tok > 0 && *(volatile int *)t != tid))
				return; /* not this thread's descriptor */
		}
	}
	out->desc_tid = fa_desc_tid_of(fs_base, tid);
	out->owner_list = fa_owner_list_of(fs_base, robust_head);
	if (fa_layout.rseq_size) {
		/* struct rseq: cpu_id_start, cpu_id; cpu_id < 0 means not registered */
		int cpu_id = *(volatile int *)(fs_base + (unsigned long)fa_layout.rseq_offset + 4);
		out->rseq_registered = cpu_id >= 0;
	}
}
