/* A thread runs on a small stack with live data right below it, the way a
 * goroutine does: it has an alternate signal stack, so no signal handler ever
 * writes below its stack pointer. An engine must not either: whatever it puts
 * there for its own use (injected call arguments, return frames) must be gone
 * from the original and from the clone before the thread runs again. The
 * worker fills LIVE bytes below its stack with a pattern, spins there at the
 * snapshot, then checks every byte in both processes. */
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include "scenario.h"

#define LIVE 12288
static unsigned char area[LIVE + 512] __attribute__((aligned(64)));
static volatile int spinning, go;

static unsigned char pattern(long i) { return (unsigned char)(i * 7 + 3); }

/* rsp = area + LIVE + 256: the red zone ends 128 bytes above the live data */
static void spin_on_small_stack(void)
{
	__asm__ volatile(
		"movq %%rsp, %%r12\n\t"
		"movq %[top], %%rsp\n\t"
		"movl $1, %[spinning]\n"
		"1:\n\t"
		"pause\n\t"
		"cmpl $0, %[go]\n\t"
		"je 1b\n\t"
		"movq %%r12, %%rsp\n\t"
		: [spinning] "=m"(spinning)
		: [top] "r"(area + LIVE + 256), [go] "m"(go)
		: "r12", "memory", "cc");
}

static void *worker(void *arg)
{
	stack_t ss = { .ss_sp = malloc(65536), .ss_size = 65536 };
	if (!ss.ss_sp || sigaltstack(&ss, 0))
		sc_die("sigaltstack");
	for (long i = 0; i < LIVE; i++)
		area[i] = pattern(i);
	spin_on_small_stack();
	long bad = 0, first = -1;
	for (long i = 0; i < LIVE; i++)
		if (area[i] != pattern(i) && bad++ == 0)
			first = i;
	sc_check("worker", "bytes changed below the stack pointer", bad, 0);
	if (bad)
		sc_log("worker", "first changed byte %ld below the stack pointer", LIVE + 256 - first);
	return 0;
}

int main(void)
{
	pthread_t t;
	sc_spawn(worker, 0, (unsigned long *)&t);
	while (!spinning)
		sched_yield();
	sc_snapshot();
	go = 1;
	pthread_join(t, 0);
	return sc_finish();
}
