/* When to freeze. "Settled" for threads=N: at least N program threads exist
 * (the agent's own thread is not counted) and none of them is running (state
 * R) in two scans 20 ms apart - the program has finished starting up and waits
 * for work. */
#include "agent.h"

/* Counts program threads; *running gets how many are in state R. */
int fa_program_threads(int agent_tid, int *running)
{
	int n = 0, r = 0;
	long fd = fa_task_dir_open();
	if (fd < 0)
		return -1;
	unsigned count = 0;
	if (fa_area_reserve(1) == 0 && fa_task_dir_read((int)fd, fa_area.tids, fa_area.cap, &count) == 0) {
		unsigned stored = count < fa_area.cap ? count : fa_area.cap;
		for (unsigned i = 0; i < stored; i++) {
			int tid = fa_area.tids[i];
			if (tid == agent_tid)
				continue;
			char st = fa_task_state(tid);
			if (st == 'Z' || st == 'X' || st == 0)
				continue;
			n++;
			r += st == 'R';
		}
	}
	fa_sys1(SYS_close, fd);
	*running = r;
	return n;
}

int fa_trigger_due(const struct fa_agent_config *c, long started_ms, int agent_tid)
{
	static int settled_scans;
	if (c->at == FA_AT_DELAY)
		return fa_now_ms() - started_ms >= c->at_value;
	if (c->at == FA_AT_THREADS) {
		int running = 0;
		int n = fa_program_threads(agent_tid, &running);
		settled_scans = (n >= c->at_value && running == 0) ? settled_scans + 1 : 0;
		return settled_scans >= 2;
	}
	return 0;
}
