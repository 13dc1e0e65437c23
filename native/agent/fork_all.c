/* FORKALL_FORK=all: the program's own fork() calls become forkall(), so a
 * fork server living inside the program (AFL++'s, a zygote's) hands out
 * children that keep every thread - without touching its protocol.
 * Preload libforkall-agent.so (LD_PRELOAD, or AFL_PRELOAD for afl-fuzz).
 * Without FORKALL_FORK the library changes nothing: fork() is libc's.
 * The children share every fd with the parent, as fork's do, unless
 * FORKALL_PRIVATE_FDS=1 (private event objects: forkall_ex's FORKALL_PRIVATE_FDS). */
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "forkall.h"

static pid_t (*libc_fork)(void);
static int fork_all;
static struct forkall_options fork_all_opts = { .size = sizeof fork_all_opts };

/* Resolved at load time: dlsym takes ld.so's lock, which a thread may hold
 * when fork() is called later. */
__attribute__((constructor)) static void fork_all_init(void)
{
	const char *v = getenv("FORKALL_FORK");
	fork_all = v && strcmp(v, "all") == 0;
	const char *p = getenv("FORKALL_PRIVATE_FDS");
	if (p && strcmp(p, "1") == 0)
		fork_all_opts.flags |= FORKALL_PRIVATE_FDS;
	libc_fork = (pid_t(*)(void))dlsym(RTLD_NEXT, "fork");
}

__attribute__((visibility("default"))) pid_t fork(void)
{
	if (fork_all)
		return forkall_ex(&fork_all_opts);
	return libc_fork ? libc_fork() : -1;
}
