/* Parking: every thread but the caller enters our signal handler, writes what
 * only it can tell into its slot, and waits there until released. Its signal
 * frame, still on its own stack, is what a resurrected copy returns through. */
#include <signal.h>
#include <limits.h>
#include <pthread.h>
#include "engine.h"

FA_HIDDEN struct fa_sync fa_sync;

/* A plain fork() child has only the thread that forked: none of the threads
 * its copy of `inside` counts exists there, so it must start from zero (or its
 * first forkall would wait forever for them to leave the handler). */
static void fork_child_reset(void)
{
	fa_sync.inside = 0;
	fa_sync.drain_waiting = 0;
}

__attribute__((constructor)) static void park_init(void) { pthread_atfork(0, 0, fork_child_reset); }

/* ---- the lock that serialises forkall callers (futex, no libc) ------------ */
void fa_lock(void)
{
	int c = __sync_val_compare_and_swap(&fa_sync.lock, 0, 1);
	if (c == 0)
		return;
	if (c != 2)
		c = __atomic_exchange_n(&fa_sync.lock, 2, __ATOMIC_ACQUIRE);
	while (c != 0) {
		/* A caller waiting here stays parkable: the futex wait is restarted
		 * after the parking handler returns (SA_RESTART). */
		fa_futex_wait(&fa_sync.lock, 2, 0);
		c = __atomic_exchange_n(&fa_sync.lock, 2, __ATOMIC_ACQUIRE);
	}
}

void fa_unlock(void)
{
	if (__atomic_exchange_n(&fa_sync.lock, 0, __ATOMIC_RELEASE) == 2)
		fa_futex_wake(&fa_sync.lock, 1);
}

/* getpid() of the process being parked, set before the first signal (the
 * handler saves a system call per thread). */
static int park_pid;

/* ---- what a thread records about itself ------------------------------------ */
static void record_thread(struct fa_slot *s, void *uc)
{
	s->uc = uc;
	s->fs_base = s->gs_base = 0;
	fa_sys2(SYS_arch_prctl, ARCH_GET_FS, &s->fs_base);
	fa_sys2(SYS_arch_prctl, ARCH_GET_GS, &s->gs_base);
	s->clear_child_tid = 0;
	fa_sys2(SYS_prctl, FA_PR_GET_TID_ADDRESS, &s->clear_child_tid);
	s->robust_head = 0;
	s->robust_len = 0;
	fa_sys3(SYS_get_robust_list, 0, &s->robust_head, &s->robust_len);
	struct fa_thread_tls tls;
	fa_thread_tls(park_pid, s->fs_base, s->tid, s->robust_head, &tls); /* never reads through a foreign FS */
	s->desc_tid = tls.desc_tid;
	s->owner_list = tls.owner_list;
	s->rseq_registered = tls.rseq_registered;
	s->name[0] = 0;
	fa_sys2(SYS_prctl, FA_PR_GET_NAME, s->name);
	long n = fa_sys3(SYS_sched_getaffinity, 0, sizeof s->affinity, s->affinity);
	s->affinity_len = n > 0 ? (int)n : 0;
	s->sched_ok = fa_sys4(SYS_sched_getattr, 0, &s->sched, sizeof s->sched, 0) == 0;
	s->seccomp_mode = (int)fa_sys1(SYS_prctl, FA_PR_GET_SECCOMP);
}

/* The parking handler. Runs with every signal blocked (sa_mask), uses raw
 * system calls only (errno and libc state of the thread stay untouched). The
 * snapshot generation and slot index travel in the signal's value, so a late
 * or foreign delivery is recognised and ignored.
 * Every run of the handler is counted in fa_sync.inside from before the
 * generation check to after its last write: the forking thread waits for the
 * count to drain (fa_drain_handlers) before it reuses slots for a new
 * generation or unmaps them, so a handler that passed the check late can never
 * write into a slot, or bump `parked`, of a generation it does not belong to. */
static void leave_handler(void)
{
	if (__atomic_sub_fetch(&fa_sync.inside, 1, __ATOMIC_SEQ_CST) == 0 &&
	    __atomic_load_n(&fa_sync.drain_waiting, __ATOMIC_SEQ_CST))
		fa_futex_wake(&fa_sync.inside, 1);
}

static void park_handler(int sig, siginfo_t *si, void *uc)
{
	if (si->si_code != SI_QUEUE)
		return;
	__atomic_add_fetch(&fa_sync.inside, 1, __ATOMIC_SEQ_CST);
	uint64_t v = (uint64_t)(uintptr_t)si->si_value.sival_ptr;
	int gen = (int)(v >> 32);
	unsigned idx = (unsigned)v;
	if (!__atomic_load_n(&fa_sync.parking, __ATOMIC_SEQ_CST) ||
	    __atomic_load_n(&fa_sync.gen, __ATOMIC_SEQ_CST) != gen || idx >= fa_area.cap ||
	    fa_area.slots[idx].tid != fa_gettid()) {
		leave_handler();
		return;
	}
	struct fa_slot *s = &fa_area.slots[idx];
	unsigned long sp;
	__asm__ volatile("mov %%rsp, %0" : "=r"(sp));
	record_thread(s, uc);
	fa_note_frame(s, uc, sp);
	__atomic_store_n(&s->state, FA_PARKED, __ATOMIC_RELEASE);
	int c = __atomic_add_fetch(&fa_sync.parked, 1, __ATOMIC_SEQ_CST);
	if (c == __atomic_load_n(&fa_sync.target, __ATOMIC_SEQ_CST))
		fa_futex_wake(&fa_sync.parked, 1);
	int r;
	while ((int)((r = __atomic_load_n(&fa_sync.released, __ATOMIC_ACQUIRE)) - gen) < 0)
		fa_futex_wait(&fa_sync.released, r, 0);
	leave_handler();
}

/* Waits until no thread runs the parking handler (released ones leave at once;
 * a late delivery sees the generation has ended and returns). 0, or -ETIMEDOUT
 * after timeout_ms: a thread stopped (or traced) inside the handler. */
int fa_drain_handlers(int timeout_ms)
{
	int v;
	long deadline = 0;
	while ((v = __atomic_load_n(&fa_sync.inside, __ATOMIC_SEQ_CST)) != 0) {
		long now = fa_now_ms();
		if (!deadline)
			deadline = now + timeout_ms;
		else if (now >= deadline)
			return fa_fail(110, "%d thread(s) still inside the parking handler of an earlier snapshot after %d ms "
					    "(stopped or traced there?)",
				       v, timeout_ms);
		__atomic_store_n(&fa_sync.drain_waiting, 1, __ATOMIC_SEQ_CST);
		struct { long s, ns; } ts = { 0, 10000000 };
		fa_futex_wait(&fa_sync.inside, v, &ts);
	}
	__atomic_store_n(&fa_sync.drain_waiting, 0, __ATOMIC_SEQ_CST);
	return 0;
}

/* ---- the forking thread's side ---------------------------------------------- */
static int install_handler(struct fa_op *op)
{
	struct fa_ksigaction sa = {
		.handler = (void *)park_handler,
		.flags = FA_SA_SIGINFO | FA_SA_RESTART | FA_SA_ONSTACK | FA_SA_RESTORER,
		.restorer = fa_restorer,
		.mask = ~0ull,
	};
	return (int)fa_sys4(SYS_rt_sigaction, op->sig, &sa, &op->old_action, 8);
}

static void restore_handler(struct fa_op *op, int discard_pending)
{
	if (discard_pending) {
		/* Setting SIG_IGN drops instances still pending on threads that never
		 * took them (they block the signal); otherwise the program's own
		 * disposition (often "terminate") would act on them later. */
		struct fa_ksigaction ign = { .handler = SIG_IGN, .flags = FA_SA_RESTORER, .restorer = fa_restorer };
		fa_sys4(SYS_rt_sigaction, op->sig, &ign, 0, 8);
	}
	fa_sys4(SYS_rt_sigaction, op->sig, &op->old_action, 0, 8);
}

static int skipped(const struct fa_op *op, int tid)
{
	for (unsigned i = 0; i < op->n_skip; i++)
		if (op->skip[i] == tid)
			return 1;
	return 0;
}

static long send_park(const struct fa_op *op, int tid, unsigned idx)
{
	siginfo_t si;
	for (unsigned i = 0; i < sizeof si; i++)
		((char *)&si)[i] = 0;
	si.si_signo = op->sig;
	si.si_code = SI_QUEUE;
	si.si_pid = op->pid;
	si.si_uid = op->uid;
	si.si_value.sival_ptr = (void *)(uintptr_t)((uint64_t)(unsigned)fa_sync.gen << 32 | idx);
	return fa_sys4(SYS_rt_tgsigqueueinfo, op->pid, tid, op->sig, &si);
}

/* Queues the parking signal to slot s. Only ESRCH means the thread is gone;
 * EAGAIN means the signal queue is full (RLIMIT_SIGPENDING counts every signal
 * queued for this user): the slot stays FA_UNSENT and is signalled again once
 * parked threads have taken theirs. Anything else is an error naming the thread. */
static int signal_slot(struct fa_op *op, struct fa_slot *s, unsigned idx)
{
	/* SIGNALLED before the signal is queued: the thread may park (and write
	 * PARKED) before rt_tgsigqueueinfo has even returned here. */
	if (s->state == FA_UNSENT) {
		op->nunsent--;
		__atomic_store_n(&s->state, FA_SIGNALLED, __ATOMIC_SEQ_CST);
	}
	long r = send_park(op, s->tid, idx);
	if (r == 0)
		return 0;
	/* not queued: no handler can touch the slot */
	if (r == -3 /* ESRCH: exited between the scan and the signal */) {
		s->state = FA_DEAD;
		op->ndead++;
		return 0;
	}
	if (r == -11 /* EAGAIN */) {
		s->state = FA_UNSENT;
		op->nunsent++;
		return 0;
	}
	s->state = FA_DEAD; /* not counted: the snapshot fails */
	return fa_fail((int)-r, "cannot send the parking signal %d to thread %d (rt_tgsigqueueinfo: errno %ld)", op->sig,
		       s->tid, -r);
}

/* Signals again the threads whose signal did not fit in the queue. */
static int resend_unsent(struct fa_op *op)
{
	int err = 0;
	for (unsigned i = 0; i < op->nslots && op->nunsent && err == 0; i++)
		if (__atomic_load_n(&fa_area.slots[i].state, __ATOMIC_ACQUIRE) == FA_UNSENT)
			err = signal_slot(op, &fa_area.slots[i], i);
	return err;
}

/* One scan of /proc/self/task: signals every thread not yet known. Returns the
 * number of new threads, or a negative value: FA_E_GROW when the area is too
 * small, else -errno. */
static int signal_new_threads(struct fa_op *op, int dirfd)
{
	unsigned count;
	long r = fa_task_dir_read(dirfd, fa_area.tids, fa_area.cap, &count);
	if (r < 0)
		return (int)r;
	op->seen = count;
	if (count > fa_area.cap)
		return FA_E_GROW;
	int fresh = 0;
	for (unsigned i = 0; i < count; i++) {
		int tid = fa_area.tids[i];
		if (tid == op->self_tid || fa_slot_of(tid) || skipped(op, tid))
			continue;
		if (op->nslots >= fa_area.cap)
			return FA_E_GROW;
		unsigned idx = op->nslots++;
		struct fa_slot *s = &fa_area.slots[idx];
		int kept = fa_pages_kept(s, tid, idx); /* the slot still holds its last frame */
		s->tid = tid;
		s->new_tid = 0;
		s->state = FA_SIGNALLED;
		fa_table_add(tid, idx);
		fresh++;
		/* A leader that called pthread_exit stays listed as a zombie. */
		if (tid == op->pid && fa_task_state(tid) == 'Z') {
			s->state = FA_DEAD;
			op->ndead++;
			continue;
		}
		if (kept)
			fa_pages_prepare_thread(s); /* listed just now: its stack is still its own */
		int err = signal_slot(op, s, idx);
		if (err < 0)
			return err;
	}
	return fresh;
}

/* Marks signalled threads that have exited (or become zombies) as dead. */
static void reap_dead(struct fa_op *op)
{
	for (unsigned i = 0; i < op->nslots; i++) {
		struct fa_slot *s = &fa_area.slots[i];
		int was = __atomic_load_n(&s->state, __ATOMIC_ACQUIRE);
		if (was != FA_SIGNALLED && was != FA_UNSENT)
			continue;
		char st = fa_task_state(s->tid);
		if (fa_sys3(SYS_tgkill, op->pid, s->tid, 0) < 0 || st == 'Z' || st == 'X' || st == 0) {
			if (__sync_bool_compare_and_swap(&s->state, was, FA_DEAD)) {
				op->ndead++;
				if (was == FA_UNSENT)
					op->nunsent--;
			}
		}
	}
}

static struct fa_slot *first_in_state(const struct fa_op *op, int state)
{
	for (unsigned i = 0; i < op->nslots; i++)
		if (__atomic_load_n(&fa_area.slots[i].state, __ATOMIC_ACQUIRE) == state)
			return &fa_area.slots[i];
	return 0;
}

static int park_timeout_error(struct fa_op *op)
{
	struct fa_slot *s = first_in_state(op, FA_SIGNALLED), *unsent = first_in_state(op, FA_UNSENT);
	char comm[32];
	if (!s && unsent) {
		/* every signal that could be queued was taken: the queue is held by others */
		s = unsent;
		fa_task_comm(s->tid, comm, sizeof comm);
		return fa_fail(11, "thread %d (%s) could not be parked within %d ms: the kernel refused to queue the "
				   "parking signal %d (EAGAIN: the user's queued signals reached RLIMIT_SIGPENDING)",
			       s->tid, comm, op->timeout_ms, op->sig);
	}
	/* name a thread that blocks the signal if there is one: it is the cause,
	 * and callers (forkall run) act on that cause; others may just be late */
	for (unsigned i = 0; s && i < op->nslots; i++)
		if (__atomic_load_n(&fa_area.slots[i].state, __ATOMIC_ACQUIRE) == FA_SIGNALLED &&
		    fa_task_blocks_signal(fa_area.slots[i].tid, op->sig) == 1) {
			s = &fa_area.slots[i];
			break;
		}
	int tid = s ? s->tid : 0;
	fa_task_comm(tid, comm, sizeof comm);
	int blocks = fa_task_blocks_signal(tid, op->sig);
	char st = fa_task_state(tid);
	if (blocks == 1)
		return fa_fail(110, "thread %d (%s) did not park within %d ms: it blocks the parking signal %d "
				    "(choose another with forkall_options.signal, or skip the thread)",
			       tid, comm, op->timeout_ms, op->sig);
	if (st == 'T' || st == 't')
		return fa_fail(110, "thread %d (%s) did not park within %d ms: it is stopped (state %c)", tid, comm,
			       op->timeout_ms, st);
	if (st == 'D')
		return fa_fail(110, "thread %d (%s) did not park within %d ms: it is in uninterruptible sleep (state D)",
			       tid, comm, op->timeout_ms);
	return fa_fail(110, "thread %d (%s) did not park within %d ms (state %c)", tid, comm, op->timeout_ms,
		       st ? st : '?');
}

/* 1 if some thread we signalled has not parked and blocks the signal now. */
static int someone_blocks(const struct fa_op *op)
{
	for (unsigned i = 0; i < op->nslots; i++) {
		const struct fa_slot *s = &fa_area.slots[i];
		if (__atomic_load_n(&s->state, __ATOMIC_ACQUIRE) == FA_SIGNALLED && fa_task_blocks_signal(s->tid, op->sig) == 1)
			return 1;
	}
	return 0;
}

/* Waits until every signalled, living thread has parked. Sleeps on the parked
 * counter; when a short wait expires, drops threads that exited (an exiting
 * thread blocks signals and never parks) and returns FA_E_RETRY if a thread
 * blocks the signal: it may be waiting, signals blocked, for something a parked
 * thread holds (musl's thread exit waits so for the thread-list lock), so the
 * caller lets everyone go and tries again. -ETIMEDOUT at the deadline. */
static int wait_parked(struct fa_op *op, long *deadline)
{
	long slice_ns = 1000000; /* 1 ms, doubling up to 50 ms */
	for (;;) {
		if (op->nunsent) {
			unsigned before = op->nunsent;
			int err = resend_unsent(op);
			if (err < 0)
				return err;
			/* The timeout is for a thread that does not park once signalled:
			 * a signal that could be queued only now starts its own. */
			if (op->nunsent < before)
				*deadline = fa_now_ms() + op->timeout_ms;
		}
		int want = (int)(op->nslots - op->ndead);
		int c = __atomic_load_n(&fa_sync.parked, __ATOMIC_SEQ_CST);
		if (c >= want)
			return 0;
		/* With signals still to send, the next thread that parks has freed a
		 * queue entry: be woken by it, not only by the last one. */
		__atomic_store_n(&fa_sync.target, op->nunsent ? c + 1 : want, __ATOMIC_SEQ_CST);
		if (__atomic_load_n(&fa_sync.parked, __ATOMIC_SEQ_CST) != c)
			continue;
		long left_ms = *deadline - fa_now_ms();
		long slice = op->nunsent ? 1000000 : slice_ns;
		long ns = left_ms < 1 ? 1000000 : (left_ms * 1000000 < slice ? left_ms * 1000000 : slice);
		struct { long s, ns; } ts = { 0, ns };
		long r = fa_futex_wait(&fa_sync.parked, c, &ts);
		if (r == -110) {
			reap_dead(op);
			if (fa_now_ms() >= *deadline)
				return park_timeout_error(op);
			if (__atomic_load_n(&fa_sync.parked, __ATOMIC_SEQ_CST) < (int)(op->nslots - op->ndead) && someone_blocks(op))
				return FA_E_RETRY; /* release everyone, retry */
			if (slice_ns < 50000000)
				slice_ns *= 2;
		}
	}
}

static int check_consistent(struct fa_op *op)
{
	int self_mode = (int)fa_sys1(SYS_prctl, FA_PR_GET_SECCOMP);
	long self_filters = -2;
	for (unsigned i = 0; i < op->nslots; i++) {
		struct fa_slot *s = &fa_area.slots[i];
		if (s->state != FA_PARKED)
			continue;
		if (s->seccomp_mode != self_mode)
			return fa_fail(95, "thread %d has seccomp mode %d but the calling thread %d has mode %d: "
					   "seccomp filters are per thread and cannot be copied",
				       s->tid, s->seccomp_mode, op->self_tid, self_mode);
		if (self_mode == 2) {
			if (self_filters == -2)
				self_filters = fa_task_status_number(op->self_tid, "Seccomp_filters:");
			long f = fa_task_status_number(s->tid, "Seccomp_filters:");
			if (f != self_filters)
				return fa_fail(95, "thread %d has %ld seccomp filters but the calling thread %d has %ld: "
						   "seccomp filters are per thread and cannot be copied",
					       s->tid, f, op->self_tid, self_filters);
		}
	}
	unsigned long features = 0;
	if (fa_sys2(SYS_arch_prctl, FA_ARCH_SHSTK_STATUS, &features) == 0 && (features & FA_ARCH_SHSTK_SHSTK))
		return fa_fail(95, "CET shadow stacks are enabled in this process: forkall cannot recreate them");
	return 0;
}

/* The forking thread's own state, restored in the child after the raw fork. */
void fa_record_self(struct fa_op *op)
{
	unsigned long fs = 0;
	op->self_clear_child_tid = 0;
	fa_sys2(SYS_prctl, FA_PR_GET_TID_ADDRESS, &op->self_clear_child_tid);
	fa_sys2(SYS_arch_prctl, ARCH_GET_FS, &fs);
	op->self_robust_head = 0;
	op->self_robust_len = 0;
	fa_sys3(SYS_get_robust_list, 0, &op->self_robust_head, &op->self_robust_len);
	struct fa_thread_tls tls;
	fa_thread_tls(op->pid, fs, op->self_tid, op->self_robust_head, &tls);
	op->self_desc_tid = tls.desc_tid;
	op->self_owner_list = tls.owner_list;
	op->self_fs = fs;
	op->self_rseq_registered = tls.rseq_registered;
	long n = fa_sys3(SYS_sched_getaffinity, 0, sizeof op->self_affinity, op->self_affinity);
	op->self_affinity_len = n > 0 ? (int)n : 0;
	for (unsigned i = 0; i < sizeof op->self_sched; i++)
		((char *)&op->self_sched)[i] = 0;
	fa_sys4(SYS_sched_getattr, 0, &op->self_sched, sizeof op->self_sched, 0);
	op->self_name[0] = 0;
	fa_sys2(SYS_prctl, FA_PR_GET_NAME, op->self_name);
}

static int same_bytes(const void *a, const void *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (((const unsigned char *)a)[i] != ((const unsigned char *)b)[i])
			return 0;
	return 1;
}

/* A new thread inherits the forking thread's affinity, scheduling and name:
 * the child only needs to change what differs. */
static void note_inherited(struct fa_op *op)
{
	for (unsigned i = 0; i < op->nslots; i++) {
		struct fa_slot *s = &fa_area.slots[i];
		if (s->state != FA_PARKED)
			continue;
		s->affinity_inherited = s->affinity_len == op->self_affinity_len &&
					same_bytes(s->affinity, op->self_affinity, (size_t)s->affinity_len);
		s->name_inherited = same_bytes(s->name, op->self_name, sizeof s->name);
		s->sched_inherited = s->sched.policy == op->self_sched.policy && s->sched.nice == op->self_sched.nice &&
				     s->sched.priority == op->self_sched.priority && s->sched.flags == op->self_sched.flags;
	}
}

static void sleep_ms(long ms)
{
	struct { long s, ns; } ts = { 0, ms * 1000000 };
	fa_sys2(SYS_nanosleep, &ts, 0);
}

/* Parks every other thread. On success all of them wait in park_handler; on
 * failure every parked thread has been released and the handler restored. */
int fa_park_all(struct fa_op *op)
{
	int dirfd = -1, err = 0, first = 1;
	long deadline = fa_now_ms() + op->timeout_ms, backoff_ms = 1;
	for (;;) {
		/* no handler of an earlier generation may touch the slots now */
		if ((err = fa_drain_handlers(op->timeout_ms)) < 0)
			break;
		if (first) {
			fa_pages_prepare(op); /* the last forkall's slots are still intact */
			first = 0;
		}
		if ((err = fa_area_reserve(1)) < 0)
			return fa_fail(-err, "cannot map the engine's memory");
		if (dirfd < 0 && (dirfd = (int)fa_task_dir_open()) < 0)
			return fa_fail(-dirfd, "cannot open /proc/self/task (is /proc mounted?)");
		if ((err = install_handler(op)) < 0) {
			fa_sys1(SYS_close, dirfd);
			return fa_fail(-err, "cannot install a handler for signal %d", op->sig);
		}
		fa_table_clear(); /* the last snapshot's entries, if it left any */
		op->nslots = op->ndead = op->nunsent = 0;
		park_pid = op->pid;
		__atomic_store_n(&fa_sync.parked, 0, __ATOMIC_SEQ_CST);
		__atomic_add_fetch(&fa_sync.gen, 1, __ATOMIC_SEQ_CST);
		__atomic_store_n(&fa_sync.parking, 1, __ATOMIC_SEQ_CST);
		int round = 0, fresh;
		while ((fresh = signal_new_threads(op, dirfd)) > 0 || (fresh == 0 && round == 0)) {
			if (round++ == 0)
				fa_stamp(FA_T_SIGNALLED); /* the first scan's threads are signalled */
			if ((err = wait_parked(op, &deadline)) < 0)
				break;
		}
		if (fresh < 0 && err == 0)
			err = fresh;
		if (err == 0)
			err = check_consistent(op);
		if (err == 0) {
			note_inherited(op);
			op->need_gate = fa_owners_need_gate(op);
			fa_sys1(SYS_close, dirfd);
			return 0;
		}
		fa_release(op);
		restore_handler(op, 1);
		if (err == FA_E_RETRY) {
			/* a thread blocks the signal for now: let it make progress */
			sleep_ms(backoff_ms);
			if (backoff_ms < 16)
				backoff_ms *= 2;
			continue;
		}
		if (err != FA_E_GROW)
			break;
		/* The process has more threads than the area holds: grow it, retry. */
		unsigned want = (op->seen > op->nslots ? op->seen : op->nslots) * 2 + 64;
		/* growing unmaps the slots late handlers might write */
		if ((err = fa_drain_handlers(op->timeout_ms)) < 0)
			break;
		if ((err = fa_area_reserve(want)) < 0) {
			fa_fail(-err, "cannot map memory for %u threads", want);
			break;
		}
	}
	fa_sys1(SYS_close, dirfd);
	return err;
}

/* Lets every thread parked for this generation return from its handler. */
void fa_release(struct fa_op *op)
{
	__atomic_store_n(&fa_sync.parking, 0, __ATOMIC_SEQ_CST);
	__atomic_store_n(&fa_sync.released, fa_sync.gen, __ATOMIC_SEQ_CST);
	fa_futex_wake(&fa_sync.released, INT_MAX);
	fa_table_done();
}

FA_HIDDEN void fa_restore_handler(struct fa_op *op) { restore_handler(op, 0); }
