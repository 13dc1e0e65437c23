/* Is a thread's FS base its own libc descriptor? The parking handler reads
 * through fs_base (the descriptor's tid, musl's owner list, glibc's rseq area),
 * but a thread made with a bare clone() has whatever fs_base its creator gave
 * it: 0, the creator's own descriptor, or a page that is not readable at all.
 * The descriptor's self pointer (word 0 of the thread control block, glibc and
 * musl alike on x86-64) and its tid field are read only once the kernel said
 * they are readable; only a descriptor that points to itself and holds this
 * thread's TID is read further.
 * The probe is rt_sigprocmask with an invalid `how`: the kernel copies the 8
 * bytes of the new set from the address first (-EFAULT if they cannot be read)
 * and only then refuses the `how` (-EINVAL), so the mask never changes. It
 * replaced a process_vm_readv of ourselves, which pins the pages it reads:
 * pinning a page that a fork has made shared unshares it first, a fault per
 * thread while it parks (about 25 us of the handler here, against 1 us). */
#include "engine.h"

#define PROBE_HOW 0x7fffffff /* no such SIG_* value */

/* 1: the 8 bytes at p can be read; 0: they cannot; -1: the kernel would not
 * say (a sandbox refuses the call): trust the address, as a libc thread is the rule. */
static int readable8(unsigned long p)
{
	long r = fa_sys4(SYS_rt_sigprocmask, PROBE_HOW, p, 0, 8);
	if (r == -22 /* EINVAL: copied, then refused */)
		return 1;
	if (r == -14 /* EFAULT */)
		return 0;
	return -1;
}

/* Whether [p, p+len) can be read: a probe of each aligned 8-byte word it
 * touches (an aligned word never straddles two pages), at most two. */
static int readable(unsigned long p, unsigned long len)
{
	unsigned long first = p & ~7ul, last = (p + len - 1) & ~7ul;
	int a = readable8(first);
	if (a == 0 || first == last)
		return a;
	int b = readable8(last);
	return b == 0 ? 0 : (a > 0 && b > 0 ? 1 : -1);
}

void fa_thread_tls(int pid, unsigned long fs_base, int tid, void *robust_head, struct fa_thread_tls *out)
{
	(void)pid;
	out->desc_tid = 0;
	out->owner_list = robust_head;
	out->rseq_registered = 0;
	if (!fs_base)
		return;
	int ok = readable(fs_base, sizeof(unsigned long));
	if (ok == 0)
		return; /* not readable: read nothing through it */
	if (ok > 0) {
		if (*(volatile unsigned long *)fs_base != fs_base)
			return; /* not a descriptor that points to itself */
		if (fa_layout.desc_tid_offset >= 0) {
			unsigned long t = fs_base + (unsigned long)fa_layout.desc_tid_offset;
			int tok = readable(t, sizeof(int));
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
