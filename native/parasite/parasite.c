/* The parasite: position-independent code the remote engine maps into a clone
 * being built (never into the original) to create the clone's threads at
 * native speed instead of by injected calls, one ptrace stop each.
 *
 * The engine maps one region (code, then the table of parasite.h, then a small
 * stack per thread), writes it through /proc/PID/mem, and runs the clone's
 * only thread at fa_parasite_main with rdi = the table and rsp at its own
 * stack, every signal blocked. Main registers its own robust list (from the
 * header), then creates one thread per slot; each
 * registers what only a thread can register for itself (robust list, rseq,
 * signal stack, name), counts itself restored and parks on a futex word that
 * is never woken. Main waits for every count, sets `finished` and parks too.
 * The engine polls `finished`, stops every thread (PTRACE_INTERRUPT ends the
 * futex wait), gives each its registers, xstate and mask, and unmaps the
 * region: no thread runs a byte of it again.
 *
 * Freestanding: raw system calls, no libc, no global data, no relocations
 * (built as a flat binary, entry at offset 0; native/Makefile). Created
 * threads run with no TLS of ours: their fs_base is already the program's. */
#include "parasite.h"

#define NR_futex 202
#define NR_clone 56
#define NR_set_robust_list 273
#define NR_rseq 334
#define NR_sigaltstack 131
#define NR_prctl 157
#define PR_SET_NAME 15
#define FUTEX_WAIT_PRIVATE 128
#define FUTEX_WAKE_PRIVATE 129

static inline long sys6(long n, long a, long b, long c, long d, long e, long f)
{
	register long r10 __asm__("r10") = d;
	register long r8 __asm__("r8") = e;
	register long r9 __asm__("r9") = f;
	long ret;
	__asm__ __volatile__("syscall" : "=a"(ret) : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
			     : "rcx", "r11", "memory");
	return ret;
}

static void park(struct fa_par_header *h)
{
	for (;;)
		sys6(NR_futex, (long)&h->park, FUTEX_WAIT_PRIVATE, 0, 0, 0, 0);
}

static int fail(struct fa_par_slot *s, long r, uint32_t call)
{
	if (r >= 0)
		return 0;
	s->err = (int32_t)r;
	s->err_call = call;
	return 1;
}

/* First code of a created thread, on its parasite stack. */
static __attribute__((noreturn, used)) void thread_main(struct fa_par_header *h, struct fa_par_slot *s)
{
	if (s->robust_head && fail(s, sys6(NR_set_robust_list, (long)s->robust_head, (long)s->robust_len, 0, 0, 0, 0), FA_PAR_CALL_ROBUST))
		goto done;
	if (s->rseq_area && fail(s, sys6(NR_rseq, (long)s->rseq_area, s->rseq_size, 0, s->rseq_sig, 0, 0), FA_PAR_CALL_RSEQ))
		goto done;
	if (s->has_altstack && fail(s, sys6(NR_sigaltstack, (long)&s->ss_sp, 0, 0, 0, 0, 0), FA_PAR_CALL_ALTSTACK))
		goto done;
	if (s->name[0] && fail(s, sys6(NR_prctl, PR_SET_NAME, (long)s->name, 0, 0, 0, 0), FA_PAR_CALL_NAME))
		goto done;
done:
	__atomic_add_fetch(&h->restored, 1, __ATOMIC_SEQ_CST);
	sys6(NR_futex, (long)&h->restored, FUTEX_WAKE_PRIVATE, 1, 0, 0, 0);
	park(h);
	__builtin_unreachable();
}

/* clone for a thread: the child starts on s->stack_top with (h, s) in
 * callee-saved registers (a child gets copies of the caller's registers) and
 * calls thread_main; the parent gets the TID or -errno. */
static long clone_thread(struct fa_par_header *h, struct fa_par_slot *s)
{
	register long r10 __asm__("r10") = (long)s->ctid;
	register long r8 __asm__("r8") = (long)s->tls;
	register long r12 __asm__("r12") = (long)h;
	register long r13 __asm__("r13") = (long)s;
	long ret;
	__asm__ __volatile__(
		"syscall\n\t"
		"test %%rax, %%rax\n\t"
		"jnz 1f\n\t"
		"xor %%ebp, %%ebp\n\t"
		"mov %%r12, %%rdi\n\t"
		"mov %%r13, %%rsi\n\t"
		"call thread_main\n\t"
		"hlt\n"
		"1:"
		: "=a"(ret)
		: "a"(NR_clone), "D"(s->flags), "S"(s->stack_top), "d"(s->ptid), "r"(r10), "r"(r8), "r"(r12), "r"(r13)
		: "rcx", "r11", "memory");
	return ret;
}

__attribute__((section(".text.entry"), noreturn, used)) void fa_parasite_main(struct fa_par_header *h)
{
	struct fa_par_slot *slots = (struct fa_par_slot *)(h + 1);
	uint32_t n = h->nthreads;
	/* main's own robust list (a fork leaves the copy none): here rather than
	 * by one more injected call, two ptrace stops */
	if (h->main_robust_head) {
		long r = sys6(NR_set_robust_list, (long)h->main_robust_head, (long)h->main_robust_len, 0, 0, 0, 0);
		if (r < 0)
			h->main_err = (int32_t)r;
	}
	for (uint32_t i = 0; i < n; i++) {
		long tid = clone_thread(h, &slots[i]);
		slots[i].tid = (int32_t)tid;
		if (tid < 0) {
			h->clone_err = (int32_t)tid;
			h->clone_failed_at = i;
			n = i; /* wait only for the threads that exist */
			break;
		}
		__atomic_store_n(&h->made, i + 1, __ATOMIC_RELEASE);
	}
	for (;;) {
		uint32_t r = __atomic_load_n(&h->restored, __ATOMIC_ACQUIRE);
		if (r >= n)
			break;
		sys6(NR_futex, (long)&h->restored, FUTEX_WAIT_PRIVATE, r, 0, 0, 0);
	}
	__atomic_store_n(&h->finished, 1, __ATOMIC_RELEASE);
	park(h);
	__builtin_unreachable();
}
