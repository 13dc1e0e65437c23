/* Private event objects for a clone. After fork the child shares every open
 * file description with its parent; for the objects an event loop treats as
 * its own (epoll instances, eventfds, timerfds, signalfds, pipes and unix
 * socketpairs whose both ends the process holds, inotify) that breaks a clone running
 * beside its original: each consumes the other's events and changes the
 * other's registrations. A TCP connection (any TCP socket not listening) is
 * the original's alone: two processes on one stream would answer the peer
 * twice, so the clone gets a stream whose peer has gone at that number. fa_private_fds() runs in the child, on the forking
 * thread, before any other thread exists again, and replaces each such object
 * by a copy of its state at the same fd numbers (close-on-exec and status
 * flags kept). Sockets, files, terminals and pipes to other processes stay
 * shared, as after fork: that is what lets a clone serve the same port.
 *
 * Async-signal-safe: raw system calls, memory from mmap, no libc state.
 * The parent must not change the objects while the child copies them (the
 * agent's template is frozen for good; forkall() waits for the child).
 *
 *   private_fds_scan.c  what the process holds: /proc/self/fd + fdinfo + kcmp
 *   private_fds_unix.c  which unix sockets are the two ends of one socketpair
 *   private_fds_inotify.c  an inotify instance with the same watches
 *   private_fds.c       making the copies and installing them */
#ifndef FA_PRIVATE_FDS_H
#define FA_PRIVATE_FDS_H

#include "engine.h"

enum fa_pfd_kind {
	FA_PFD_EPOLL = 1,
	FA_PFD_EVENTFD,
	FA_PFD_TIMERFD,
	FA_PFD_SIGNALFD,
	FA_PFD_INOTIFY,
	FA_PFD_PIPE,
	FA_PFD_UNIX, /* a unix socket; private only if its peer is held too */
	FA_PFD_TCP, /* a TCP socket that is not listening: ended in the copy */
};

/* One registration of an epoll instance, as its fdinfo shows it. */
struct fa_pfd_item {
	int tfd;	/* the fd number given to EPOLL_CTL_ADD */
	unsigned events;
	uint64_t data;
	int same_file;	/* kcmp KCMP_EPOLL_TFD: fd tfd still names the registered file */
};

struct fa_pfd {
	int fd;
	int kind;
	unsigned flags;		/* fdinfo "flags:": status flags, plus O_CLOEXEC when close-on-exec */
	int group;		/* index of the first entry naming the same open file description */
	unsigned long ino;	/* pipes and sockets: the inode (identity of a pipe, of a socket) */
	int newfd;		/* the private copy at a temporary number, -1 if none */
	int shared;		/* stays shared (not ours alone, or not copyable) */
	int installed;
	union {
		struct { uint64_t count; int semaphore; } ev;
		struct { int clockid, settime_flags; uint64_t ticks; long vs, vns, is, ins; } tm;
		uint64_t sigmask;
		struct { unsigned first, n; int truncated; } ep;
		struct { int type; unsigned long peer_ino; } un;
	} u;
};

struct fa_pfd_table {
	struct fa_pfd *e;
	unsigned n, cap;
	struct fa_pfd_item *items;
	unsigned nitems, items_cap;
	char *buf;		/* one fdinfo file at a time */
	size_t buf_len;
};

/* What became private and what did not (a short note per object left shared
 * or copied approximately: "fd 7 inotify: shared (watches are not copied)"). */
#define FA_PFD_NOTE 1024
struct fa_pfd_report {
	unsigned copied;	/* objects (open file descriptions) made private */
	unsigned not_copied;	/* objects left shared or copied approximately */
	unsigned len;
	char note[FA_PFD_NOTE];	/* entries separated by '\n', not NUL-terminated past len */
};

/* In the child. keep[] lists fds to leave alone (the engine's own). Returns 0,
 * or -errno when a copy could not be made and the child is not whole (some fds
 * may already be private then: the child must not run). */
FA_HIDDEN int fa_private_fds(const int *keep, unsigned nkeep, struct fa_pfd_report *r);

/* private_fds_scan.c */
/* 1 if some fd (not in keep[]) may need a private copy; 0: fa_private_fds
 * would leave everything shared */
FA_HIDDEN int fa_pfd_needed(const int *keep, unsigned nkeep);
FA_HIDDEN int fa_pfd_scan(struct fa_pfd_table *t, const int *keep, unsigned nkeep, struct fa_pfd_report *r);
FA_HIDDEN void fa_pfd_note(struct fa_pfd_report *r, int fd, const char *kind, const char *why);
FA_HIDDEN const char *fa_pfd_kind_name(int kind);

/* private_fds_unix.c: fills u.un.peer_ino of every FA_PFD_UNIX entry (0 if
 * unknown); -errno if the kernel cannot tell (no sock_diag). */
FA_HIDDEN int fa_pfd_unix_peers(struct fa_pfd_table *t);

/* private_fds_inotify.c: the copy's fd, 0 if it stays shared (noted), -errno */
FA_HIDDEN long fa_pfd_copy_inotify(struct fa_pfd *e, char *buf, size_t cap, struct fa_pfd_report *r);

#endif
