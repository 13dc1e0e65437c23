/* Reading /proc/self/task with raw system calls: the list of threads, and for
 * diagnostics a thread's state, blocked signals, seccomp filters and name. */
#include <fcntl.h>
#include "engine.h"

long fa_task_dir_open(void)
{
	return fa_sys3(SYS_open, "/proc/self/task", O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
}

static int parse_int(const char *s)
{
	int v = 0;
	if (*s < '0' || *s > '9')
		return -1;
	for (; *s >= '0' && *s <= '9'; s++)
		v = v * 10 + (*s - '0');
	return *s ? -1 : v;
}

/* Reads the whole directory from its start into tids[]; *count gets the number
 * of threads seen, which may exceed max (then only max are stored). */
long fa_task_dir_read(int fd, int *tids, unsigned max, unsigned *count)
{
	unsigned n = 0;
	long r = fa_sys3(SYS_lseek, fd, 0, 0);
	if (r < 0)
		return r;
	for (;;) {
		long got = fa_sys3(SYS_getdents64, fd, fa_area.dirbuf, fa_area.dirbuf_len);
		if (got < 0)
			return got;
		if (got == 0)
			break;
		for (long off = 0; off < got;) {
			struct fa_dirent64 *d = (struct fa_dirent64 *)(fa_area.dirbuf + off);
			int tid = parse_int(d->name);
			if (tid > 0) {
				if (n < max)
					tids[n] = tid;
				n++;
			}
			off += d->reclen;
		}
	}
	*count = n;
	return 0;
}

/* Writes v in decimal (no NUL); returns the number of digits. */
size_t fa_utoa(char *out, unsigned v)
{
	char digits[12];
	size_t nd = 0, n = 0;
	do
		digits[nd++] = (char)('0' + v % 10);
	while ((v /= 10) && nd < sizeof digits);
	while (nd)
		out[n++] = digits[--nd];
	return n;
}

/* Reads /proc/self/task/<tid>/<file> into buf (NUL-terminated); length or -errno. */
static long read_task_file(int tid, const char *file, char *buf, size_t len)
{
	char path[64] = "/proc/self/task/";
	size_t i = 16 + fa_utoa(path + 16, (unsigned)tid);
	path[i++] = '/';
	for (const char *f = file; *f && i < 62; f++)
		path[i++] = *f;
	path[i] = 0;
	long fd = fa_sys3(SYS_open, path, O_RDONLY | O_CLOEXEC, 0);
	if (fd < 0)
		return fd;
	long n = fa_sys3(SYS_read, fd, buf, len - 1);
	fa_sys1(SYS_close, fd);
	if (n < 0)
		return n;
	buf[n] = 0;
	return n;
}

/* The one-letter state from /proc/self/task/<tid>/stat, 0 if unreadable. */
char fa_task_state(int tid)
{
	char buf[512];
	if (read_task_file(tid, "stat", buf, sizeof buf) <= 0)
		return 0;
	const char *p = buf, *close = 0;
	for (; *p; p++)
		if (*p == ')')
			close = p; /* comm may itself hold ')' */
	return close && close[1] == ' ' ? close[2] : 0;
}

static const char *find_key(const char *text, const char *key)
{
	for (const char *line = text; *line;) {
		const char *a = line, *k = key;
		while (*k && *a == *k)
			a++, k++;
		if (!*k)
			return a;
		while (*line && *line != '\n')
			line++;
		if (*line)
			line++;
	}
	return 0;
}

/* A decimal field of /proc/self/task/<tid>/status, e.g. "Seccomp_filters:"; -1 if absent. */
long fa_task_status_number(int tid, const char *key)
{
	char buf[4096];
	if (read_task_file(tid, "status", buf, sizeof buf) <= 0)
		return -1;
	const char *v = find_key(buf, key);
	if (!v)
		return -1;
	while (*v == ' ' || *v == '\t')
		v++;
	long n = 0;
	if (*v < '0' || *v > '9')
		return -1;
	for (; *v >= '0' && *v <= '9'; v++)
		n = n * 10 + (*v - '0');
	return n;
}

/* 1 if the thread's SigBlk mask holds sig, 0 if not, -1 if unknown. */
int fa_task_blocks_signal(int tid, int sig)
{
	char buf[4096];
	if (read_task_file(tid, "status", buf, sizeof buf) <= 0)
		return -1;
	const char *v = find_key(buf, "SigBlk:");
	if (!v)
		return -1;
	while (*v == ' ' || *v == '\t')
		v++;
	uint64_t mask = 0;
	for (;; v++) {
		int d = (*v >= '0' && *v <= '9') ? *v - '0' : (*v >= 'a' && *v <= 'f') ? *v - 'a' + 10 : -1;
		if (d < 0)
			break;
		mask = mask << 4 | (uint64_t)d;
	}
	return (int)((mask >> (sig - 1)) & 1);
}

void fa_task_comm(int tid, char *out, size_t len)
{
	long n = read_task_file(tid, "comm", out, len);
	if (n <= 0) {
		out[0] = '?';
		out[1] = 0;
		return;
	}
	if (out[n - 1] == '\n')
		out[n - 1] = 0;
}
