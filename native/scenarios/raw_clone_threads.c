/* Threads that are not libc threads: made with a bare clone() (no libc
 * descriptor of their own), one with fs_base 0, one with fs_base on an
 * inaccessible page, one sharing the creator's fs_base. Parking must not read
 * through their FS (it used to take SIGSEGV in the handler and kill the
 * process); the clone has each of them, counting again, with the same fs_base.
 * The raw threads touch no libc state: raw system calls and atomics only. */
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "scenario.h"

#define NRAW 3
#define STACK (64 * 1024)

static volatile unsigned long count[NRAW];
static volatile unsigned long fs_seen[NRAW];
static volatile int started, stop, stopped;
static unsigned long fs_want[NRAW];

static long raw_syscall2(long n, long a, long b)
{
	long r;
	__asm__ __volatile__("syscall" : "=a"(r) : "a"(n), "D"(a), "S"(b) : "rcx", "r11", "memory");
	return r;
}

static int raw_thread(void *arg)
{
	long i = (long)arg;
	unsigned long fs = 0;
	if (i < 2)
		raw_syscall2(SYS_arch_prctl, 0x1002 /* ARCH_SET_FS */, (long)fs_want[i]);
	__atomic_add_fetch(&started, 1, __ATOMIC_SEQ_CST);
	while (!stop) {
		count[i]++;
		raw_syscall2(SYS_arch_prctl, 0x1003 /* ARCH_GET_FS */, (long)&fs);
		fs_seen[i] = fs;
		raw_syscall2(SYS_sched_yield, 0, 0);
	}
	__atomic_add_fetch(&stopped, 1, __ATOMIC_SEQ_CST);
	for (;;)
		raw_syscall2(SYS_exit, 0, 0);
	return 0;
}

static void wait_progress(const char *who, int i)
{
	unsigned long c0 = count[i];
	for (int n = 0; n < 100000 && count[i] == c0; n++)
		usleep(100);
	sc_check("main", who, count[i] != c0, 1);
}

int main(void)
{
	static const char *names[NRAW] = { "fs=0 thread counts", "fs=inaccessible thread counts",
					   "shared-fs thread counts" };
	/* an inaccessible page (PROT_NONE keeps the address from being reused) */
	char *page = mmap(0, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	fs_want[0] = 0;
	fs_want[1] = (unsigned long)page + 64;
	unsigned long self_fs = 0;
	raw_syscall2(SYS_arch_prctl, 0x1003, (long)&self_fs);
	fs_want[2] = self_fs;
	const int flags = CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD | CLONE_SYSVSEM;
	for (long i = 0; i < NRAW; i++) {
		char *stack = mmap(0, STACK, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (clone(raw_thread, stack + STACK, flags, (void *)i) < 0)
			sc_die("clone");
	}
	while (started < NRAW)
		usleep(1000);
	sc_snapshot();
	for (int i = 0; i < NRAW; i++) {
		wait_progress(names[i], i);
		sc_check("main", "raw thread keeps its fs_base", fs_seen[i] == fs_want[i], 1);
	}
	sc_check("main", "threads", sc_count_tasks(), 1 + NRAW);
	stop = 1;
	while (stopped < NRAW)
		usleep(1000);
	sc_no_thread_count();
	return sc_finish();
}
