/* Every general register, the signal mask and the robust-list registration
 * of each thread, checked by value after the snapshot in both processes:
 *  - "spinner" holds a known value in all 15 GPRs but rsp (rax, rbx, rcx, rdx,
 *    rsi, rdi, rbp, r8-r15) while it spins in user space, so the snapshot
 *    stops it at any instruction of its loop;
 *  - "blocker" sleeps in futex(FUTEX_WAIT) with known values in the
 *    registers a system call keeps (rbx, rbp, r12-r15, and the argument
 *    registers rdi, rsi, rdx, r10, r8, r9; rcx and r11 belong to the syscall
 *    instruction), so its call is restarted with them;
 *  - each worker and main block a different set of signals, and each worker
 *    registers a robust-list head of its own (empty, with a distinct futex
 *    offset) in place of its libc's.
 * After the snapshot each value is compared with what was loaded; the futex
 * word is process-private memory, so each process wakes its own threads. */
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "scenario.h"

/* The registers' values: 0x5ca1ab1e in the high half, thread and register in the low. */
#define V(t, r) (0x5ca1ab1e00000000UL | ((unsigned long)(t) << 16) | (unsigned long)(r))

/* base + 0: the futex word / go flag; + 4: ready; + 8: the registers stored after the wait */
struct block {
	volatile int word;
	volatile int ready;
	uint64_t out[16];
};

enum { RAX, RBX, RCX, RDX, RSI, RDI, RBP, R8, R9, R10, R11, R12, R13, R14, R15, NREG };
static const char *const reg_names[NREG] = { "rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "r8",
					     "r9",  "r10", "r11", "r12", "r13", "r14", "r15" };

struct robust_head {
	void *next;
	long futex_offset;
	void *pending;
};

static struct block spin_blk, block_blk;
static volatile pid_t blocker_tid;
static struct robust_head heads[2];

/* Signals whose blocked state is compared, and the set each thread blocks. */
static const int watched[] = { SIGUSR1, SIGUSR2, SIGWINCH, SIGURG, SIGPIPE };
#define NWATCHED (int)(sizeof watched / sizeof watched[0])
enum { MASK_SPINNER = 0x01 | 0x10, MASK_BLOCKER = 0x02 | 0x04, MASK_MAIN = 0x08 };

static void block_mask(int bits)
{
	sigset_t s;
	sigemptyset(&s);
	for (int i = 0; i < NWATCHED; i++)
		if (bits & (1 << i))
			sigaddset(&s, watched[i]);
	pthread_sigmask(SIG_SETMASK, &s, 0);
}

static int blocked_bits(void)
{
	sigset_t s;
	int bits = 0;
	pthread_sigmask(SIG_BLOCK, 0, &s);
	for (int i = 0; i < NWATCHED; i++)
		if (sigismember(&s, watched[i]))
			bits |= 1 << i;
	return bits;
}

/* Registers a robust-list head of this thread's own; returns the libc's, to put back. */
static void *own_robust_list(struct robust_head *h, long futex_offset, size_t *old_len)
{
	void *old = 0;
	h->next = h;
	h->futex_offset = futex_offset;
	h->pending = 0;
	syscall(SYS_get_robust_list, 0, &old, old_len);
	if (syscall(SYS_set_robust_list, h, sizeof *h))
		sc_die("set_robust_list");
	return old;
}

static void check_robust(const char *label, struct robust_head *h, long futex_offset)
{
	void *now = 0;
	size_t len = 0;
	syscall(SYS_get_robust_list, 0, &now, &len);
	sc_check(label, "robust list head is its own", now == h, 1);
	sc_check(label, "robust list length", (long)len, (long)sizeof *h);
	sc_check(label, "robust list futex offset", h->futex_offset, futex_offset);
}

static void check_regs(const char *label, const struct block *b, int thread, const int *regs, int n)
{
	for (int i = 0; i < n; i++) {
		int r = regs[i];
		long want = r == RDI ? (long)(uintptr_t)b : (long)V(thread, r);
		sc_check(label, reg_names[r], (long)b->out[r], want);
	}
}

static void *spinner(void *arg)
{
	size_t old_len;
	void *old = own_robust_list(&heads[0], -24, &old_len);
	block_mask(MASK_SPINNER);
	__asm__ volatile(
		"sub $128, %%rsp\n\t"
		"push %%rbp\n\t"
		"movabs %[v0], %%rax\n\t"
		"movabs %[v1], %%rbx\n\t"
		"movabs %[v2], %%rcx\n\t"
		"movabs %[v3], %%rdx\n\t"
		"movabs %[v4], %%rsi\n\t"
		"movabs %[v6], %%rbp\n\t"
		"movabs %[v7], %%r8\n\t"
		"movabs %[v8], %%r9\n\t"
		"movabs %[v9], %%r10\n\t"
		"movabs %[v10], %%r11\n\t"
		"movabs %[v11], %%r12\n\t"
		"movabs %[v12], %%r13\n\t"
		"movabs %[v13], %%r14\n\t"
		"movabs %[v14], %%r15\n\t"
		"movl $1, 4(%%rdi)\n"
		"1:\n\t"
		"pause\n\t"
		"cmpl $0, (%%rdi)\n\t"
		"je 1b\n\t"
		"mov %%rax, 8(%%rdi)\n\t"
		"mov %%rbx, 16(%%rdi)\n\t"
		"mov %%rcx, 24(%%rdi)\n\t"
		"mov %%rdx, 32(%%rdi)\n\t"
		"mov %%rsi, 40(%%rdi)\n\t"
		"mov %%rdi, 48(%%rdi)\n\t"
		"mov %%rbp, 56(%%rdi)\n\t"
		"mov %%r8, 64(%%rdi)\n\t"
		"mov %%r9, 72(%%rdi)\n\t"
		"mov %%r10, 80(%%rdi)\n\t"
		"mov %%r11, 88(%%rdi)\n\t"
		"mov %%r12, 96(%%rdi)\n\t"
		"mov %%r13, 104(%%rdi)\n\t"
		"mov %%r14, 112(%%rdi)\n\t"
		"mov %%r15, 120(%%rdi)\n\t"
		"pop %%rbp\n\t"
		"add $128, %%rsp\n\t"
		:
		: "D"(&spin_blk), [v0] "i"(V(1, 0)), [v1] "i"(V(1, 1)), [v2] "i"(V(1, 2)), [v3] "i"(V(1, 3)), [v4] "i"(V(1, 4)), [v6] "i"(V(1, 6)), [v7] "i"(V(1, 7)), [v8] "i"(V(1, 8)), [v9] "i"(V(1, 9)), [v10] "i"(V(1, 10)), [v11] "i"(V(1, 11)), [v12] "i"(V(1, 12)), [v13] "i"(V(1, 13)), [v14] "i"(V(1, 14))
		: "memory", "cc", "rax", "rbx", "rcx", "rdx", "rsi", "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15");
	/* the values were loaded in thread 1's pattern, except rdi (the block's address) */
	static const int all[] = { RAX, RBX, RCX, RDX, RSI, RDI, RBP, R8, R9, R10, R11, R12, R13, R14, R15 };
	check_regs("spinner", &spin_blk, 1, all, NREG);
	sc_check("spinner", "blocked signals", blocked_bits(), MASK_SPINNER);
	check_robust("spinner", &heads[0], -24);
	syscall(SYS_set_robust_list, old, old_len);
	return arg;
}

static void *blocker(void *arg)
{
	size_t old_len;
	void *old = own_robust_list(&heads[1], -40, &old_len);
	block_mask(MASK_BLOCKER);
	blocker_tid = sc_gettid();
	/* futex(&word, FUTEX_WAIT_PRIVATE, 0, NULL) until the word is set; the
	 * argument registers hold the call's arguments, r8/r9 (unused by
	 * FUTEX_WAIT) and the callee-saved ones hold the pattern */
	__asm__ volatile(
		"sub $128, %%rsp\n\t"
		"push %%rbp\n\t"
		"movabs %[v1], %%rbx\n\t"
		"movabs %[v6], %%rbp\n\t"
		"movabs %[v7], %%r8\n\t"
		"movabs %[v8], %%r9\n\t"
		"movabs %[v11], %%r12\n\t"
		"movabs %[v12], %%r13\n\t"
		"movabs %[v13], %%r14\n\t"
		"movabs %[v14], %%r15\n\t"
		"xor %%r10d, %%r10d\n\t"
		"mov $128, %%esi\n\t" /* FUTEX_WAIT | FUTEX_PRIVATE_FLAG */
		"xor %%edx, %%edx\n\t"
		"movl $1, 4(%%rdi)\n"
		"1:\n\t"
		"mov %[nr], %%eax\n\t"
		"syscall\n\t"
		"cmpl $0, (%%rdi)\n\t"
		"je 1b\n\t"
		"mov %%rbx, 16(%%rdi)\n\t"
		"mov %%rdx, 32(%%rdi)\n\t"
		"mov %%rsi, 40(%%rdi)\n\t"
		"mov %%rdi, 48(%%rdi)\n\t"
		"mov %%rbp, 56(%%rdi)\n\t"
		"mov %%r8, 64(%%rdi)\n\t"
		"mov %%r9, 72(%%rdi)\n\t"
		"mov %%r10, 80(%%rdi)\n\t"
		"mov %%r12, 96(%%rdi)\n\t"
		"mov %%r13, 104(%%rdi)\n\t"
		"mov %%r14, 112(%%rdi)\n\t"
		"mov %%r15, 120(%%rdi)\n\t"
		"pop %%rbp\n\t"
		"add $128, %%rsp\n\t"
		:
		: "D"(&block_blk), [nr] "i"(SYS_futex), [v1] "i"(V(2, 1)), [v6] "i"(V(2, 6)), [v7] "i"(V(2, 7)), [v8] "i"(V(2, 8)), [v11] "i"(V(2, 11)), [v12] "i"(V(2, 12)), [v13] "i"(V(2, 13)), [v14] "i"(V(2, 14))
		: "memory", "cc", "rax", "rbx", "rcx", "rdx", "rsi", "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15");
	static const int patterned[] = { RBX, RBP, R8, R9, R12, R13, R14, R15, RDI };
	check_regs("blocker", &block_blk, 2, patterned, (int)(sizeof patterned / sizeof patterned[0]));
	sc_check("blocker", "rsi (futex op)", (long)block_blk.out[RSI], 128);
	sc_check("blocker", "rdx (futex value)", (long)block_blk.out[RDX], 0);
	sc_check("blocker", "r10 (no timeout)", (long)block_blk.out[R10], 0);
	sc_check("blocker", "blocked signals", blocked_bits(), MASK_BLOCKER);
	check_robust("blocker", &heads[1], -40);
	syscall(SYS_set_robust_list, old, old_len);
	return arg;
}

int main(void)
{
	pthread_t s, b;
	block_mask(MASK_MAIN);
	sc_spawn(spinner, 0, (unsigned long *)&s);
	sc_spawn(blocker, 0, (unsigned long *)&b);
	while (!spin_blk.ready || !block_blk.ready || !blocker_tid)
		usleep(1000);
	sc_wait_blocked(blocker_tid, SYS_futex);
	usleep(10000); /* the spinner is in its loop */
	sc_snapshot();
	sc_check("main", "blocked signals", blocked_bits(), MASK_MAIN);
	spin_blk.word = 1;
	block_blk.word = 1;
	syscall(SYS_futex, &block_blk.word, 1 | 128 /* FUTEX_WAKE_PRIVATE */, 1, 0, 0, 0);
	pthread_join(s, 0);
	pthread_join(b, 0);
	return sc_finish();
}
