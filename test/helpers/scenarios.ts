// The fidelity scenarios (native/scenarios/*.c) and how each is run. Every
// engine's spec iterates over this list, so a new engine is checked by the same
// programs and the same assertions.
import type { Flavour } from '../../src/native/paths.js';

export interface ScenarioSpec {
  name: string;
  /** libc builds it runs on */
  flavours: Flavour[];
  /** the scenario writes no clone transcript of its own (none so far) */
  noChild?: boolean;
  /** per-run timeout */
  timeoutMs?: number;
  /** checks TIDs / owner-recording locks: also run unprivileged in exact mode */
  exactFocus?: boolean;
  /** makes many clones of its own: skip in the slower exact-TID pass */
  heavy?: boolean;
  /**
   * The program calls forkall() itself to check something only the in-process
   * engine has (its callers, its return value, its refusals): under an engine
   * that clones from outside (remote, agent) those checks would exercise the
   * in-process engine, not the engine under test. The reason is printed as the
   * skip reason by those engines' specs.
   */
  inProcessOnly?: string;
}

const both: Flavour[] = ['glibc', 'musl'];

export const scenarios: ScenarioSpec[] = [
  { name: 'cond_wait', flavours: both },
  { name: 'mutex_held', flavours: both },
  { name: 'recursive_mutex_held', flavours: both, exactFocus: true },
  { name: 'robust_mutex_held', flavours: both, exactFocus: true },
  { name: 'owner_locks', flavours: both, exactFocus: true },
  { name: 'locale_lock', flavours: both, exactFocus: true },
  { name: 'file_lock_owner', flavours: both, exactFocus: true },
  { name: 'exact_tids', flavours: both, exactFocus: true },
  { name: 'clone_signals', flavours: both, exactFocus: true, inProcessOnly: 'checks what a caller can do with the PID forkall() returned (signals, exit status, reaping); the program makes that clone with forkall() itself' },
  { name: 'pipe_read', flavours: both },
  { name: 'accept', flavours: both },
  { name: 'poll_wait', flavours: both },
  { name: 'epoll_wait', flavours: both },
  { name: 'nanosleep', flavours: both },
  { name: 'sigwait', flavours: both },
  { name: 'sigsuspend', flavours: both },
  { name: 'avx_registers', flavours: both },
  { name: 'gpr_state', flavours: both },
  { name: 'malloc_churn', flavours: both },
  { name: 'stdio_lock', flavours: both },
  { name: 'tls_and_keys', flavours: both },
  { name: 'detached', flavours: both },
  { name: 'join_values', flavours: both },
  { name: 'sigaltstack_handler', flavours: both },
  { name: 'small_stack', flavours: both },
  { name: 'thread_names', flavours: both },
  { name: 'affinity', flavours: both },
  { name: 'rseq_cpu', flavours: both },
  { name: 'signal_state', flavours: both },
  { name: 'rseq_cs', flavours: both },
  { name: 'sched_batch_nice', flavours: both },
  { name: 'create_in_child', flavours: both },
  { name: 'from_worker', flavours: both },
  { name: 'nested', flavours: both, inProcessOnly: 'after the snapshot each process calls forkall() again; that nested clone is made by the in-process engine whatever engine made the first' },
  { name: 'exit_from_thread', flavours: both },
  { name: 'pthread_kill_child', flavours: both },
  { name: 'unparkable', flavours: both, inProcessOnly: 'checks forkall_ex() options (park timeout, skip_tids) on a thread that blocks the parking signal; an outside engine stops threads with ptrace or its own parking, which no thread can block' },
  { name: 'seccomp_refused', flavours: ['glibc'], inProcessOnly: 'checks that forkall() called by the program refuses a thread with its own seccomp filter; an outside engine\'s own refusal is not what this program calls' },
  { name: 'concurrent_callers', flavours: both, heavy: true, inProcessOnly: 'two threads of the program call forkall() at the same moment; an outside engine has no callers inside the program' },
  { name: 'thread_churn', flavours: both, heavy: true },
  { name: 'thousand_threads', flavours: both, timeoutMs: 120_000 },
  { name: 'thousand_forkalls', flavours: both, timeoutMs: 180_000, heavy: true, inProcessOnly: 'the program calls forkall() 1,000 times in a loop and checks its own fds and mappings' },
  { name: 'cxx_threads', flavours: ['glibc'] },
  // event objects: private copies with the remote engine and the agent, shared with the in-process call
  { name: 'private_eventfd', flavours: both },
  { name: 'private_epoll', flavours: both },
  { name: 'private_timerfd', flavours: both },
  { name: 'private_signalfd', flavours: both },
  { name: 'private_inotify', flavours: both },
  { name: 'private_pipe', flavours: both },
  { name: 'private_tcp', flavours: both },
];
