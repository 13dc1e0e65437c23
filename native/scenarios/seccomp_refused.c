/* Seccomp filters are per thread: a thread whose filter differs from the
 * caller's makes forkall refuse (ENOTSUP, naming the thread), harmlessly; the
 * thread keeps running. (glibc build only: musl-gcc lacks the kernel headers.) */
#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "scenario.h"

static volatile int ready, go;
static volatile pid_t filtered_tid;

static struct sock_filter allow[] = { BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW) };
static struct sock_fprog prog = { 1, allow };

static void *filtered(void *arg)
{
	prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog))
		sc_die("seccomp: %s", strerror(errno));
	filtered_tid = sc_gettid();
	while (!go)
		usleep(1000);
	sc_log("filtered", "resumed");
	return 0;
}

int main(void)
{
	pthread_t t;
	sc_spawn(filtered, 0, (unsigned long *)&t);
	while (!filtered_tid)
		usleep(1000);
	pid_t p = forkall();
	int err = errno;
	char tid[32];
	snprintf(tid, sizeof tid, "thread %d ", (int)filtered_tid);
	sc_check("main", "forkall refused", p, -1);
	sc_check("main", "errno is ENOTSUP", err, ENOTSUP);
	sc_check("main", "message names the thread", strstr(forkall_strerror(), tid) != 0, 1);
	sc_log("main", "done checking refusals");
	go = 1;
	pthread_join(t, 0);
	sc_snapshot(); /* the filtered thread is gone: now it works */
	return sc_finish();
}
