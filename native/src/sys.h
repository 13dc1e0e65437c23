/* Raw system calls for the engine. Code that runs between the fork and the
 * moment threads resume cannot use libc wrappers: they write errno through a
 * TLS pointer that belongs to the thread being resurrected, and some take locks.
 * These return the kernel's value (-errno on failure) and touch no memory. */
#ifndef FA_SYS_H
#define FA_SYS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/syscall.h>

#if !defined(__x86_64__)
#error "forkall supports x86-64 only"
#endif

#define FA_HIDDEN __attribute__((visibility("hidden")))

/* getdents64 records */
struct fa_dirent64 {
	uint64_t ino;
	int64_t off;
	unsigned short reclen;
	unsigned char type;
	char name[];
};

static inline long fa_sys6(long n, long a, long b, long c, long d, long e, long f)
{
	register long r10 __asm__("r10") = d;
	register long r8 __asm__("r8") = e;
	register long r9 __asm__("r9") = f;
	long ret;
	__asm__ __volatile__("syscall"
			     : "=a"(ret)
			     : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
			     : "rcx", "r11", "memory");
	return ret;
}

#define fa_sys0(n) fa_sys6((n), 0, 0, 0, 0, 0, 0)
#define fa_sys1(n, a) fa_sys6((n), (long)(a), 0, 0, 0, 0, 0)
#define fa_sys2(n, a, b) fa_sys6((n), (long)(a), (long)(b), 0, 0, 0, 0)
#define fa_sys3(n, a, b, c) fa_sys6((n), (long)(a), (long)(b), (long)(c), 0, 0, 0)
#define fa_sys4(n, a, b, c, d) fa_sys6((n), (long)(a), (long)(b), (long)(c), (long)(d), 0, 0)
#define fa_sys5(n, a, b, c, d, e) fa_sys6((n), (long)(a), (long)(b), (long)(c), (long)(d), (long)(e), 0)

static inline int fa_gettid(void) { return (int)fa_sys0(SYS_gettid); }
static inline int fa_getpid(void) { return (int)fa_sys0(SYS_getpid); }

/* Kernel constants not every libc header exposes. */
#define FA_SYS_clone3 435
#define FA_SYS_close_range 436
#define FA_CLONE_NEWNS 0x00020000ul
#define FA_CLONE_NEWUSER 0x10000000ul
#define FA_CLONE_NEWPID 0x20000000ul

/* clone3's argument, version 2 (with set_tid), 88 bytes. */
struct fa_clone_args {
	uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls, set_tid, set_tid_size,
		cgroup;
};

#ifndef ARCH_SET_GS
#define ARCH_SET_GS 0x1001
#define ARCH_SET_FS 0x1002
#define ARCH_GET_FS 0x1003
#define ARCH_GET_GS 0x1004
#endif
#define FA_ARCH_SHSTK_STATUS 0x5005
#define FA_ARCH_SHSTK_SHSTK 0x1ul
#define FA_PR_GET_TID_ADDRESS 40
#define FA_PR_SET_NAME 15
#define FA_PR_GET_NAME 16
#define FA_PR_GET_SECCOMP 21
#define FA_PR_SET_PDEATHSIG 1
#define FA_RSEQ_SIG 0x53053053u
#define FA_FUTEX_WAIT_PRIVATE 128
#define FA_FUTEX_WAKE_PRIVATE 129
#define FA_CPUSET_BYTES 128 /* 1024 CPUs, glibc's cpu_set_t */

/* The kernel's sigaction for rt_sigaction (not libc's struct). */
struct fa_ksigaction {
	void *handler;
	unsigned long flags;
	void (*restorer)(void);
	uint64_t mask;
};
#define FA_SA_SIGINFO 0x4ul
#define FA_SA_ONSTACK 0x08000000ul
#define FA_SA_RESTART 0x10000000ul
#define FA_SA_RESTORER 0x04000000ul

/* sched_getattr/sched_setattr argument (version 1 layout, 56 bytes). */
struct fa_sched_attr {
	uint32_t size;
	uint32_t policy;
	uint64_t flags;
	int32_t nice;
	uint32_t priority;
	uint64_t runtime, deadline, period;
};

static inline long fa_futex_wait(volatile int *addr, int val, const void *ts)
{
	return fa_sys4(SYS_futex, addr, FA_FUTEX_WAIT_PRIVATE, val, ts);
}

static inline long fa_futex_wake(volatile int *addr, int n)
{
	return fa_sys3(SYS_futex, addr, FA_FUTEX_WAKE_PRIVATE, n);
}

#endif
