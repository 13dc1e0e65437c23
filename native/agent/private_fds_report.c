/* In a clone made by the agent: its own event objects (native/src/private_fds.h),
 * unless FORKALL_SHARED_FDS=1. The controller learns what stayed shared or was
 * copied approximately through a NOT_COPIED message (docs/protocol.md), sent
 * by the clone itself on the control channel before it closes its copy of it.
 * A copy that cannot be made leaves the clone not whole: it exits with 127. */
#include "agent.h"
#include "private_fds.h"

void fa_agent_private_fds(int control_fd, int wake_fd)
{
	static struct fa_pfd_report r; /* the clone's own copy of the memory */
	int keep[2] = { control_fd, wake_fd }; /* the template's own: closed before the program runs */
	int err = fa_private_fds(keep, wake_fd >= 0 ? 2 : 1, &r);
	if (err < 0) {
		static const char msg[] = "forkall: clone could not make its event objects (epoll, eventfd, pipes) private; exiting with 127\n";
		fa_sys3(SYS_write, 2, msg, sizeof msg - 1);
		fa_sys1(SYS_exit_group, 127);
	}
	if (!r.not_copied)
		return;
	unsigned char p[FA_MAX_PAYLOAD];
	int pid = fa_getpid();
	__builtin_memcpy(p, &pid, 4);
	__builtin_memcpy(p + 4, &r.copied, 4);
	uint32_t n = 8;
	for (unsigned i = 0; i < r.len && n < sizeof p; i++)
		p[n++] = (unsigned char)r.note[i];
	fa_send(control_fd, FA_MSG_NOT_COPIED, p, n);
}
