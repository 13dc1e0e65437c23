/* What the caller can do with the PID forkall returns, in both modes: a signal
 * sent to it reaches the clone (exact-TID mode: through the namespace init);
 * SIGKILL to it ends the clone (exact: the init, and with it the namespace);
 * the clone's exit status comes back (exact: a signal death as 128 + signal). */
#include <dirent.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "scenario.h"

static volatile sig_atomic_t got_usr1;
static volatile int stop;

static void on_usr1(int sig) { got_usr1 = 1; }

static void *idle(void *arg)
{
	while (!stop)
		usleep(1000);
	return 0;
}

static pid_t clone_with(int exact)
{
	struct forkall_options o = { .size = sizeof o, .flags = exact ? FORKALL_EXACT_TIDS : 0 };
	pid_t p = forkall_ex(&o);
	if (p < 0)
		sc_die("forkall: %s", forkall_strerror());
	return p;
}

/* The clone's outer PID: the returned PID itself, or (exact) the init's child. */
static pid_t outer_clone_pid(pid_t returned)
{
	if (!sc_exact)
		return returned;
	char path[64], buf[512];
	snprintf(path, sizeof path, "/proc/%d/task/%d/children", (int)returned, (int)returned);
	for (int i = 0; i < 1000; i++) {
		FILE *f = fopen(path, "r");
		long pid = 0;
		if (f && fgets(buf, sizeof buf, f))
			pid = strtol(buf, 0, 10);
		if (f)
			fclose(f);
		if (pid > 0)
			return (pid_t)pid;
		usleep(1000);
	}
	return -1;
}

static int alive(pid_t pid)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return 0;
	char buf[512] = { 0 };
	fgets(buf, sizeof buf, f);
	fclose(f);
	char *p = strrchr(buf, ')');
	return p && p[2] != 'Z' && p[2] != 'X';
}

int main(void)
{
	struct sigaction sa = { .sa_handler = on_usr1 };
	sigaction(SIGUSR1, &sa, 0);
	pthread_t t;
	sc_spawn(idle, 0, (unsigned long *)&t);
	int exact = getenv("FORKALL_SCENARIO_EXACT") && atoi(getenv("FORKALL_SCENARIO_EXACT"));
	sc_exact = exact;

	/* 1. a signal to the returned PID reaches the clone, which exits 0 on it */
	pid_t p = clone_with(exact);
	if (p == 0) {
		for (int i = 0; i < 60000 && !got_usr1; i++) /* until the signal, 60 s at most */
			usleep(1000);
		_exit(got_usr1 ? 0 : 9);
	}
	usleep(20000);
	kill(p, SIGUSR1);
	int st;
	waitpid(p, &st, 0);
	sc_check("main", "SIGUSR1 to the returned PID reached the clone", WIFEXITED(st) && WEXITSTATUS(st) == 0, 1);

	/* 2. SIGKILL to the returned PID ends the clone */
	p = clone_with(exact);
	if (p == 0) {
		pause();
		_exit(9);
	}
	pid_t outer = outer_clone_pid(p);
	kill(p, SIGKILL);
	waitpid(p, &st, 0);
	sc_check("main", "SIGKILL ended what was returned", WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, 1);
	int gone = 0;
	for (int i = 0; i < 30000 && !gone; i++) { /* 30 s at most: a loaded machine */
		gone = !alive(outer);
		usleep(1000);
	}
	sc_check("main", "and the clone is gone", gone, 1);

	/* 3. exit statuses come back */
	p = clone_with(exact);
	if (p == 0)
		_exit(5);
	waitpid(p, &st, 0);
	sc_check("main", "exit code 5 relayed", WIFEXITED(st) ? WEXITSTATUS(st) : -1, 5);
	p = clone_with(exact);
	if (p == 0)
		abort();
	waitpid(p, &st, 0);
	if (exact)
		sc_check("main", "death by SIGABRT relayed as 128+6", WIFEXITED(st) ? WEXITSTATUS(st) : -1, 128 + SIGABRT);
	else
		sc_check("main", "death by SIGABRT", WIFSIGNALED(st) ? WTERMSIG(st) : -1, SIGABRT);
	sc_check("main", "no child left behind", sc_other_children(), 0);

	sc_snapshot();
	stop = 1;
	pthread_join(t, 0);
	return sc_finish();
}
