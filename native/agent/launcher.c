/* Launcher images: a shell or env that will exec the real program.
 *
 * pyenv/rbenv/asdf shims and wrapper scripts start the program through bash
 * or env, which run subprocesses of their own and then exec it. The agent is
 * preloaded into every image of that chain, so a trigger that fires at once
 * (`request`, or threads=1 settled while bash waits for a subprocess) would
 * freeze the launcher instead of the program: its clones wait for children
 * they do not have, or re-run the launcher. In a launcher image the agent
 * holds its trigger back for FORKALL_LAUNCHER_WAIT_MS (default 3000): the
 * image normally execs long before, and the next image's agent says HELLO
 * and gets the request again. A shell script that is itself the program is
 * still frozen once the wait has passed. */
#include <string.h>
#include "agent.h"

/* Executables that start other programs rather than being the program. */
static const char *const launchers[] = { "sh", "bash", "dash", "zsh", "ksh", "mksh", "ash", "busybox", "env" };

/* 1 when this image's executable is one of the launchers above. */
int fa_image_is_launcher(void)
{
	char path[4096];
	long n = fa_sys3(SYS_readlink, (long)"/proc/self/exe", (long)path, sizeof path - 1);
	if (n <= 0)
		return 0;
	path[n] = 0;
	const char *base = strrchr(path, '/');
	base = base ? base + 1 : path;
	for (unsigned i = 0; i < sizeof launchers / sizeof launchers[0]; i++)
		if (strcmp(base, launchers[i]) == 0)
			return 1;
	return 0;
}
