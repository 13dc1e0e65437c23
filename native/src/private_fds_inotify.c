/* A private copy of an inotify instance: the same watches with the same
 * watch descriptors and masks. fdinfo names each watched inode by a file
 * handle ("f_handle:" hex) on the filesystem "sdev"; the handle is opened with
 * open_by_handle_at (needs CAP_DAC_READ_SEARCH) through any directory on that
 * filesystem (found in /proc/self/mountinfo), and the watch added through
 * /proc/self/fd/N with INOTIFY_IOC_SETNEXTWD first so that it keeps its number.
 * Events already queued are not copied. Raw system calls only. */
#include <fcntl.h>
#include "private_fds.h"

#define FA_INOTIFY_IOC_SETNEXTWD 0x40044900ul /* _IOW('I', 0, __s32) */
#define FA_O_PATH 010000000
#define FA_O_CLOEXEC 02000000
#define FA_O_NONBLOCK 04000
#define FA_FIONREAD 0x541B
#define FA_MAX_HANDLE 128

static int starts(const char *s, const char *p)
{
	while (*p)
		if (*s++ != *p++)
			return 0;
	return 1;
}

static int hexdigit(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : 0;
}

static const char *after(const char *s, const char *key, const char *end)
{
	for (; s < end && *s; s++)
		if (starts(s, key))
			return s + __builtin_strlen(key);
	return 0;
}


/* A directory on the filesystem with device `dev` (kernel encoding:
 * major << 20 | minor), opened read-only; -1 if none is mounted here. */
static long mount_dir(unsigned long dev, char *buf, size_t cap)
{
	if (fa_read_file("/proc/self/mountinfo", buf, cap) < 0)
		return -1;
	unsigned long major = dev >> 20, minor = dev & 0xfffff;
	for (const char *l = buf; *l;) {
		/* "ID PARENT MAJOR:MINOR ROOT MOUNTPOINT ..." */
		const char *p = l;
		for (int field = 0; field < 2 && *p; field++) {
			while (*p && *p != ' ')
				p++;
			if (*p)
				p++;
		}
		unsigned long ma = fa_parse_num(&p, 10);
		p += *p == ':';
		unsigned long mi = fa_parse_num(&p, 10);
		if (ma == major && mi == minor) {
			while (*p == ' ')
				p++;
			while (*p && *p != ' ')
				p++; /* root */
			while (*p == ' ')
				p++;
			char path[512];
			size_t n = 0;
			while (*p && *p != ' ' && *p != '\n' && n < sizeof path - 1) {
				if (p[0] == '\\' && p[1] >= '0' && p[1] <= '3') { /* octal escape: \040 */
					path[n++] = (char)((p[1] - '0') * 64 + (p[2] - '0') * 8 + (p[3] - '0'));
					p += 4;
				} else
					path[n++] = *p++;
			}
			path[n] = 0;
			long fd = fa_sys3(SYS_open, path, O_RDONLY | O_DIRECTORY | FA_O_CLOEXEC, 0); /* not O_PATH: open_by_handle_at refuses it */
			if (fd >= 0)
				return fd;
		}
		while (*l && *l != '\n')
			l++;
		if (*l)
			l++;
	}
	return -1;
}

/* Copies inotify instance e into a new instance; returns its fd, 0 when it
 * stays shared (noted: a watch that cannot be copied exactly), or -errno when
 * no instance can be made at all. */
long fa_pfd_copy_inotify(struct fa_pfd *e, char *buf, size_t cap, struct fa_pfd_report *r)
{
	char path[40] = "/proc/self/fdinfo/";
	path[18 + fa_utoa(path + 18, (unsigned)e->fd)] = 0;
	size_t half = cap / 2; /* fdinfo in the first half, mountinfo in the second */
	if (fa_read_file(path, buf, half) < 0) {
		fa_pfd_note(r, e->fd, "inotify", "shared (its fdinfo could not be read)");
		return 0;
	}
	int queued = 0;
	fa_sys3(SYS_ioctl, e->fd, FA_FIONREAD, &queued);
	long fd = fa_sys1(SYS_inotify_init1, FA_O_CLOEXEC | (e->flags & FA_O_NONBLOCK));
	if (fd < 0)
		return fd;
	for (const char *l = buf; (l = after(l, "inotify wd:", buf + half)) != 0;) {
		const char *eol = l;
		while (*eol && *eol != '\n')
			eol++;
		int wd = (int)fa_parse_num(&l, 16);
		const char *s = after(l, "sdev:", eol);
		unsigned long sdev = s ? fa_parse_num(&s, 16) : 0;
		s = after(l, " mask:", eol);
		unsigned mask = s ? (unsigned)fa_parse_num(&s, 16) : 0;
		s = after(l, "fhandle-bytes:", eol);
		unsigned bytes = s ? (unsigned)fa_parse_num(&s, 16) : 0;
		s = after(l, "fhandle-type:", eol);
		int type = s ? (int)fa_parse_num(&s, 16) : 0;
		s = after(l, "f_handle:", eol);
		struct {
			unsigned bytes;
			int type;
			unsigned char h[FA_MAX_HANDLE];
		} fh = { bytes, type, { 0 } };
		if (!s || bytes > FA_MAX_HANDLE) {
			fa_sys1(SYS_close, fd);
			fa_pfd_note(r, e->fd, "inotify", "shared (a watch has no file handle)");
			return 0;
		}
		for (unsigned i = 0; i < bytes && s + 1 < eol; i++, s += 2)
			fh.h[i] = (unsigned char)(hexdigit(s[0]) << 4 | hexdigit(s[1]));
		long mnt = mount_dir(sdev, buf + half, cap - half);
		long target = mnt < 0 ? mnt : fa_sys3(SYS_open_by_handle_at, mnt, &fh, FA_O_PATH | FA_O_CLOEXEC);
		if (mnt >= 0)
			fa_sys1(SYS_close, mnt);
		if (target < 0) {
			fa_sys1(SYS_close, fd);
			fa_pfd_note(r, e->fd, "inotify",
				    target == -1 || target == -13 ? "shared (reopening a watched file needs CAP_DAC_READ_SEARCH)"
								   : "shared (a watched file could not be reopened)");
			return 0;
		}
		char link[40] = "/proc/self/fd/";
		link[14 + fa_utoa(link + 14, (unsigned)target)] = 0;
		int next = wd;
		long set = fa_sys3(SYS_ioctl, fd, FA_INOTIFY_IOC_SETNEXTWD, next);
		long got = fa_sys3(SYS_inotify_add_watch, fd, link, mask);
		fa_sys1(SYS_close, target);
		if (got != wd || set < 0) {
			fa_sys1(SYS_close, fd);
			fa_pfd_note(r, e->fd, "inotify", "shared (a watch could not keep its number)");
			return 0;
		}
		l = eol;
	}
	if (queued > 0)
		fa_pfd_note(r, e->fd, "inotify", "private, approximate (events already queued are not copied)");
	return fd;
}
