/* Once the program is frozen the agent thread takes the name of the program's
 * main thread. In each clone the agent thread becomes that main thread, and
 * every thread it re-creates starts with its name (a new thread inherits its
 * creator's): threads named like the main thread - all of a program's threads
 * that never named themselves - then need no PR_SET_NAME in the clone, nor
 * does the main thread itself. Under its old name, "forkall-agent", every
 * clone paid one prctl per thread. In the template the agent thread is then
 * told apart by its TID (the one thread not parked), not by its name. */
#include "agent.h"

static int same_name(const char *a, const char *b)
{
	for (int i = 0; i < 16; i++)
		if (a[i] != b[i])
			return 0;
	return 1;
}

void fa_agent_take_main_name(struct fa_op *op)
{
	const struct fa_slot *main = fa_slot_of(op->pid);
	if (!main || main->state != FA_PARKED || !main->name[0] || same_name(main->name, op->self_name))
		return;
	if (fa_sys2(SYS_prctl, FA_PR_SET_NAME, main->name) < 0)
		return; /* keep its own: the clone then names each thread, as before */
	for (int i = 0; i < 16; i++)
		op->self_name[i] = main->name[i];
	/* what park.c decided against the old name, now against the new one */
	for (unsigned i = 0; i < op->nslots; i++) {
		struct fa_slot *s = &fa_area.slots[i];
		if (s->state == FA_PARKED)
			s->name_inherited = same_name(s->name, op->self_name);
	}
}
