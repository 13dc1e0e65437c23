/* The agent thread. When the program was started by a controller (forkall run,
 * spawnTemplate), the agent's constructor starts one thread that:
 *   1. says HELLO and waits for the trigger (a SNAPSHOT_NOW request,
 *      threads=N settled, delay=MS, or the program's forkall_snapshot());
 *   2. freezes the program: every other thread is parked for good - the
 *      template never runs its own code again;
 *   3. serves CLONE requests: each clone is a fresh fork of the frozen state,
 *      a child of the template; the agent reports its PID and, through a
 *      pidfd, its real wait status (or, for a one-reply request, both in one
 *      message once it ended: FA_CLONE_ONE_REPLY). A clone is reported once it is whole;
 *      meanwhile the agent goes on serving requests and reaping, so clones
 *      asked for together re-create their threads at the same time. In each clone the agent thread takes over
 *      the program's main thread (same registers, TLS, stack: it becomes it), so
 *      the clone has exactly the program's threads.
 * The template exits when the control channel closes (controller gone) or
 * carries garbage, after killing the clones it still has.
 * Raw system calls only once the program is frozen. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include "agent.h"
#include "forkall.h"
#include "forkall_agent.h"
#include "private_fds.h"

#define MAX_LIVE 64 /* live and pending clones together */
#define PENDING_POLL_NS 500000 /* how often pending clones are looked at without a wake fd */
#define PENDING_CHECK_S 1 /* with one: how often they are checked for being overdue */
#define PENDING_LIMIT_MS 60000 /* a clone neither whole nor dead by then is killed */
#define FA_SYS_pidfd_open 434
#define FA_EFD_NONBLOCK 04000
#define FA_EFD_CLOEXEC 02000000

FA_HIDDEN volatile int fa_agent_active;
FA_HIDDEN volatile int fa_snapshot_wanted;
static volatile int in_clone; /* 1 in a clone: written by child_setup */
static struct fa_agent_config cfg;

/* Clones known whole and not reaped yet: a pidfd each. A one-reply clone
 * (FA_CLONE_ONE_REPLY) is reported only when reaped, with its request. */
static struct live_clone {
	int pid, fd;
	uint32_t request;
	int one_reply;
	long deadline_ms; /* FA_CLONE_DEADLINE: killed after this (fa_now_ms, from its fork); 0: none */
	int killed_at_deadline; /* said in its RAN */
} live[MAX_LIVE];
static int nlive;

/* Clones forked and not yet known whole: their report pages (taken from the
 * op after each fork, put back to await one that said) and pidfds. Waiting
 * for each clone to be whole before serving the next request made the
 * template the bottleneck of `forkall explore`: on a busy machine most of a
 * clone's making is its wait to be scheduled, which clones forked together
 * spend in parallel. The report page is a futex, not a descriptor: pending
 * clones are looked at when wake_fd (an eventfd made at freeze time, which
 * each clone signals as it reports: op.report_wake_fd) turns readable - or,
 * when it could not be made, every PENDING_POLL_NS, a tick that added up to
 * half a millisecond to each clone; a pidfd that turns readable says one died
 * before it was whole. */
static struct pending_clone {
	uint32_t request;
	int pid, fd;
	long forked_ms;
	struct fa_report *report;
	int one_reply;
	long deadline_ms; /* FA_CLONE_DEADLINE: passed on to its live entry */
} pending[MAX_LIVE];
static int npending;
static int wake_fd = -1;

/* The report pages, one per clone that may be pending: mapped once at freeze
 * time and lent page by page (op->report_pool), instead of an mmap before and
 * a munmap after each clone in the template; a clone unmaps the whole pool
 * once it has reported. 0 (mapping refused): the engine maps a page per fork. */
#define POOL_LEN ((size_t)MAX_LIVE * 4096)
static char *report_pool;
static uint64_t pool_lent; /* bit i: page i is a pending clone's */

/* One-reply clones are not asked to signal wake_fd (nobody waits for their
 * report: they are looked at when their pidfd says they ended, or on the
 * PENDING_CHECK_S tick); the clone closes its copy in child_setup instead. */
static int forking_one_reply;

/* Whether the frozen template holds a descriptor that a clone must make
 * private (fa_pfd_needed, asked once after the snapshot: the program's fds do
 * not change while it is frozen). 0 spares each clone the pass over
 * /proc/self/fd (a readlink per descriptor: ~5% of a small clone's time). */
static int template_fds_need_copies = 1;

/* A clone's own stdin/stdout/stderr (CLONE_STDIO): the descriptors to put at
 * 0, 1, 2, or -1 to keep the template's. */
struct clone_stdio {
	int fd[3];
};

/* 1 when each descriptor the clone was given (now at 0-2) is a regular file
 * or a character device (forkall explore's output files, /dev/null): kinds
 * that are never copied, so they add nothing to the template's answer. */
static int stdio_plain(const struct clone_stdio *io)
{
	for (int i = 0; io && i < 3; i++) {
		struct stat st;
		if (io->fd[i] >= 0 && (fa_sys2(SYS_fstat, i, &st) < 0 || !(S_ISREG(st.st_mode) || S_ISCHR(st.st_mode))))
			return 0;
	}
	return 1;
}

static void child_setup(void *arg)
{
	/* In the clone, before any program thread exists again. */
	const struct clone_stdio *io = arg;
	for (int i = 0; io && i < 3; i++)
		if (io->fd[i] >= 0)
			fa_sys3(SYS_dup3, io->fd[i], i, 0); /* received fds are >= 3: never equal */
	for (int i = 0; io && i < 3; i++)
		if (io->fd[i] >= 0)
			fa_sys1(SYS_close, io->fd[i]);
	if (!cfg.shared_fds && (template_fds_need_copies || !stdio_plain(io)))
		fa_agent_private_fds(cfg.control_fd, wake_fd);
	fa_sys1(SYS_close, cfg.control_fd);
	if (forking_one_reply && wake_fd >= 0)
		fa_sys1(SYS_close, wake_fd);
	for (int i = 0; i < nlive; i++)
		fa_sys1(SYS_close, live[i].fd);
	nlive = 0;
	/* the clones forked before this one and not whole yet: their pidfds are the
	 * template's, and so are their pages (a pool is unmapped whole when we report) */
	for (int i = 0; i < npending; i++) {
		if (!report_pool)
			fa_sys2(SYS_munmap, pending[i].report, 4096);
		fa_sys1(SYS_close, pending[i].fd);
	}
	npending = 0;
	in_clone = 1;
}

static __attribute__((noreturn)) void template_exit(int code)
{
	for (int i = 0; i < nlive; i++)
		fa_sys2(SYS_kill, live[i].pid, SIGKILL);
	for (int i = 0; i < npending; i++)
		fa_sys2(SYS_kill, pending[i].pid, SIGKILL);
	for (int i = 0; i < nlive; i++)
		fa_sys4(SYS_wait4, live[i].pid, 0, __WALL, 0);
	for (int i = 0; i < npending; i++)
		fa_sys4(SYS_wait4, pending[i].pid, 0, __WALL, 0);
	fa_sys1(SYS_exit_group, code);
	__builtin_unreachable();
}

/* The controller is gone (or speaks garbage) before the snapshot: the program
 * ends, as a template does with its controller, but says so. */
static __attribute__((noreturn)) void control_lost_before_snapshot(void)
{
	static const char msg[] = "forkall agent: the control channel closed (or carried garbage) before the snapshot: "
				  "the controller is gone; exiting\n";
	fa_sys3(SYS_write, 2, msg, sizeof msg - 1);
	template_exit(FA_EXIT_CONTROL_LOST);
}

static void put_u32(unsigned char *p, uint32_t v) { __builtin_memcpy(p, &v, 4); }
static uint32_t get_u32(const unsigned char *p)
{
	uint32_t v;
	__builtin_memcpy(&v, p, 4);
	return v;
}

/* In a launcher image (launcher.c) no trigger fires for the first
 * FORKALL_LAUNCHER_WAIT_MS: the image is expected to exec the program. */
static int launcher_holds_back(long started)
{
	return cfg.launcher_wait_ms > 0 && fa_now_ms() - started < cfg.launcher_wait_ms;
}

/* Phase 1: until the trigger. Returns when it is time to freeze. */
static void wait_for_trigger(long started)
{
	int deferred = 0;
	struct fa_msg_header h;
	unsigned char p[FA_MAX_PAYLOAD];
	int tid = fa_gettid(), fds[FA_MAX_FDS], nfds;
	for (;;) {
		struct pollfd pfd = { cfg.control_fd, POLLIN, 0 };
		struct { long s, ns; } ts = { 0, 20000000 };
		long r = fa_sys5(SYS_ppoll, &pfd, 1, &ts, 0, 8);
		if (r > 0) {
			int bad = fa_recv(cfg.control_fd, &h, p, fds, &nfds) < 0;
			fa_close_fds(fds, nfds);
			if (bad)
				control_lost_before_snapshot();
			if (h.type == FA_MSG_SNAPSHOT_NOW) {
				if (!launcher_holds_back(started))
					return;
				deferred = 1; /* answered once the wait is over, unless this image execs first */
				continue;
			}
			int is_clone = h.type == FA_MSG_CLONE || h.type == FA_MSG_CLONE_STDIO;
			fa_send_error(cfg.control_fd, h.length >= 4 ? get_u32(p) : 0, EAGAIN,
				      is_clone ? "no snapshot yet: the program is not frozen"
					       : "unexpected message before the snapshot");
		}
		if (fa_snapshot_wanted)
			return;
		if (launcher_holds_back(started))
			continue;
		if (deferred)
			return;
		fa_lock(); /* the engine's scan buffers: not while a forkall() runs */
		int due = fa_trigger_due(&cfg, started, tid);
		fa_unlock();
		if (due)
			return;
	}
}

/* Live clone i ended: EXITED, or RAN for a one-reply clone. */
static void reap(int i, uint32_t threads)
{
	int status = 0;
	struct live_clone c = live[i];
	fa_sys4(SYS_wait4, c.pid, &status, __WALL, 0);
	fa_sys1(SYS_close, c.fd);
	live[i] = live[--nlive];
	unsigned char p[20];
	int r;
	if (c.one_reply) {
		put_u32(p, c.request);
		put_u32(p + 4, (uint32_t)c.pid);
		put_u32(p + 8, threads);
		put_u32(p + 12, (uint32_t)status);
		put_u32(p + 16, (uint32_t)c.killed_at_deadline);
		r = fa_send(cfg.control_fd, FA_MSG_RAN, p, 20);
	} else {
		put_u32(p, (uint32_t)c.pid);
		put_u32(p + 4, (uint32_t)status);
		r = fa_send(cfg.control_fd, FA_MSG_EXITED, p, 8);
	}
	if (r < 0)
		template_exit(0);
}

static void report_or_fail(struct fa_op *op, uint32_t threads, int k, int dead);

/* Forks one clone; it is reported once it is whole (finish_pending). */
static void serve_clone(struct fa_op *op, uint32_t request, uint32_t threads, struct clone_stdio *io, uint32_t flags,
			uint32_t deadline_ms)
{
	if (flags & ~FA_CLONE_FLAGS) {
		fa_send_error(cfg.control_fd, request, EINVAL, "unknown clone flags");
		return;
	}
	if ((flags & FA_CLONE_DEADLINE) && !(flags & FA_CLONE_ONE_REPLY)) {
		fa_send_error(cfg.control_fd, request, EINVAL, "a clone deadline needs a one-reply clone");
		return;
	}
	if (nlive + npending >= MAX_LIVE) {
		fa_send_error(cfg.control_fd, request, EAGAIN, "too many live clones (64)");
		return;
	}
	/* a free page of the pool: at most MAX_LIVE - 1 are lent (the check above) */
	int page = report_pool ? __builtin_ctzll(~pool_lent) : -1;
	op->report = page >= 0 ? (struct fa_report *)(report_pool + (size_t)page * 4096) : 0;
	forking_one_reply = (flags & FA_CLONE_ONE_REPLY) != 0;
	op->report_wake_fd = forking_one_reply ? -1 : wake_fd;
	/* In the clone this thread becomes the program's main thread (the template's
	 * PID is the main thread's TID): the clone then has exactly the program's
	 * threads, and in exact-TID mode the template's PID. */
	op->become_tid = fa_getpid();
	op->parent_death_signal = SIGKILL; /* a clone never outlives its template */
	long pid = fa_snapshot_fork(op, child_setup, io);
	if (pid == 0)
		pthread_exit(0); /* no main thread to become (it had exited): just leave */
	if (pid < 0) {
		fa_send_error(cfg.control_fd, request, (int)-pid, forkall_strerror());
		return;
	}
	if (page >= 0)
		pool_lent |= 1ull << page;
	int k = npending++;
	long now = fa_now_ms();
	pending[k] = (struct pending_clone){ request, (int)pid, (int)fa_sys2(FA_SYS_pidfd_open, pid, 0), now,
					     op->report, forking_one_reply,
					     (flags & FA_CLONE_DEADLINE) ? now + (long)deadline_ms + 1 : 0 };
	op->report = 0;
	if (cfg.exact_tids)
		report_or_fail(op, threads, k, 0); /* one at a time, as before: an exact-TID fork has more steps */
}

/* Pending clone k said (or died: dead, or is overdue): await it (at once, but
 * for a dead one) and report it, CLONED or an error; it leaves the pending
 * list. A one-reply clone is only reported when reaped (at once if dead). */
static void report_or_fail(struct fa_op *op, uint32_t threads, int k, int dead)
{
	struct pending_clone c = pending[k];
	pending[k] = pending[--npending];
	op->report = c.report;
	long pid = fa_snapshot_await(op, c.pid); /* kills and reaps a clone that is not whole */
	if (report_pool)
		pool_lent &= ~(1ull << (((char *)c.report - report_pool) / 4096)); /* read: free for the next clone */
	if (pid < 0) {
		fa_sys1(SYS_close, c.fd);
		fa_send_error(cfg.control_fd, c.request, (int)-pid, forkall_strerror());
		return;
	}
	live[nlive++] = (struct live_clone){ c.pid, c.fd, c.request, c.one_reply, c.deadline_ms, 0 };
	if (c.one_reply) {
		if (dead)
			reap(nlive - 1, threads);
		return;
	}
	unsigned char p[12];
	put_u32(p, c.request);
	put_u32(p + 4, (uint32_t)c.pid);
	put_u32(p + 8, threads);
	if (fa_send(cfg.control_fd, FA_MSG_CLONED, p, 12) < 0)
		template_exit(0);
}

/* Reports the pending clones that said whether they are whole; a pending
 * clone whose pidfd was readable (dead) or that is overdue is failed. */
static void finish_pending(struct fa_op *op, uint32_t threads, const struct pollfd *pfd)
{
	long now = npending ? fa_now_ms() : 0;
	for (int k = npending - 1; k >= 0; k--) {
		if (now - pending[k].forked_ms > PENDING_LIMIT_MS)
			fa_sys2(SYS_kill, pending[k].pid, SIGKILL);
		else if (fa_report_pending(pending[k].report) && !(pfd && pfd[k].revents))
			continue;
		report_or_fail(op, threads, k, pfd && pfd[k].revents);
	}
}

/* Kills the live clones whose deadline (FA_CLONE_DEADLINE) has passed; their
 * pidfds turn readable and reap() says so in their RAN. A clone is only
 * killed once whole (live): one that is slow to be made is not cut short. */
static void kill_overdue(void)
{
	long now = -1;
	for (int i = 0; i < nlive; i++) {
		if (!live[i].deadline_ms)
			continue;
		if (now < 0)
			now = fa_now_ms();
		if (now >= live[i].deadline_ms) {
			fa_sys2(SYS_kill, live[i].pid, SIGKILL);
			live[i].killed_at_deadline = 1;
			live[i].deadline_ms = 0;
		}
	}
}

/* How long the next poll may wait: the periodic check, or less when a clone's
 * deadline comes first; at least PENDING_POLL_NS, which is also how often a
 * clone past its deadline but not whole yet is looked at again (a one-reply
 * clone does not wake the agent when it is whole). *any: some clone has a
 * deadline (the poll then needs a timeout even with nothing pending). */
static long poll_wait_ns(long tick_ns, int *any)
{
	long now = -1;
	*any = 0;
	for (int k = 0; k < npending + nlive; k++) {
		long d = k < npending ? pending[k].deadline_ms : live[k - npending].deadline_ms;
		if (!d)
			continue;
		if (now < 0)
			now = fa_now_ms();
		*any = 1;
		long left = (d - now) * 1000000;
		if (left < PENDING_POLL_NS)
			left = PENDING_POLL_NS;
		if (left < tick_ns)
			tick_ns = left;
	}
	return tick_ns;
}

/* CLONE_STDIO: a clone whose fds 0-2 named in the mask are the ones sent, in
 * that order. */
static void serve_clone_stdio(struct fa_op *op, const unsigned char *p, uint32_t threads, int *fds, int nfds, uint32_t flags,
			      uint32_t deadline_ms)
{
	uint32_t request = get_u32(p), mask = get_u32(p + 4);
	struct clone_stdio io = { { -1, -1, -1 } };
	if (mask > 7 || __builtin_popcount(mask) != nfds) {
		fa_send_error(cfg.control_fd, request, EINVAL, "CLONE_STDIO: the mask does not match the descriptors sent");
		return;
	}
	/* A template started with fd 0-2 closed receives into those numbers: move
	 * them up, so that child_setup's dup3 calls never overwrite one another
	 * (fds[] keeps what the caller must close). */
	for (int k = 0; k < nfds; k++)
		if (fds[k] < 3) {
			long moved = fa_sys3(SYS_fcntl, fds[k], F_DUPFD_CLOEXEC, 3);
			if (moved < 0) {
				fa_send_error(cfg.control_fd, request, (int)-moved, "CLONE_STDIO: cannot move a received descriptor above 2");
				return;
			}
			fa_sys1(SYS_close, fds[k]);
			fds[k] = (int)moved;
		}
	for (int i = 0, used = 0; i < 3; i++)
		if (mask & (1u << i))
			io.fd[i] = fds[used++];
	serve_clone(op, request, threads, &io, flags, deadline_ms);
}

static void handle_request(struct fa_op *op, uint32_t threads)
{
	struct fa_msg_header h;
	unsigned char p[FA_MAX_PAYLOAD];
	int fds[FA_MAX_FDS], nfds;
	int bad = fa_recv(cfg.control_fd, &h, p, fds, &nfds) < 0;
	/* CLONE and CLONE_STDIO may end with a u32 of flags (FA_CLONE_*), and
	 * that with a u32 deadline in ms (FA_CLONE_DEADLINE) */
	int stdio = !bad && h.type == FA_MSG_CLONE_STDIO && (h.length == 8 || h.length == 12 || h.length == 16);
	if (stdio)
		serve_clone_stdio(op, p, threads, fds, nfds, h.length >= 12 ? get_u32(p + 8) : 0,
				  h.length == 16 ? get_u32(p + 12) : 0); /* the clone has its own copies now */
	fa_close_fds(fds, nfds);
	if (bad)
		template_exit(0);
	if (stdio)
		return;
	if (h.type == FA_MSG_CLONE && (h.length == 4 || h.length == 8 || h.length == 12))
		serve_clone(op, get_u32(p), threads, 0, h.length >= 8 ? get_u32(p + 4) : 0, h.length == 12 ? get_u32(p + 8) : 0);
	else if (h.type == FA_MSG_KILL && h.length == 8) {
		int pid = (int)get_u32(p), sig = (int)get_u32(p + 4), known = 0;
		for (int i = 0; i < nlive; i++)
			known |= live[i].pid == pid;
		if (!known)
			fa_send_error(cfg.control_fd, 0, ESRCH, "no live clone with that PID");
		else
			fa_sys2(SYS_kill, pid, sig);
	} else if (h.type == FA_MSG_SNAPSHOT_NOW)
		fa_send_error(cfg.control_fd, 0, EALREADY, "already frozen");
	else {
		fa_send_error(cfg.control_fd, 0, EPROTO, "unknown message or bad length: closing the channel");
		template_exit(0);
	}
}

/* The eventfd clones signal as they report, at 3 or above (child_setup
 * dup3s a clone's own stdio onto 0-2); -1 if it cannot be made. */
static int open_wake_fd(void)
{
	long fd = fa_sys2(SYS_eventfd2, 0, FA_EFD_NONBLOCK | FA_EFD_CLOEXEC);
	if (fd >= 0 && fd < 3) {
		long moved = fa_sys3(SYS_fcntl, fd, F_DUPFD_CLOEXEC, 3);
		fa_sys1(SYS_close, fd);
		fd = moved;
	}
	return fd < 0 ? -1 : (int)fd;
}

/* The agent thread's rseq registration, dropped once frozen: the kernel
 * writes the thread's rseq area each time it returns to user space after a
 * fork or a sleep, and after each fork that page is shared with the clone
 * just made, so every clone cost one copy-on-write fault in the template (on
 * the path to the next clone) and one in the clone (at its first return from
 * fork, before it drops the registration in becoming the main thread anyway).
 * The agent thread never uses rseq (raw system calls only from here on). */
static void drop_own_rseq(struct fa_op *op)
{
	if (!op->self_rseq_registered)
		return;
	unsigned len = fa_layout.rseq_size < 32 ? 32 : fa_layout.rseq_size;
	if (fa_sys4(SYS_rseq, op->self_fs + fa_layout.rseq_offset, len, 1 /* RSEQ_FLAG_UNREGISTER */, FA_RSEQ_SIG) == 0)
		op->self_rseq_registered = 0; /* nothing for the clone to drop */
}

static void *agent_main(void *arg)
{
	unsigned char p[12];
	put_u32(p, (uint32_t)fa_getpid());
	put_u32(p + 4, FA_VERSION);
	if (fa_send(cfg.control_fd, FA_MSG_HELLO, p, 8) < 0)
		control_lost_before_snapshot();
	long started = fa_now_ms();
	struct fa_op op;
	struct forkall_options o = { .size = sizeof o, .flags = cfg.exact_tids ? FORKALL_EXACT_TIDS : 0 };
	for (;;) {
		wait_for_trigger(started);
		int err = fa_snapshot_begin(&op, &o);
		if (err == 0)
			break;
		fa_snapshot_wanted = 0;
		fa_send_error(cfg.control_fd, 0, -err, forkall_strerror()); /* not frozen: try again on request */
		cfg.at = FA_AT_REQUEST;
	}
	uint32_t threads = op.nslots - op.ndead;
	fa_agent_take_main_name(&op);
	drop_own_rseq(&op);
	wake_fd = open_wake_fd();
	op.report_wake_fd = wake_fd;
	long pool = fa_sys6(SYS_mmap, 0, POOL_LEN, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (pool < 0 && pool > -4096)
		pool = 0;
	report_pool = (char *)pool;
	op.report_pool = report_pool;
	op.report_pool_len = report_pool ? POOL_LEN : 0;
	long compacted = cfg.compact ? fa_compact_anonymous() : 0;
	if (cfg.prefault)
		fa_prefault_readonly_files();
	if (!cfg.shared_fds) {
		int keep[2] = { cfg.control_fd, wake_fd };
		template_fds_need_copies = fa_pfd_needed(keep, wake_fd >= 0 ? 2 : 1);
	}
	put_u32(p, threads);
	/* MB moved into huge pages, or 0xffffffff when compaction was refused */
	put_u32(p + 4, compacted < 0 ? 0xffffffffu : (uint32_t)(compacted >> 20));
	if (fa_send(cfg.control_fd, FA_MSG_SNAPSHOT, p, 8) < 0)
		template_exit(0);
	for (;;) {
		/* the control channel, the live clones' pidfds, the pending ones', the wake fd */
		struct pollfd pfd[2 + MAX_LIVE];
		pfd[0] = (struct pollfd){ cfg.control_fd, POLLIN, 0 };
		for (int i = 0; i < nlive; i++)
			pfd[1 + i] = (struct pollfd){ live[i].fd, POLLIN, 0 };
		int np = npending;
		for (int k = 0; k < np; k++)
			pfd[1 + nlive + k] = (struct pollfd){ pending[k].fd, POLLIN, 0 };
		int nfd = 1 + nlive + np;
		if (wake_fd >= 0)
			pfd[nfd++] = (struct pollfd){ wake_fd, POLLIN, 0 };
		int deadlines;
		long tick_ns = poll_wait_ns(wake_fd >= 0 ? PENDING_CHECK_S * 1000000000L : PENDING_POLL_NS, &deadlines);
		struct { long s, ns; } tick = { tick_ns / 1000000000L, tick_ns % 1000000000L };
		long r = fa_sys5(SYS_ppoll, pfd, nfd, np || deadlines ? &tick : 0, 0, 8);
		if (r < 0)
			continue;
		if (wake_fd >= 0 && pfd[nfd - 1].revents) {
			uint64_t n;
			fa_sys3(SYS_read, wake_fd, &n, 8); /* non-blocking: resets the count */
		}
		int nl = nlive;
		for (int i = nl - 1; i >= 0; i--)
			if (pfd[1 + i].revents)
				reap(i, threads);
		/* a clone that became whole is live from here: its end is seen at the next poll, after its CLONED */
		finish_pending(&op, threads, pfd + 1 + nl);
		kill_overdue();
		if (pfd[0].revents & (POLLIN | POLLHUP | POLLERR))
			handle_request(&op, threads);
	}
	return 0;
}

/* A plain fork() child of the program (before the snapshot: a shell, a
 * subprocess) must not take the control channel: drop it there. The channel
 * stays open across exec in the program itself (launchers such as pyenv's
 * shims exec the real program: its agent says HELLO again). */
static void drop_control_in_child(void)
{
	fa_sys1(SYS_close, cfg.control_fd);
	unsetenv("FORKALL_CONTROL_FD");
	fa_agent_active = 0;
}

__attribute__((constructor)) static void agent_init(void)
{
	if (fa_agent_read_config(&cfg) < 0)
		return; /* no controller (or its descriptor is not open here): the agent does nothing */
	pthread_atfork(0, 0, drop_control_in_child);
	pthread_t t;
	sigset_t all, old;
	sigfillset(&all);
	sigdelset(&all, SIGRTMAX - FORKALL_DEFAULT_SIGNAL_OFFSET); /* parkable by the program's own forkall() */
	pthread_sigmask(SIG_SETMASK, &all, &old);
	fa_agent_active = 1;
	if (pthread_create(&t, 0, agent_main, 0) != 0)
		fa_agent_active = 0;
	else
		pthread_setname_np(t, "forkall-agent");
	pthread_sigmask(SIG_SETMASK, &old, 0);
}

__attribute__((visibility("default"))) int forkall_snapshot(void)
{
	if (!fa_agent_active)
		return 0;
	fa_snapshot_wanted = 1;
	while (!in_clone)
		fa_futex_wait(&in_clone, 0, 0); /* parked here; the template never returns */
	return 1;
}
