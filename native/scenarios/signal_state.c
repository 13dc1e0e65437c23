/* Every bit of signal state survives a clone, in the original and in the clone:
 * the disposition of all 64 signals (handler, SA_ flags, restorer, sa_mask),
 * each thread's signal mask and signal stack, and the pending sets (private
 * and shared). SIGTRAP is blocked everywhere with a handler installed and is
 * pending (once for one thread, once for the process): a tracer that makes a
 * thread take a trap (a single step) gets a *forced* SIGTRAP, which the kernel
 * delivers by resetting a blocked signal's handler to SIG_DFL for the whole
 * process and unblocking it in that thread; the pending SIGTRAP then kills it.
 *
 * Pending signals are the original's alone: the clone starts with none
 * (docs/semantics.md), exactly as after fork(). Everything else must be equal.
 * States are read with the raw system calls (libc wrappers hide signals 32-34)
 * and, for the private/shared split of pending sets, from /proc. */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "scenario.h"

#define NWORKERS 3
#define NSIG_ALL 64

struct kact { /* the kernel's struct sigaction on x86-64 */
	unsigned long handler, flags, restorer, mask;
};

struct thread_sig {
	unsigned long mask, pending;	/* pending: this thread's private set */
	stack_t ss;
};

static struct kact before_act[NSIG_ALL + 1];
static struct thread_sig before[NWORKERS + 1];
static unsigned long before_shared;
static pid_t tids[NWORKERS + 1];
static struct sc_gate gate = SC_GATE_INIT;

static void on_signal(int sig, siginfo_t *si, void *uc) { (void)sig; (void)si; (void)uc; }
static void on_plain(int sig) { (void)sig; }

static unsigned long proc_set(pid_t tid, const char *field)
{
	char path[64], line[256];
	snprintf(path, sizeof path, "/proc/self/task/%d/status", (int)tid);
	FILE *f = fopen(path, "r");
	if (!f)
		sc_die("open %s", path);
	unsigned long v = ~0ul;
	size_t n = strlen(field);
	while (fgets(line, sizeof line, f))
		if (!strncmp(line, field, n) && line[n] == ':')
			v = strtoul(line + n + 1, 0, 16);
	fclose(f);
	return v;
}

static void read_actions(struct kact *a)
{
	for (int s = 1; s <= NSIG_ALL; s++)
		if (s == SIGKILL || s == SIGSTOP)
			memset(&a[s], 0, sizeof a[s]);
		else if (syscall(SYS_rt_sigaction, s, 0, &a[s], 8))
			sc_die("rt_sigaction(%d) read", s);
}

static void read_own(struct thread_sig *t)
{
	if (syscall(SYS_rt_sigprocmask, SIG_BLOCK, 0, &t->mask, 8))
		sc_die("rt_sigprocmask read");
	t->pending = proc_set(sc_gettid(), "SigPnd");
	if (sigaltstack(0, &t->ss))
		sc_die("sigaltstack read");
}

static void check_own(const char *label, int i)
{
	struct thread_sig now;
	read_own(&now);
	sc_check(label, "signal mask", (long)now.mask, (long)before[i].mask);
	/* the clone starts with nothing pending, as after fork() */
	sc_check(label, "private pending set", (long)now.pending, sc_role == SC_CHILD ? 0 : (long)before[i].pending);
	sc_check(label, "sigaltstack base", (long)now.ss.ss_sp, (long)before[i].ss.ss_sp);
	sc_check(label, "sigaltstack size", (long)now.ss.ss_size, (long)before[i].ss.ss_size);
	sc_check(label, "sigaltstack flags", now.ss.ss_flags, before[i].ss.ss_flags);
}

static const char *names[NWORKERS + 1] = { "main", "w1", "w2", "w3" };

static void *worker(void *arg)
{
	int i = (int)(long)arg;
	sigset_t m;
	sigemptyset(&m);
	if (i == 1)
		sigaddset(&m, SIGUSR2);
	if (i == 2)
		sigaddset(&m, SIGRTMIN + 5);
	pthread_sigmask(SIG_BLOCK, &m, 0);
	if (i == 1) {
		stack_t ss = { .ss_sp = malloc(65536), .ss_size = 65536 };
		if (sigaltstack(&ss, 0))
			sc_die("sigaltstack");
	}
	tids[i] = sc_gettid();
	/* one private pending signal each: SIGTRAP for w1, a queued real-time one for w2 */
	if (i == 1)
		syscall(SYS_tgkill, getpid(), tids[i], SIGTRAP);
	if (i == 2) {
		syscall(SYS_tgkill, getpid(), tids[i], SIGRTMIN + 5);
		syscall(SYS_tgkill, getpid(), tids[i], SIGRTMIN + 5);
	}
	read_own(&before[i]);
	sc_gate_pass(&gate);
	check_own(names[i], i);
	return 0;
}

int main(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = on_signal;
	sa.sa_flags = SA_SIGINFO | SA_RESTART | SA_ONSTACK;
	sigemptyset(&sa.sa_mask);
	sigaddset(&sa.sa_mask, SIGUSR1);
	sigaddset(&sa.sa_mask, SIGRTMIN + 2);
	sigaction(SIGTRAP, &sa, 0);
	sa.sa_flags = SA_SIGINFO;
	sigaction(SIGRTMIN + 3, &sa, 0);
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_plain;
	sa.sa_flags = SA_NODEFER | SA_RESETHAND;
	sigaction(SIGUSR2, &sa, 0);
	sa.sa_flags = SA_NOCLDSTOP;
	sigaction(SIGCHLD, &sa, 0);
	sa.sa_handler = SIG_IGN;
	sa.sa_flags = 0;
	sigaction(SIGUSR1, &sa, 0);
	sigaction(SIGPIPE, &sa, 0);
	sigaction(SIGRTMAX, &sa, 0);

	/* SIGTRAP blocked in every thread (the workers inherit it) */
	sigset_t m;
	sigemptyset(&m);
	sigaddset(&m, SIGTRAP);
	sigaddset(&m, SIGRTMIN + 7);
	pthread_sigmask(SIG_BLOCK, &m, 0);
	tids[0] = sc_gettid();
	for (long i = 1; i <= NWORKERS; i++)
		sc_spawn(worker, (void *)i, 0);
	sc_gate_wait_arrivals(&gate, NWORKERS);
	/* and once for the whole process (blocked everywhere: stays shared) */
	kill(getpid(), SIGTRAP);
	read_own(&before[0]);
	before_shared = proc_set(tids[0], "ShdPnd");
	read_actions(before_act);
	if (!(before_shared & (1ul << (SIGTRAP - 1))) || !(before[1].pending & (1ul << (SIGTRAP - 1))))
		sc_die("SIGTRAP is not pending as set up (shared %lx, w1 %lx)", before_shared, before[1].pending);

	sc_snapshot();

	struct kact now[NSIG_ALL + 1];
	read_actions(now);
	int same = 0;
	for (int s = 1; s <= NSIG_ALL; s++) {
		char what[64];
		if (!memcmp(&now[s], &before_act[s], sizeof now[s])) {
			same++;
			continue;
		}
		snprintf(what, sizeof what, "signal %d handler", s);
		sc_check("main", what, (long)now[s].handler, (long)before_act[s].handler);
		snprintf(what, sizeof what, "signal %d sa_flags", s);
		sc_check("main", what, (long)now[s].flags, (long)before_act[s].flags);
		snprintf(what, sizeof what, "signal %d sa_mask", s);
		sc_check("main", what, (long)now[s].mask, (long)before_act[s].mask);
		snprintf(what, sizeof what, "signal %d restorer", s);
		sc_check("main", what, (long)now[s].restorer, (long)before_act[s].restorer);
	}
	sc_check("main", "dispositions unchanged", same, NSIG_ALL);
	sc_check("main", "shared pending set", (long)proc_set(sc_gettid(), "ShdPnd"), sc_role == SC_CHILD ? 0 : (long)before_shared);
	check_own("main", 0);
	sc_gate_open(&gate);
	/* the workers check themselves; wait for them to be done */
	while (sc_count_tasks() > 1)
		usleep(1000);
	return sc_finish();
}
