// Kernel features forkall uses or plans to use, and the settings that limit
// it, read from /proc and /sys (and from a probe's system-call answers).
import { readFileSync } from 'node:fs';
import { release } from 'node:os';
import type { ProbeKernel } from './probes.js';

export interface KernelReport {
  release: string;
  /** from a probe: each system call answers (is present) */
  rseq?: boolean;
  clone3?: boolean;
  clone3SetTid?: boolean;
  pidfdGetfd?: boolean;
  userfaultfd?: boolean;
  /** vm.unprivileged_userfaultfd (null: not there) */
  unprivilegedUserfaultfd: number | null;
  /** kernel.yama.ptrace_scope (null: no Yama) */
  yamaPtraceScope: number | null;
  /** the selected transparent_hugepage mode: always, madvise or never (null: no THP) */
  thp: string | null;
}

function readNumber(path: string): number | null {
  try {
    const n = Number(readFileSync(path, 'utf8').trim());
    return Number.isInteger(n) ? n : null;
  } catch {
    return null;
  }
}

function selected(path: string): string | null {
  try {
    return /\[(\w+)\]/.exec(readFileSync(path, 'utf8'))?.[1] ?? null;
  } catch {
    return null;
  }
}

export function kernelReport(probe?: ProbeKernel): KernelReport {
  return {
    release: release(),
    ...(probe ? { rseq: probe.rseq, clone3: probe.clone3, clone3SetTid: probe.clone3SetTid, pidfdGetfd: probe.pidfdGetfd, userfaultfd: probe.userfaultfd } : {}),
    unprivilegedUserfaultfd: readNumber('/proc/sys/vm/unprivileged_userfaultfd'),
    yamaPtraceScope: readNumber('/proc/sys/kernel/yama/ptrace_scope'),
    thp: selected('/sys/kernel/mm/transparent_hugepage/enabled'),
  };
}

/** What the kernel's answers cost forkall, one sentence each. */
export function kernelDegrades(k: KernelReport): string[] {
  const out: string[] = [];
  if (k.clone3SetTid === false) out.push('clone3 with set_tid is missing (Linux < 5.5): exact-TID clones (FORKALL_EXACT_TIDS, --exact-tids) cannot be made');
  if (k.rseq === false) out.push('rseq is missing (Linux < 4.18): nothing to re-register; sched_getcpu() falls back to the system call');
  if (k.yamaPtraceScope === 1) out.push('kernel.yama.ptrace_scope=1: the remote engine (forkall clone -p) can trace only its own descendants unless run as root');
  if (k.yamaPtraceScope === 2) out.push('kernel.yama.ptrace_scope=2: the remote engine needs CAP_SYS_PTRACE (root)');
  if (k.yamaPtraceScope === 3) out.push('kernel.yama.ptrace_scope=3: ptrace attach is forbidden; the remote engine cannot work (the in-process engine and the agent still do)');
  return out;
}
