// Checks made before touching a target, and the diagnosis of a refused
// attach: each a one-line RemoteError naming the PID and what is missing.
import { readFileSync } from 'node:fs';
import { checkTarget, TargetError } from '../proc/process.js';
import { statusField } from '../proc/tasks.js';
import { RemoteError } from './errors.js';
import { getppid, type SyscallError } from './libc.js';

function comm(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return '?';
  }
}

/** The first thread's tracer, if any (a debugger, strace, another forkall). */
export function tracerOf(pid: number): number {
  return Number(statusField(pid, 'TracerPid') ?? 0);
}

export function preflight(pid: number): void {
  if (pid === getppid() && process.env.FORKALL_ENGINE_PROCESS === '1')
    throw new RemoteError(`PID ${pid} is the forkall command itself`, 'self');
  try {
    checkTarget(pid);
  } catch (e) {
    if (e instanceof TargetError) throw new RemoteError(e.message, e.code);
    throw e;
  }
  const tracer = tracerOf(pid);
  if (tracer) throw new RemoteError(`PID ${pid} is already traced by PID ${tracer} (${comm(tracer)}); a process has one tracer at a time`, 'traced');
}

/** Why PTRACE_SEIZE said EPERM, as precisely as /proc lets us tell. */
export function diagnoseDenied(pid: number, err: SyscallError): RemoteError {
  const tracer = tracerOf(pid);
  if (tracer) return new RemoteError(`PID ${pid} is already traced by PID ${tracer} (${comm(tracer)})`, 'traced');
  const why: string[] = [];
  const uid = statusField(pid, 'Uid')?.split(/\s+/) ?? [];
  const me = process.getuid?.() ?? -1;
  if (me !== 0 && uid.some((u) => Number(u) !== me)) why.push(`it runs as uid ${uid.join('/')} and you are uid ${me} (needs CAP_SYS_PTRACE)`);
  let scope = '';
  try {
    scope = readFileSync('/proc/sys/kernel/yama/ptrace_scope', 'utf8').trim();
  } catch {
    // no Yama LSM
  }
  if (scope === '1') why.push('kernel.yama.ptrace_scope=1 allows tracing only descendants (run as root, or set it to 0)');
  if (scope === '2') why.push('kernel.yama.ptrace_scope=2 allows tracing only with CAP_SYS_PTRACE');
  if (scope === '3') why.push('kernel.yama.ptrace_scope=3 forbids ptrace attach entirely');
  const detail = why.length ? why.join('; ') : 'not dumpable (setuid/setcap binary or prctl(PR_SET_DUMPABLE, 0)), or a security module refused';
  return new RemoteError(`ptrace denied for PID ${pid} (${err.what}): ${detail}`, 'denied');
}
