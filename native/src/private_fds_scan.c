/* What the process holds: every fd of /proc/self/fd whose object an event loop
 * owns, with the state its fdinfo shows (formats: ../shared/DESIGN.md section
 * 11; kernel fs/eventpoll.c, fs/eventfd.c, fs/timerfd.c, fs/signalfd.c), and
 * which fds name the same open file description (kcmp KCMP_FILE). Read before
 * anything is replaced: kcmp KCMP_EPOLL_TFD compares an epoll registration
 * with the file an fd names now. Raw system calls only. */
#include <fcntl.h>
#include "private_fds.h"

#define FA_SYS_kcmp 312
#define FA_KCMP_FILE 0
#define FA_KCMP_EPOLL_TFD 7

const char *fa_pfd_kind_name(int kind)
{
	static const char *const names[] = { "?", "epoll", "eventfd", "timerfd", "signalfd", "inotify", "pipe", "socketpair", "tcp connection" };
	return kind > 0 && kind <= FA_PFD_TCP ? names[kind] : "?";
}

static int starts(const char *s, const char *p)
{
	while (*p)
		if (*s++ != *p++)
			return 0;
	return 1;
}

static void append(struct fa_pfd_report *r, const char *s)
{
	while (*s && r->len < FA_PFD_NOTE)
		r->note[r->len++] = *s++;
}

void fa_pfd_note(struct fa_pfd_report *r, int fd, const char *kind, const char *why)
{
	char num[12];
	num[fa_utoa(num, (unsigned)fd)] = 0;
	if (r->len && r->len < FA_PFD_NOTE)
		r->note[r->len++] = '\n';
	append(r, "fd ");
	append(r, num);
	append(r, " ");
	append(r, kind);
	append(r, ": ");
	append(r, why);
	r->not_copied++;
}

/* The text after `key` at the start of a line, or NULL. */
static const char *field(const char *buf, const char *key)
{
	for (const char *l = buf; *l;) {
		if (starts(l, key))
			return l + __builtin_strlen(key);
		while (*l && *l != '\n')
			l++;
		if (*l)
			l++;
	}
	return 0;
}

/* The text after `key` further on the same line (the line's end if absent). */
static const char *after_on_line(const char *s, const char *key)
{
	for (; *s && *s != '\n'; s++)
		if (starts(s, key))
			return s + __builtin_strlen(key);
	return s;
}

/* "(sec, nsec)" */
static void pair(const char *s, long *sec, long *nsec)
{
	*sec = *nsec = 0;
	if (!s)
		return;
	while (*s == ' ' || *s == '\t' || *s == '(')
		s++;
	*sec = (long)fa_parse_num(&s, 10);
	while (*s == ',' || *s == ' ')
		s++;
	*nsec = (long)fa_parse_num(&s, 10);
}


static void path_of(char *out, const char *dir, int fd)
{
	size_t i = 0;
	for (; dir[i]; i++)
		out[i] = dir[i];
	out[i + fa_utoa(out + i, (unsigned)fd)] = 0;
}

static int sockopt(int fd, int name)
{
	int v = -1;
	unsigned len = sizeof v;
	return fa_sys5(SYS_getsockopt, fd, 1 /* SOL_SOCKET */, name, &v, &len) == 0 ? v : -1;
}

/* A TCP socket that is not listening: connected, connecting, or not yet
 * either. A listening socket stays shared (the clone serves the same port). */
static int tcp_connection(int fd)
{
	return sockopt(fd, 38 /* SO_PROTOCOL */) == 6 /* IPPROTO_TCP */ &&
	       sockopt(fd, 30 /* SO_ACCEPTCONN */) == 0;
}

static int classify(int fd, unsigned long *ino)
{
	char path[40], link[64];
	path_of(path, "/proc/self/fd/", fd);
	long n = fa_sys3(SYS_readlink, path, link, sizeof link - 1);
	if (n <= 0)
		return 0;
	link[n] = 0;
	if (starts(link, "anon_inode:[eventpoll]"))
		return FA_PFD_EPOLL;
	if (starts(link, "anon_inode:[eventfd]"))
		return FA_PFD_EVENTFD;
	if (starts(link, "anon_inode:[timerfd]"))
		return FA_PFD_TIMERFD;
	if (starts(link, "anon_inode:[signalfd]"))
		return FA_PFD_SIGNALFD;
	if (starts(link, "anon_inode:inotify"))
		return FA_PFD_INOTIFY;
	const char *p = link;
	if (starts(link, "pipe:[") || starts(link, "socket:[")) {
		p += link[0] == 'p' ? 6 : 8;
		*ino = (unsigned long)fa_parse_num(&p, 10);
		if (link[0] == 'p')
			return FA_PFD_PIPE;
		int domain = sockopt(fd, 39 /* SO_DOMAIN */);
		if (domain == 1 /* AF_UNIX */)
			return FA_PFD_UNIX;
		if ((domain == 2 /* AF_INET */ || domain == 10 /* AF_INET6 */) && tcp_connection(fd))
			return FA_PFD_TCP;
	}
	return 0;
}

/* Parses the fdinfo of entry e (already read into t->buf). */
static void parse(struct fa_pfd_table *t, struct fa_pfd *e, struct fa_pfd_report *r)
{
	const char *s = field(t->buf, "flags:");
	e->flags = s ? (unsigned)fa_parse_num(&s, 8) : 0;
	switch (e->kind) {
	case FA_PFD_EVENTFD:
		s = field(t->buf, "eventfd-count:");
		e->u.ev.count = s ? fa_parse_num(&s, 16) : 0;
		s = field(t->buf, "eventfd-semaphore:");
		e->u.ev.semaphore = s ? (int)fa_parse_num(&s, 10) : 0;
		break;
	case FA_PFD_TIMERFD:
		s = field(t->buf, "clockid:");
		e->u.tm.clockid = s ? (int)fa_parse_num(&s, 10) : 0;
		s = field(t->buf, "ticks:");
		e->u.tm.ticks = s ? fa_parse_num(&s, 10) : 0;
		s = field(t->buf, "settime flags:");
		e->u.tm.settime_flags = s ? (int)fa_parse_num(&s, 8) : 0;
		pair(field(t->buf, "it_value:"), &e->u.tm.vs, &e->u.tm.vns);
		pair(field(t->buf, "it_interval:"), &e->u.tm.is, &e->u.tm.ins);
		break;
	case FA_PFD_SIGNALFD:
		s = field(t->buf, "sigmask:");
		e->u.sigmask = s ? fa_parse_num(&s, 16) : 0;
		break;
	case FA_PFD_EPOLL:
		e->u.ep.first = t->nitems;
		for (const char *l = t->buf; (l = field(l, "tfd:")) != 0;) {
			if (t->nitems == t->items_cap) {
				e->u.ep.truncated = 1;
				break;
			}
			struct fa_pfd_item *it = &t->items[t->nitems++];
			it->tfd = (int)fa_parse_num(&l, 10);
			const char *x = after_on_line(l, "events:"); /* "events:" and "data:" follow on the same line */
			it->events = (unsigned)fa_parse_num(&x, 16);
			x = after_on_line(x, "data:");
			it->data = fa_parse_num(&x, 16);
			struct { int efd, tfd; unsigned toff; } slot = { e->fd, it->tfd, 0 };
			long k = fa_sys5(FA_SYS_kcmp, fa_getpid(), fa_getpid(), FA_KCMP_EPOLL_TFD, it->tfd, &slot);
			it->same_file = k == 0 || k == -38 /* no kcmp: trust the number */;
			l = x;
		}
		e->u.ep.n = t->nitems - e->u.ep.first;
		if (e->u.ep.truncated)
			fa_pfd_note(r, e->fd, "epoll", "shared (too many registrations to copy)");
		break;
	}
}

/* Calls visit(ctx, fd, kind, ino) for each fd of /proc/self/fd that
 * classify() names, but the directory's own and those in keep[]; stops when
 * visit returns non-zero. 0, or -errno when the directory could not be read. */
static long each_fd(const int *keep, unsigned nkeep, int (*visit)(void *ctx, int fd, int kind, unsigned long ino), void *ctx)
{
	long dir = fa_sys3(SYS_open, "/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
	if (dir < 0)
		return dir;
	char dents[4096];
	long got;
	int stop = 0;
	while (!stop && (got = fa_sys3(SYS_getdents64, dir, dents, sizeof dents)) > 0) {
		for (long off = 0; off < got && !stop;) {
			struct fa_dirent64 *d = (struct fa_dirent64 *)(dents + off);
			off += d->reclen;
			const char *p = d->name;
			if (*p < '0' || *p > '9')
				continue;
			int fd = (int)fa_parse_num(&p, 10), skip = fd == dir;
			for (unsigned i = 0; i < nkeep; i++)
				skip |= keep[i] == fd;
			unsigned long ino = 0;
			int kind = skip ? 0 : classify(fd, &ino);
			if (kind)
				stop = visit(ctx, fd, kind, ino);
		}
	}
	fa_sys1(SYS_close, dir);
	return stop || got >= 0 ? 0 : got;
}

struct needed {
	unsigned long pipes[64];
	unsigned npipes, nunix;
	int yes;
};

static int note_needed(void *ctx, int fd, int kind, unsigned long ino)
{
	struct needed *n = ctx;
	if (kind == FA_PFD_UNIX) {
		n->yes = ++n->nunix > 1; /* two may be the ends of one socketpair */
	} else if (kind == FA_PFD_PIPE) {
		for (unsigned i = 0; i < n->npipes; i++)
			n->yes |= n->pipes[i] == ino; /* both ends held */
		if (n->npipes == sizeof n->pipes / sizeof n->pipes[0])
			n->yes = 1;
		else
			n->pipes[n->npipes++] = ino;
	} else {
		n->yes = 1;
	}
	return n->yes;
}

/* Is there anything for fa_private_fds to do? One pass of /proc/self/fd with
 * the same classify() as the scan, so every kind it handles counts, except the
 * two that are private only in pairs: a pipe whose other end is not held here
 * and a lone unix socket stay shared, as after fork. Conservative: 1 when
 * unsure. It spares a clone the fdinfo reads, kcmp and sock_diag queries of
 * the full scan (most processes hold nothing of the kind). */
int fa_pfd_needed(const int *keep, unsigned nkeep)
{
	struct needed n = { .npipes = 0 };
	return each_fd(keep, nkeep, note_needed, &n) < 0 || n.yes;
}

struct scan {
	struct fa_pfd_table *t;
	struct fa_pfd_report *r;
};

static int add_entry(void *ctx, int fd, int kind, unsigned long ino)
{
	struct fa_pfd_table *t = ((struct scan *)ctx)->t;
	struct fa_pfd_report *r = ((struct scan *)ctx)->r;
	if (t->n == t->cap) {
		fa_pfd_note(r, fd, fa_pfd_kind_name(kind), "shared (too many descriptors to copy)");
		return 0;
	}
	struct fa_pfd *e = &t->e[t->n];
	__builtin_memset(e, 0, sizeof *e);
	e->fd = fd;
	e->kind = kind;
	e->ino = ino;
	e->newfd = -1;
	e->group = (int)t->n;
	char path[40];
	path_of(path, "/proc/self/fdinfo/", fd);
	if (fa_read_file(path, t->buf, t->buf_len) < 0) {
		fa_pfd_note(r, fd, fa_pfd_kind_name(kind), "shared (its fdinfo could not be read)");
		return 0;
	}
	parse(t, e, r);
	/* dups of one open file description become dups of one copy */
	for (unsigned j = 0; j < t->n; j++)
		if (t->e[j].kind == kind && t->e[j].group == (int)j &&
		    fa_sys5(FA_SYS_kcmp, fa_getpid(), fa_getpid(), FA_KCMP_FILE, t->e[j].fd, fd) == 0) {
			e->group = (int)j;
			break;
		}
	t->n++;
	return 0;
}

/* Fills t with the fds that may need a private copy. */
int fa_pfd_scan(struct fa_pfd_table *t, const int *keep, unsigned nkeep, struct fa_pfd_report *r)
{
	struct scan sc = { t, r };
	return (int)each_fd(keep, nkeep, add_entry, &sc);
}
