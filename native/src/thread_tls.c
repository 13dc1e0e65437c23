/* Is a thread's FS base its own libc descriptor? The parking handler reads
 * through fs_base (the descriptor's tid, musl's owner list, glibc's rseq area),
 * but a thread made with a bare clone() has whatever fs_base its creator gave
 * it: 0, the creator's own descriptor, or a page that is not readable at all.
 * One fault-proof read (process_vm_readv on ourselves) of the descriptor's
 * self pointer (word 0 of the thread control block, glibc and musl alike on
 * x86-64) and of its tid field tells: only a descriptor that points to itself
 * and holds this thread's TID is read further. */
#include <sys/uio.h>
#include "engine.h"

void fa_thread_tls(int pid, unsigned long fs_base, int tid, void *robust_head, struct fa_thread_tls *out)
{
	out->desc_tid = 0;
	out->owner_list = robust_head;
	out->rseq_registered = 0;
	if (!fs_base)
		return;
	unsigned long self = 0;
	int desc_tid = 0;
	struct iovec local[2] = { { &self, sizeof self }, { &desc_tid, sizeof desc_tid } };
	struct iovec remote[2] = { { (void *)fs_base, sizeof self },
				   { (void *)(fs_base + (unsigned long)fa_layout.desc_tid_offset), sizeof desc_tid } };
	unsigned n = fa_layout.desc_tid_offset >= 0 ? 2 : 1;
	long want = n == 2 ? (long)(sizeof self + sizeof desc_tid) : (long)sizeof self;
	long got = fa_sys6(SYS_process_vm_readv, pid, (long)local, n, (long)remote, n, 0);
	if (got == -38 /* ENOSYS */ || got == -1 /* EPERM: a sandbox refuses the call */) {
		/* cannot check: trust the descriptor as before (a libc thread is the rule) */
	} else if (got != want || self != fs_base || (n == 2 && desc_tid != tid)) {
		return; /* not this thread's libc descriptor: read nothing through it */
	}
	out->desc_tid = fa_desc_tid_of(fs_base, tid);
	out->owner_list = fa_owner_list_of(fs_base, robust_head);
	if (fa_layout.rseq_size) {
		/* struct rseq: cpu_id_start, cpu_id; cpu_id < 0 means not registered */
		int cpu_id = *(volatile int *)(fs_base + (unsigned long)fa_layout.rseq_offset + 4);
		out->rseq_registered = cpu_id >= 0;
	}
}
