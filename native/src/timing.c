/* Where one forkall's time goes: a TSC stamp at the end of each phase, in the
 * parent and (through the report page) in the child, turned into microseconds
 * by forkall_last_timing() outside the critical path. Reading the TSC is one
 * instruction, touches no memory but the stamp and is async-signal-safe, so the
 * stamps stay in every build; the conversion uses two CLOCK_MONOTONIC readings
 * taken in ordinary context (the start and the end of forkall_ex). */
#include <stdio.h>
#include <time.h>
#include "forkall.h"
#include "engine.h"

FA_HIDDEN struct fa_timing fa_timing;

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void fa_timing_start(void)
{
	for (int i = 0; i < FA_T_N; i++)
		fa_timing.t[i] = 0;
	for (int i = 0; i < FA_TC_N; i++)
		fa_timing.child[i] = 0;
	fa_timing.start_ns = mono_ns();
	fa_timing.t[FA_T_START] = fa_tsc();
	fa_timing.done = 0;
}

void fa_timing_end(unsigned threads)
{
	fa_timing.end_tsc = fa_tsc();
	fa_timing.end_ns = mono_ns();
	fa_timing.threads = threads;
	fa_timing.done = 1;
}

static char text[640];

/* Microseconds from the stamp `from` to the stamp `to`; -1 when either is missing. */
static double span(double ns_per_tick, uint64_t from, uint64_t to)
{
	if (!from || !to || to < from)
		return -1;
	return (double)(to - from) * ns_per_tick / 1000.0;
}

__attribute__((visibility("default"))) const char *forkall_last_timing(void)
{
	const struct fa_timing *t = &fa_timing;
	if (!t->done || t->end_tsc <= t->t[FA_T_START]) {
		text[0] = 0;
		return text;
	}
	double k = (double)(t->end_ns - t->start_ns) / (double)(t->end_tsc - t->t[FA_T_START]);
	const uint64_t *p = t->t, *c = t->child;
	snprintf(text, sizeof text,
		 "{\"threads\":%u,\"totalUs\":%.1f,\"lockUs\":%.1f,\"signalUs\":%.1f,\"parkUs\":%.1f,\"prepareUs\":%.1f,\"forkUs\":%.1f,"
		 "\"releaseUs\":%.1f,\"awaitUs\":%.1f,\"childStartUs\":%.1f,\"childSetupUs\":%.1f,\"childCreateUs\":%.1f,"
		 "\"childRestoreUs\":%.1f,\"childReportUs\":%.1f}",
		 t->threads, span(k, p[FA_T_START], t->end_tsc), span(k, p[FA_T_START], p[FA_T_LOCKED]),
		 span(k, p[FA_T_LOCKED], p[FA_T_SIGNALLED]), span(k, p[FA_T_SIGNALLED], p[FA_T_PARKED]), span(k, p[FA_T_PARKED], p[FA_T_FORK]),
		 span(k, p[FA_T_FORK], p[FA_T_FORKED]), span(k, p[FA_T_FORKED], p[FA_T_RELEASED]),
		 span(k, p[FA_T_RELEASED], t->end_tsc), span(k, p[FA_T_START], c[FA_TC_FORKED]),
		 span(k, c[FA_TC_FORKED], c[FA_TC_SETUP]), span(k, c[FA_TC_SETUP], c[FA_TC_CREATED]),
		 span(k, c[FA_TC_CREATED], c[FA_TC_RESTORED]), span(k, c[FA_TC_RESTORED], c[FA_TC_REPORTED]));
	return text;
}
