/*
 * forkall.h - fork(2) for multi-threaded Linux processes.
 *
 * forkall() makes a child process that has one thread for each thread of the
 * caller at the instant of the snapshot, each resuming at the instruction where
 * it was. Link with -lforkall (pkg-config: forkall). x86-64 Linux, glibc or musl.
 *
 * What a clone keeps, per thread (see docs/semantics.md for the full contract):
 *   general registers, x87/SSE/AVX state and PKRU (the whole xstate), fs_base
 *   (TLS) and gs_base, signal mask, alternate signal stack, robust-futex list,
 *   rseq registration (glibc), name (comm), CPU affinity, scheduling policy,
 *   priority and nice value. The libc thread descriptors stay consistent:
 *   pthread_self(), pthread_join() and pthread_kill() on resurrected threads,
 *   thread-specific data, __thread variables, TLS destructors, new threads,
 *   exit() from any thread.
 *
 * What it does not keep (as with fork): pending signals, timers, the parent's
 * child processes, file locks (fcntl), and the TIDs themselves - each thread
 * gets a new TID unless exact-TID mode is asked for. Open file descriptions are
 * shared with the parent exactly as after fork(2): offsets, pipes, sockets and
 * epoll instances are the same objects.
 *
 * Threads stopped in a system call: calls the kernel restarts after a signal
 * handler with SA_RESTART (futex waits, read, accept, ...) are restarted in both
 * processes; calls restarted through restart_syscall (nanosleep, clock_nanosleep,
 * poll, ppoll, select, epoll_wait, timed futex waits) return EINTR in both the
 * parent and the child - exactly what a signal handler causes.
 *
 * pthread_atfork() handlers are not run: every thread is present in the child,
 * so lock state is consistent without them.
 *
 * TIDs: a lock that records its owner's TID (recursive, errorcheck, PI and robust
 * mutexes, the rwlock writer, musl's stdio locks) held by a thread other than the
 * caller is owned by a stale TID in the child. forkall rewrites the owners it
 * can find exactly: every thread's robust-futex list (lock word and glibc's
 * __owner), musl's per-thread list of owned mutexes (all owner-tracked types)
 * and ld.so's recursive locks (glibc). Other such locks held at the
 * snapshot by a non-forking thread fail to unlock in the child (EPERM).
 *
 * How it works: every other thread is made to enter a handler for a private
 * real-time signal (FORKALL_DEFAULT_SIGNAL) where it waits; the caller creates
 * the child with a raw clone (glibc's fork() is never called, so no atfork
 * handler and no libc lock is involved); in the child each thread is re-created
 * with its own TLS and returns from its signal frame through rt_sigreturn.
 * A thread that never takes the signal (it blocks it forever) makes forkall fail
 * after the park timeout; nothing is changed in the caller's process then.
 */
#ifndef FORKALL_H
#define FORKALL_H

#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The real-time signal used to park threads when the options do not name one:
 * SIGRTMAX - 3 (61 on Linux x86-64). Pick another with forkall_options.signal
 * if the program uses this one. */
#define FORKALL_DEFAULT_SIGNAL_OFFSET 3

/* Default for forkall_options.park_timeout_ms. */
#define FORKALL_DEFAULT_PARK_TIMEOUT_MS 2000

/* forkall_options.flags */
#define FORKALL_EXACT_TIDS 0x1u /* child keeps the PID and every TID: see forkall_ex() */
#define FORKALL_PRIVATE_FDS 0x2u /* child gets its own epoll/eventfd/timerfd/signalfd/self-pipes: see forkall_ex() */

/* forkall_options grows the way the kernel's clone3/openat2 arguments do:
 * fields are only ever added at the end, and .size says which version the
 * caller was compiled against.
 *   - 0, or sizeof(struct forkall_options) of this header: this version.
 *   - smaller (an older header), at least FORKALL_OPTIONS_SIZE_VER0: accepted;
 *     the fields the caller does not know about are taken as zero (their
 *     defaults).
 *   - larger (a newer header than this library): accepted when every byte
 *     beyond the fields this library knows is zero, so a caller that leaves new
 *     options unset runs on an older library; otherwise E2BIG (the library
 *     cannot honour an option it does not have). At most
 *     FORKALL_OPTIONS_SIZE_MAX.
 *   - below FORKALL_OPTIONS_SIZE_VER0: EINVAL.
 * Initialise with a designated initialiser ({ .size = sizeof o, ... }) so that
 * unused fields and padding are zero. */
#define FORKALL_OPTIONS_SIZE_VER0 32 /* the first published version (0.1) */
#define FORKALL_OPTIONS_SIZE_MAX 4096

struct forkall_options {
	/* sizeof(struct forkall_options) as the caller compiled it (see above);
	 * 0 is taken as the size of this version. */
	unsigned int size;
	/* FORKALL_* flags. */
	unsigned int flags;
	/* How long to wait for every thread to park, in milliseconds; 0 = default
	 * (FORKALL_DEFAULT_PARK_TIMEOUT_MS). */
	int park_timeout_ms;
	/* Parking signal; 0 = SIGRTMAX - FORKALL_DEFAULT_SIGNAL_OFFSET. */
	int signal;
	/* Threads (TIDs) that are neither parked nor re-created in the child, as
	 * with fork(2): locks they hold stay held there. */
	const pid_t *skip_tids;
	unsigned int n_skip;
};

/* Like fork(2), but the child has every thread of the caller. Returns the
 * child's PID in the parent, 0 in the child, -1 with errno set on failure:
 *   ETIMEDOUT  a thread did not park within the timeout (it blocks the parking
 *              signal, or is stopped or in uninterruptible sleep);
 *   ENOTSUP    a thread's seccomp state differs from the caller's, or a CET
 *              shadow stack is enabled;
 *   EPERM etc. FORKALL_EXACT_TIDS without CAP_SYS_ADMIN and without user
 *              namespaces, or /proc not mountable (never a silent fallback);
 *   EINVAL     bad options; E2BIG options from a newer header that set a field
 *              this library does not have; EAGAIN/ENOMEM as for fork(2);
 *   EAGAIN     also: a parking signal could not be queued within the timeout
 *              (the user's queued signals are at RLIMIT_SIGPENDING);
 *   the errno of a failed call in the child: the child could not restore a
 *              thread's per-thread state (robust list, rseq, affinity, sched
 *              attributes, gs_base, capabilities) or re-create it; that child
 *              was killed and reaped. A PID is returned only for a child that
 *              has every thread with its state back.
 * On failure every parked thread has been released and the process is as before
 * the call; forkall_strerror() tells which thread and why (and which call).
 *
 * Concurrent calls from several threads are serialised: a second caller parks
 * like any thread, so the child of the first call contains it still waiting,
 * and it forks again in both processes once the first call is done.
 * Async-signal-safe: no. Callable from any thread: the caller becomes the
 * child's main thread (its TID is the child's PID); the old main thread comes
 * back as an ordinary thread. */
pid_t forkall(void);

/* forkall() with options; opts may be NULL. opts->size follows the rule above
 * forkall_options (EINVAL when too small, E2BIG when too large or when it
 * carries a non-zero option this library does not know).
 *
 * FORKALL_EXACT_TIDS: the child runs in a new PID namespace (and mount
 * namespace; and user namespace when the caller lacks CAP_SYS_ADMIN) where its
 * getpid() and every thread's gettid() equal the parent's; /proc inside refers
 * to it. The return value in the parent is then the PID of a small init
 * process that forwards signals to the child and exits with its status
 * (128 + signal if the child was killed); getppid() in the child is 1.
 *
 * FORKALL_PRIVATE_FDS: instead of sharing them with the parent, the child gets
 * its own copy of each object an event loop treats as its own, at the same fd
 * number with the same close-on-exec and status flags, made before any of its
 * threads runs again: epoll instances (same registrations: fd, events, data
 * word; an epoll registered in another is copied first), eventfds (counter,
 * semaphore mode), timerfds (clock, time remaining, interval, unread
 * expirations), signalfds (mask), and pipes and unix socketpairs whose both
 * ends the process holds (with the bytes buffered in them; queued datagrams
 * are not copied), inotify instances (same watches and watch descriptors; needs
 * CAP_DAC_READ_SEARCH to reopen the watched inodes, else the instance stays
 * shared; queued events are not copied). A TCP connection (any TCP socket
 * not listening) stays the parent's alone: the child gets, at its number, a
 * stream whose peer has gone (reads give end of file, writes EPIPE), so a peer
 * never gets two answers in one stream. Listening and other sockets, files,
 * terminals and pipes to other processes stay shared. Not copied: epoll registrations of fds closed
 * since they were added. A re-created registration reports a
 * ready level once more (EPOLLET: one extra edge). The parent's threads stay
 * parked until the child has made its copies. Without the flag (the default,
 * as fork(2)) every open file description is shared. docs/semantics.md has the
 * table. */
pid_t forkall_ex(const struct forkall_options *opts);

/* A message about the last failure of forkall()/forkall_ex() in the calling
 * thread (names the thread at fault where there is one), or "" if none. */
const char *forkall_strerror(void);

/* What forkall could not discover about this process's C library at load
 * time, one sentence per line, each saying what a clone with new TIDs then
 * leaves undone (e.g. lock owners not rewritten); "" when nothing is missing.
 * forkall() still works; exact-TID mode (FORKALL_EXACT_TIDS) is unaffected. */
const char *forkall_warnings(void);

/* Everything discovered at load time as one JSON object: libc, version,
 * descTidOffset, rseqOffset, rseqSize, ownerListOffset, ownerListFutexOffset,
 * ldsoLocks, ldsoLocksBytes, warnings. Used by `forkall doctor`. */
const char *forkall_diagnostics(void);

/* Where the last successful forkall()/forkall_ex() of this process spent its
 * time, as one JSON object of microseconds (-1: phase not reached), e.g. for
 * `forkall bench --json`: threads (re-created), totalUs (call to return),
 * lockUs (serialise callers, block signals, record the caller's state),
 * signalUs (list the threads and send each the parking signal), parkUs (then
 * wait until all are parked, check them), prepareUs
 * (map the report page), forkUs (the fork system call, in the parent),
 * releaseUs (let the parked threads go), awaitUs (wait for the child to say it
 * is whole); in the child, counted from its start: childStartUs (from the
 * call's start), childSetupUs (its own state, private fds), childCreateUs
 * (re-create the threads), childRestoreUs (wait until each restored its state),
 * childReportUs (report). "" before the first success. Not thread-safe against
 * a concurrent forkall (the next call overwrites it). */
const char *forkall_last_timing(void);

#ifdef __cplusplus
}
#endif

#endif /* FORKALL_H */
