/* Making the private copies (see private_fds.h) and installing them at the
 * original fd numbers. Order: every non-epoll object first (an epoll
 * registration must name the private copy), then the epoll instances, an
 * instance registered in another before that other one. Runs in the child
 * before any other thread exists again: raw system calls, memory from mmap. */
#include <fcntl.h>
#include "private_fds.h"

#define FA_O_CLOEXEC 02000000u
#define FA_O_NONBLOCK 04000u
#define FA_O_ACCMODE 3u
#define FA_EFD_SEMAPHORE 1
#define FA_TFD_TIMER_ABSTIME 1
#define FA_TFD_IOC_SET_TICKS 0x40085400ul /* _IOW('T', 0, u64) */
#define FA_SPLICE_F_NONBLOCK 2
#define FA_F_SETPIPE_SZ 1031
#define FA_F_GETPIPE_SZ 1032
#define FA_EPOLL_CTL_ADD 1
#define FA_SOCK_STREAM 1
#define FA_SO_TYPE 3
#define FA_FIONREAD 0x541B
#define FA_MSG_PEEK 2
#define FA_MSG_DONTWAIT 0x40

struct fa_epoll_event {
	uint32_t events;
	uint64_t data;
} __attribute__((packed));

struct fa_ts {
	long s, ns;
};

/* Temporaries: every fd we created, closed once installed. */
struct work {
	struct fa_pfd_table t;
	struct fa_pfd_report *r;
	int *temps;
	unsigned ntemps, temps_cap;
};

static long keep_temp(struct work *w, long fd)
{
	if (fd >= 0 && w->ntemps < w->temps_cap)
		w->temps[w->ntemps++] = (int)fd;
	return fd;
}

static void set_status(long fd, unsigned flags)
{
	if (flags & FA_O_NONBLOCK)
		fa_sys3(SYS_fcntl, fd, F_SETFL, FA_O_NONBLOCK);
}

static long copy_eventfd(struct fa_pfd *e)
{
	long fd = fa_sys2(SYS_eventfd2, 0, FA_O_CLOEXEC | (e->flags & FA_O_NONBLOCK) | (e->u.ev.semaphore ? FA_EFD_SEMAPHORE : 0));
	if (fd >= 0 && e->u.ev.count) {
		uint64_t c = e->u.ev.count;
		long w = fa_sys3(SYS_write, fd, &c, 8);
		if (w != 8) {
			fa_sys1(SYS_close, fd);
			return w < 0 ? w : -5 /* EIO */;
		}
	}
	return fd;
}

/* fdinfo shows the time remaining (also for absolute timers) and the
 * expirations not read yet; an expired periodic timer shows 0 remaining. */
static long copy_timerfd(struct work *w, struct fa_pfd *e)
{
	long fd = fa_sys2(SYS_timerfd_create, e->u.tm.clockid, FA_O_CLOEXEC | (e->flags & FA_O_NONBLOCK));
	if (fd < 0)
		return fd;
	struct { struct fa_ts interval, value; } its = { { e->u.tm.is, e->u.tm.ins }, { e->u.tm.vs, e->u.tm.vns } };
	int armed = its.value.s || its.value.ns;
	int periodic = its.interval.s || its.interval.ns;
	if (e->u.tm.ticks) {
		uint64_t ticks = e->u.tm.ticks;
		if (fa_sys3(SYS_ioctl, fd, FA_TFD_IOC_SET_TICKS, &ticks) < 0) {
			/* no CONFIG_CHECKPOINT_RESTORE: expire at once instead (one expiration) */
			its.value = (struct fa_ts){ 0, 1 };
			armed = 1;
			fa_pfd_note(w->r, e->fd, "timerfd", "private, approximate (unread expirations became one)");
		} else if (!armed && periodic) {
			its.value = its.interval; /* expired, not read: the period goes on */
			armed = 1;
		}
	}
	int flags = 0;
	if (armed && (e->u.tm.settime_flags & FA_TFD_TIMER_ABSTIME)) {
		struct fa_ts now;
		if (fa_sys2(SYS_clock_gettime, e->u.tm.clockid, &now) == 0) {
			its.value.s += now.s;
			its.value.ns += now.ns;
			if (its.value.ns >= 1000000000) {
				its.value.ns -= 1000000000;
				its.value.s++;
			}
			flags = e->u.tm.settime_flags; /* ABSTIME, and CANCEL_ON_SET if it was set */
		}
	}
	if (armed || periodic) {
		long r = fa_sys4(SYS_timerfd_settime, fd, flags, &its, 0);
		if (r < 0) {
			fa_sys1(SYS_close, fd);
			return r;
		}
	}
	return fd;
}

static struct fa_pfd *find_ino(struct fa_pfd_table *t, int kind, unsigned long ino, int want_write)
{
	for (unsigned i = 0; i < t->n; i++) {
		struct fa_pfd *o = &t->e[i];
		if (o->kind == kind && o->ino == ino && o->group == (int)i &&
		    (want_write < 0 || (int)((o->flags & FA_O_ACCMODE) == O_WRONLY) == want_write))
			return o;
	}
	return 0;
}

/* A pipe whose read and write ends are both held: a new pipe of the same
 * size holding the same bytes (tee copies them without consuming). */
static long copy_pipe(struct work *w, struct fa_pfd *e)
{
	int is_write = (e->flags & FA_O_ACCMODE) == O_WRONLY;
	for (unsigned i = 0; i < w->t.n; i++) {
		struct fa_pfd *o = &w->t.e[i];
		if (o != e && o->kind == FA_PFD_PIPE && o->ino == e->ino && o->newfd >= 0 &&
		    ((o->flags & FA_O_ACCMODE) == O_WRONLY) == is_write) {
			e->newfd = o->newfd; /* another open file description of the same end */
			return 0;
		}
	}
	struct fa_pfd *rd = is_write ? find_ino(&w->t, FA_PFD_PIPE, e->ino, 0) : e;
	struct fa_pfd *wr = is_write ? e : find_ino(&w->t, FA_PFD_PIPE, e->ino, 1);
	if (!rd || !wr) {
		e->shared = 1; /* the other end belongs to another process: shared, as with fork */
		return 0;
	}
	int p[2];
	long err = fa_sys2(SYS_pipe2, p, FA_O_CLOEXEC | (rd->flags & O_DIRECT));
	if (err < 0)
		return err;
	keep_temp(w, p[0]);
	keep_temp(w, p[1]);
	long size = fa_sys2(SYS_fcntl, rd->fd, FA_F_GETPIPE_SZ);
	if (size > 0)
		fa_sys3(SYS_fcntl, p[1], FA_F_SETPIPE_SZ, size);
	err = fa_sys4(SYS_tee, rd->fd, p[1], size > 0 ? size : 65536, FA_SPLICE_F_NONBLOCK);
	if (err < 0 && err != -11 /* EAGAIN: empty */)
		return err;
	set_status(p[0], rd->flags);
	set_status(p[1], wr->flags);
	rd->newfd = p[0];
	wr->newfd = p[1];
	w->r->copied++;
	return 0;
}

/* Bytes queued for `from` (written by its peer): written into `to_peer` so
 * that the copy of `from` receives them. */
static long copy_queue(struct work *w, int from, int to_peer)
{
	long n = fa_sys6(SYS_recvfrom, from, (long)w->t.buf, (long)w->t.buf_len, FA_MSG_PEEK | FA_MSG_DONTWAIT, 0, 0);
	if (n == -11 || n == 0)
		return 0;
	if (n < 0)
		return n;
	long sent = fa_sys6(SYS_sendto, to_peer, (long)w->t.buf, n, FA_MSG_DONTWAIT, 0, 0);
	return sent == n ? 0 : sent < 0 ? sent : -5;
}

/* A socketpair whose both ends are held: a new pair of the same type with
 * the same queued bytes (stream sockets; datagrams are not copied). */
static long copy_socketpair(struct work *w, struct fa_pfd *a)
{
	struct fa_pfd *b = a->u.un.peer_ino ? find_ino(&w->t, FA_PFD_UNIX, a->u.un.peer_ino, -1) : 0;
	if (!b || b == a) {
		a->shared = 1; /* connected to another process (or a listener): shared, as with fork */
		return 0;
	}
	int type = 0;
	unsigned len = sizeof type;
	fa_sys5(SYS_getsockopt, a->fd, 1 /* SOL_SOCKET */, FA_SO_TYPE, &type, &len);
	int s[2];
	long err = fa_sys4(SYS_socketpair, 1 /* AF_UNIX */, type | (int)FA_O_CLOEXEC, 0, s);
	if (err < 0)
		return err;
	keep_temp(w, s[0]);
	keep_temp(w, s[1]);
	if (type == FA_SOCK_STREAM) {
		if ((err = copy_queue(w, a->fd, s[1])) < 0 || (err = copy_queue(w, b->fd, s[0])) < 0)
			return err;
	} else {
		int qa = 0, qb = 0;
		fa_sys3(SYS_ioctl, a->fd, FA_FIONREAD, &qa);
		fa_sys3(SYS_ioctl, b->fd, FA_FIONREAD, &qb);
		if (qa || qb)
			fa_pfd_note(w->r, a->fd, "socketpair", "private, approximate (queued datagrams are not copied)");
	}
	set_status(s[0], a->flags);
	set_status(s[1], b->flags);
	a->newfd = s[0];
	b->newfd = s[1];
	w->r->copied++;
	return 0;
}

/* A TCP connection stays the original's: the copy is one end of a new stream
 * socketpair whose other end is closed at once, so a read gives end of file
 * and a write EPIPE, and the clone drops that peer as a closed connection. */
static long ended_stream(struct fa_pfd *e)
{
	int s[2];
	long err = fa_sys4(SYS_socketpair, 1 /* AF_UNIX */, FA_SOCK_STREAM | (int)FA_O_CLOEXEC, 0, s);
	if (err < 0)
		return err;
	fa_sys1(SYS_close, s[1]);
	set_status(s[0], e->flags);
	return s[0];
}

static long copy_one(struct work *w, struct fa_pfd *e)
{
	long fd;
	switch (e->kind) {
	case FA_PFD_EVENTFD:
		fd = copy_eventfd(e);
		break;
	case FA_PFD_TIMERFD:
		fd = copy_timerfd(w, e);
		if (fd == -1 /* EPERM: an *_ALARM clock needs CAP_WAKE_ALARM */) {
			e->shared = 1;
			fa_pfd_note(w->r, e->fd, "timerfd", "shared (its alarm clock needs CAP_WAKE_ALARM)");
			return 0;
		}
		break;
	case FA_PFD_SIGNALFD:
		fd = fa_sys4(SYS_signalfd4, -1, &e->u.sigmask, 8, FA_O_CLOEXEC | (e->flags & FA_O_NONBLOCK));
		break;
	case FA_PFD_PIPE:
		return e->newfd >= 0 ? 0 : copy_pipe(w, e);
	case FA_PFD_UNIX:
		return e->newfd >= 0 ? 0 : copy_socketpair(w, e);
	case FA_PFD_TCP:
		fd = ended_stream(e);
		break;
	case FA_PFD_INOTIFY:
		fd = fa_pfd_copy_inotify(e, w->t.buf, w->t.buf_len, w->r);
		if (fd == 0) {
			e->shared = 1;
			return 0;
		}
		break;
	default:
		return 0;
	}
	if (fd < 0)
		return fd;
	e->newfd = (int)keep_temp(w, fd);
	w->r->copied++;
	return 0;
}

/* Puts the copy of group `g` at the fd number of every entry of the group. */
static long install_group(struct work *w, unsigned g)
{
	struct fa_pfd *lead = &w->t.e[g];
	for (unsigned i = g; i < w->t.n; i++) {
		struct fa_pfd *e = &w->t.e[i];
		if (e->group != (int)g)
			continue;
		long r = fa_sys3(SYS_dup3, lead->newfd, e->fd, e->flags & FA_O_CLOEXEC);
		if (r < 0)
			return r;
		e->installed = 1;
	}
	return 0;
}

static struct fa_pfd *entry_of_fd(struct fa_pfd_table *t, int fd)
{
	for (unsigned i = 0; i < t->n; i++)
		if (t->e[i].fd == fd)
			return &t->e[i];
	return 0;
}

/* 1 when every epoll instance registered in epoll entry e has its copy installed. */
static int epoll_ready(struct work *w, struct fa_pfd *e)
{
	for (unsigned k = 0; k < e->u.ep.n; k++) {
		struct fa_pfd_item *it = &w->t.items[e->u.ep.first + k];
		struct fa_pfd *target = it->same_file ? entry_of_fd(&w->t, it->tfd) : 0;
		if (target && target->kind == FA_PFD_EPOLL && !target->shared && !target->installed)
			return 0;
	}
	return 1;
}

static long copy_epoll(struct work *w, struct fa_pfd *e)
{
	long ep = keep_temp(w, fa_sys1(SYS_epoll_create1, FA_O_CLOEXEC));
	if (ep < 0)
		return ep;
	set_status(ep, e->flags);
	for (unsigned k = 0; k < e->u.ep.n; k++) {
		struct fa_pfd_item *it = &w->t.items[e->u.ep.first + k];
		if (!it->same_file) {
			fa_pfd_note(w->r, e->fd, "epoll",
				    "private, one registration not copied (its fd was closed or reused since it was added)");
			continue;
		}
		struct fa_epoll_event ev = { it->events, it->data };
		long r = fa_sys4(SYS_epoll_ctl, ep, FA_EPOLL_CTL_ADD, it->tfd, &ev);
		if (r < 0)
			return r;
	}
	e->newfd = (int)ep;
	w->r->copied++;
	return 0;
}

static long run(struct work *w, const int *keep, unsigned nkeep)
{
	struct fa_pfd_table *t = &w->t;
	long err = fa_pfd_scan(t, keep, nkeep, w->r);
	if (err < 0)
		return err;
	if (fa_pfd_unix_peers(t) < 0)
		for (unsigned i = 0; i < t->n; i++)
			if (t->e[i].kind == FA_PFD_UNIX)
				t->e[i].u.un.peer_ino = 0; /* no sock_diag: unix sockets stay shared */
	for (unsigned i = 0; i < t->n; i++) {
		struct fa_pfd *e = &t->e[i];
		if (e->group == (int)i && e->kind != FA_PFD_EPOLL && (err = copy_one(w, e)) < 0)
			return err;
	}
	for (unsigned i = 0; i < t->n; i++) {
		struct fa_pfd *e = &t->e[i];
		if (e->group == (int)i && e->kind != FA_PFD_EPOLL && e->newfd >= 0 && (err = install_group(w, i)) < 0)
			return err;
	}
	for (unsigned i = 0; i < t->n; i++)
		if (t->e[i].kind == FA_PFD_EPOLL && t->e[i].u.ep.truncated)
			t->e[i].shared = 1;
	/* epoll instances, innermost first; the kernel forbids cycles */
	for (int progress = 1; progress;) {
		progress = 0;
		for (unsigned i = 0; i < t->n; i++) {
			struct fa_pfd *e = &t->e[i];
			if (e->kind != FA_PFD_EPOLL || e->group != (int)i || e->installed || e->u.ep.truncated || !epoll_ready(w, e))
				continue;
			if ((err = copy_epoll(w, e)) < 0 || (err = install_group(w, i)) < 0)
				return err;
			progress = 1;
		}
	}
	return 0;
}

int fa_private_fds(const int *keep, unsigned nkeep, struct fa_pfd_report *r)
{
	r->copied = r->not_copied = r->len = 0;
	if (!fa_pfd_needed(keep, nkeep))
		return 0; /* nothing held that a clone must own: skip the scan and its memory */
	const size_t size = 4ul << 20;
	char *m = (char *)fa_sys6(SYS_mmap, 0, (long)size, 3 /* PROT_READ|WRITE */, 0x22 /* MAP_PRIVATE|ANONYMOUS */, -1, 0);
	if ((unsigned long)m > -4096ul)
		return (int)(long)m;
	struct work w = { .r = r };
	w.t.cap = 1024;
	w.t.e = (struct fa_pfd *)m;
	w.t.items_cap = 32768;
	w.t.items = (struct fa_pfd_item *)(m + 1024 * sizeof(struct fa_pfd));
	w.temps_cap = 2048;
	w.temps = (int *)((char *)w.t.items + 32768 * sizeof(struct fa_pfd_item));
	w.t.buf = (char *)(w.temps + 2048);
	w.t.buf_len = size - (size_t)(w.t.buf - m);
	long err = run(&w, keep, nkeep);
	for (unsigned i = 0; i < w.ntemps; i++)
		fa_sys1(SYS_close, w.temps[i]);
	fa_sys2(SYS_munmap, m, size);
	return (int)err;
}
