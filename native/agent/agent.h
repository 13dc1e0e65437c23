/* The agent: what turns an unmodified program into a snapshot server.
 *   config.c    FORKALL_* environment
 *   control.c   reading and writing protocol messages (raw syscalls)
 *   triggers.c  when to freeze: a request, threads=N settled, delay
 *   launcher.c  images that exec the program (shims): their trigger waits
 *   server.c    the agent thread: freeze once, then serve clones
 *   compact.c   FORKALL_COMPACT=1: the frozen template in huge pages
 *   fork_all.c  FORKALL_FORK=all: fork() becomes forkall()
 *   thread_name.c  the agent thread takes the main thread's name once frozen */
#ifndef FA_AGENT_H
#define FA_AGENT_H

#include <stdint.h>
#include "engine.h"
#include "protocol.h"

enum fa_trigger { FA_AT_REQUEST, FA_AT_THREADS, FA_AT_DELAY };

/* Exit statuses of a program the agent ends (docs/agent.md), chosen to be
 * unlike a program's own: a bad FORKALL_* value (checked before the program
 * runs); the control channel closed or broken before the snapshot. */
#define FA_EXIT_CONFIG 121
#define FA_EXIT_CONTROL_LOST 122

struct fa_agent_config {
	int control_fd;		/* FORKALL_CONTROL_FD, -1 when the agent is off */
	enum fa_trigger at;	/* FORKALL_AT: request | threads=N | delay=MS */
	long at_value;
	int exact_tids;		/* FORKALL_EXACT_TIDS=1 */
	int compact;		/* FORKALL_COMPACT=1 */
	int prefault;		/* FORKALL_PREFAULT=1 */
	int shared_fds;		/* FORKALL_SHARED_FDS=1: clones share event objects, as after fork */
	long launcher_wait_ms;	/* FORKALL_LAUNCHER_WAIT_MS in a launcher image (launcher.c), else 0 */
};

/* 0: the agent is on; -1: off (no controller, or its descriptor is not open
 * here). A bad value ends the program (FA_EXIT_CONFIG) with a message. */
FA_HIDDEN int fa_agent_read_config(struct fa_agent_config *c);

/* control.c: 0 on success, -1 when the channel is closed or broken */
FA_HIDDEN int fa_send(int fd, uint16_t type, const void *payload, uint32_t len);
FA_HIDDEN int fa_send_error(int fd, uint32_t request, int err, const char *msg);
/* Reads one message and the descriptors sent with it (at most FA_MAX_FDS, in
 * fds[0..*nfds), close-on-exec; the caller owns them, also on failure);
 * -1 on EOF/garbage (after replying with an error if it can). */
FA_HIDDEN int fa_recv(int fd, struct fa_msg_header *h, unsigned char *payload, int *fds, int *nfds);
FA_HIDDEN void fa_close_fds(int *fds, int nfds);

/* triggers.c */
FA_HIDDEN int fa_program_threads(int agent_tid, int *running);
FA_HIDDEN int fa_trigger_due(const struct fa_agent_config *c, long started_ms, int agent_tid);

/* launcher.c: 1 when this image is a shell or env that will exec the program */
FA_HIDDEN int fa_image_is_launcher(void);

/* compact.c */
FA_HIDDEN long fa_compact_anonymous(void);

/* prefault.c: clones inherit the page-table entries of read-only file mappings */
FA_HIDDEN long fa_prefault_readonly_files(void);

/* private_fds_report.c: in a clone, before the control fd is closed; wake_fd
 * (server.c's eventfd, or -1) is kept shared too */
FA_HIDDEN void fa_agent_private_fds(int control_fd, int wake_fd);

/* thread_name.c: after fa_snapshot_begin, before the first clone */
FA_HIDDEN void fa_agent_take_main_name(struct fa_op *op);

/* server.c */
FA_HIDDEN extern volatile int fa_agent_active;
FA_HIDDEN extern volatile int fa_snapshot_wanted;

#endif
