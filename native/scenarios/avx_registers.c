/* A thread spinning with known values live in ymm0-ymm15, a non-default
 * MXCSR and x87 control word: after the snapshot every bit is the same in both
 * processes (the kernel restores the whole xstate from the signal frame). */
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>
#include "scenario.h"

static volatile int ready, go;
static uint32_t in[16][8] __attribute__((aligned(32)));
static uint32_t out[16][8] __attribute__((aligned(32)));
static uint32_t mxcsr_out;
static uint16_t fcw_out;

static void *vector(void *arg)
{
	uint32_t mxcsr = 0x7f80; /* all exceptions masked, round toward zero, FTZ off */
	uint16_t fcw = 0x0e7f;	 /* round toward zero, extended precision */
	__asm__ volatile("ldmxcsr %0\n\tfldcw %1" : : "m"(mxcsr), "m"(fcw));
	__asm__ volatile(
		"vmovdqa 0(%[in]), %%ymm0\n\t vmovdqa 32(%[in]), %%ymm1\n\t"
		"vmovdqa 64(%[in]), %%ymm2\n\t vmovdqa 96(%[in]), %%ymm3\n\t"
		"vmovdqa 128(%[in]), %%ymm4\n\t vmovdqa 160(%[in]), %%ymm5\n\t"
		"vmovdqa 192(%[in]), %%ymm6\n\t vmovdqa 224(%[in]), %%ymm7\n\t"
		"vmovdqa 256(%[in]), %%ymm8\n\t vmovdqa 288(%[in]), %%ymm9\n\t"
		"vmovdqa 320(%[in]), %%ymm10\n\t vmovdqa 352(%[in]), %%ymm11\n\t"
		"vmovdqa 384(%[in]), %%ymm12\n\t vmovdqa 416(%[in]), %%ymm13\n\t"
		"vmovdqa 448(%[in]), %%ymm14\n\t vmovdqa 480(%[in]), %%ymm15\n\t"
		"movl $1, (%[ready])\n"
		"1:\n\t pause\n\t cmpl $0, (%[go])\n\t je 1b\n\t"
		"vmovdqa %%ymm0, 0(%[out])\n\t vmovdqa %%ymm1, 32(%[out])\n\t"
		"vmovdqa %%ymm2, 64(%[out])\n\t vmovdqa %%ymm3, 96(%[out])\n\t"
		"vmovdqa %%ymm4, 128(%[out])\n\t vmovdqa %%ymm5, 160(%[out])\n\t"
		"vmovdqa %%ymm6, 192(%[out])\n\t vmovdqa %%ymm7, 224(%[out])\n\t"
		"vmovdqa %%ymm8, 256(%[out])\n\t vmovdqa %%ymm9, 288(%[out])\n\t"
		"vmovdqa %%ymm10, 320(%[out])\n\t vmovdqa %%ymm11, 352(%[out])\n\t"
		"vmovdqa %%ymm12, 384(%[out])\n\t vmovdqa %%ymm13, 416(%[out])\n\t"
		"vmovdqa %%ymm14, 448(%[out])\n\t vmovdqa %%ymm15, 480(%[out])\n\t"
		"vzeroupper\n\t"
		"stmxcsr (%[mx])\n\t fnstcw (%[cw])\n\t"
		:
		: [in] "r"(in), [out] "r"(out), [ready] "r"(&ready), [go] "r"(&go), [mx] "r"(&mxcsr_out),
		  [cw] "r"(&fcw_out)
		: "memory", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10",
		  "xmm11", "xmm12", "xmm13", "xmm14", "xmm15");
	int same = memcmp(in, out, sizeof in) == 0;
	sc_log("vector", "ymm0-15 bit-identical=%d mxcsr=0x%x fcw=0x%x", same, mxcsr_out, fcw_out);
	return 0;
}

int main(void)
{
	uint32_t x = 0x9e3779b9;
	for (int r = 0; r < 16; r++)
		for (int l = 0; l < 8; l++)
			in[r][l] = (x = x * 1664525u + 1013904223u);
	pthread_t t;
	sc_spawn(vector, 0, (unsigned long *)&t);
	while (!ready)
		usleep(1000);
	usleep(10000);
	sc_snapshot();
	go = 1;
	pthread_join(t, 0);
	return sc_finish();
}
