/* Private file offsets for clones. A clone inherits the template's open file
 * descriptions, offsets included, and shares them with the template and every
 * other clone: one clone reading its input (pbzip2's archive) moves the offset
 * under the next, which then reads from the middle or at end-of-file, and its
 * run depends on which clones ran before it, not on its seed alone.
 * Before the snapshot the template records each regular file it has open with
 * its offset (fa_files_record); a clone's activation reopens each one through
 * /proc/self/fd at the recorded offset over the same descriptor number
 * (fa_files_reopen), so every clone starts reading where the template was.
 * Raw syscalls only: activation runs at a clone's first point, where the
 * program may be inside malloc or stdio in another thread. */
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "explore.h"

#define MAX_FILES 64
#define MAX_FD 1024

static struct recorded_file {
	int fd;
	int flags;	/* open flags (F_GETFL) */
	int cloexec;	/* FD_CLOEXEC */
	long offset;
} files[MAX_FILES];
static int nfiles;

void fa_files_record(void)
{
	nfiles = 0;
	for (int fd = 0; fd < MAX_FD && nfiles < MAX_FILES; fd++) {
		long flags = syscall(SYS_fcntl, fd, F_GETFL, 0);
		if (flags < 0)
			continue;
		struct stat st;
		if (syscall(SYS_fstat, fd, &st) != 0 || !S_ISREG(st.st_mode))
			continue;
		long offset = syscall(SYS_lseek, fd, 0L, SEEK_CUR);
		if (offset < 0)
			continue;
		long fdflags = syscall(SYS_fcntl, fd, F_GETFD, 0);
		files[nfiles++] = (struct recorded_file){ fd, (int)flags, fdflags > 0 && (fdflags & FD_CLOEXEC), offset };
	}
}

static void put_fd_path(char *p, int fd)
{
	const char *prefix = "/proc/self/fd/";
	while (*prefix)
		*p++ = *prefix++;
	char digits[12];
	int n = 0;
	do
		digits[n++] = (char)('0' + fd % 10);
	while ((fd /= 10));
	while (n)
		*p++ = digits[--n];
	*p = 0;
}

void fa_files_reopen(void)
{
	for (int i = 0; i < nfiles; i++) {
		struct recorded_file *f = &files[i];
		char path[32];
		put_fd_path(path, f->fd);
		/* the access mode and status flags as they were; never create or truncate again */
		int flags = (f->flags & (O_ACCMODE | O_APPEND | O_NONBLOCK | O_DIRECT | O_NOATIME | O_SYNC | O_DSYNC)) | O_CLOEXEC;
		long nfd = syscall(SYS_openat, AT_FDCWD, path, flags, 0);
		if (nfd < 0)
			continue; /* keeps sharing the template's description */
		if (syscall(SYS_lseek, (int)nfd, f->offset, SEEK_SET) == f->offset)
			syscall(SYS_dup3, (int)nfd, f->fd, f->cloexec ? O_CLOEXEC : 0);
		syscall(SYS_close, (int)nfd);
	}
}
