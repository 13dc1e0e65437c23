// The doctor's report: for this machine (each libc's probe plus the kernel) or
// for one process (what the remote engine discovers in it), with the list of
// what will degrade. Text for people, the same object as JSON for programs.
import { kernelDegrades, kernelReport, type KernelReport } from './kernel.js';
import { probes, runProbe, type ProbeOutcome } from './probes.js';
import { inspectProcess, type ProcessReport } from './process.js';
import { muslVersionOf } from '../remote/libc-layout.js';

export interface LibcEntry {
  name: string;
  probe: string;
  ok: boolean;
  error?: string;
  libc?: string;
  version?: string;
  descTidOffset?: number | null;
  rseq?: { offset: number; size: number } | null;
  robustListRegistered?: boolean;
  ownerListOffset?: number | null;
  ownerLockOffset?: number | null;
  ldsoLocks?: { bytes: number } | null;
  warnings?: string[];
}

export interface MachineReport {
  kernel: KernelReport;
  libcs: LibcEntry[];
  /** what forkall cannot do fully here, one sentence each (empty: nothing) */
  degrades: string[];
}

export interface PidReport {
  process: ProcessReport;
  kernel: KernelReport;
  degrades: string[];
}

function entry(o: ProbeOutcome): LibcEntry {
  if (!o.ok) return { name: o.spec.name, probe: o.path, ok: false, error: o.error };
  const e = o.result.engine;
  return {
    name: o.spec.name,
    probe: o.path,
    ok: true,
    libc: e.libc,
    version: e.version || (e.libc === 'musl' ? muslVersionOf(o.path) : undefined),
    descTidOffset: e.descTidOffset >= 0 ? e.descTidOffset : null,
    rseq: e.rseqSize ? { offset: e.rseqOffset, size: e.rseqSize } : null,
    robustListRegistered: o.result.robustListRegistered,
    ownerListOffset: e.ownerListOffset >= 0 ? e.ownerListOffset : null,
    ownerLockOffset: e.ownerListOffset >= 0 ? e.ownerListFutexOffset : null,
    ldsoLocks: e.ldsoLocks ? { bytes: e.ldsoLocksBytes } : null,
    warnings: e.warnings,
  };
}

export function machineReport(): MachineReport {
  const outcomes = probes.map(runProbe);
  const firstOk = outcomes.find((o) => o.ok);
  const kernel = kernelReport(firstOk?.ok ? firstOk.result.kernel : undefined);
  const libcs = outcomes.map(entry);
  const degrades = [...kernelDegrades(kernel), ...libcs.flatMap((l) => (l.warnings ?? []).map((w) => `${l.name}: ${w}`))];
  return { kernel, libcs, degrades };
}

export function pidReport(pid: number): PidReport {
  const process = inspectProcess(pid);
  const probe = runProbe(probes[0]!); // the kernel's system-call answers
  const kernel = kernelReport(probe.ok ? probe.result.kernel : undefined);
  return { process, kernel, degrades: [...kernelDegrades(kernel), ...process.warnings] };
}

const show = (v: unknown): string => (v === null || v === undefined ? 'not found' : String(v));

function kernelText(k: KernelReport): string[] {
  const yes = (b: boolean | undefined) => (b === undefined ? 'not probed' : b ? 'yes' : 'no');
  return [
    `kernel ${k.release}`,
    `  rseq ${yes(k.rseq)}, clone3 ${yes(k.clone3)}, clone3 set_tid ${yes(k.clone3SetTid)}, pidfd_getfd ${yes(k.pidfdGetfd)}, userfaultfd ${yes(k.userfaultfd)}` +
      (k.unprivilegedUserfaultfd === null ? '' : ` (vm.unprivileged_userfaultfd=${k.unprivilegedUserfaultfd})`),
    `  Yama ptrace_scope ${k.yamaPtraceScope ?? 'none (no Yama)'}, transparent huge pages ${k.thp ?? 'not available'}`,
  ];
}

function degradeText(d: string[]): string[] {
  return d.length ? ['will degrade:', ...d.map((x) => `  - ${x}`)] : ['will degrade: nothing — every layout rule found what it looks for'];
}

export function machineText(r: MachineReport): string {
  const lines = kernelText(r.kernel);
  for (const l of r.libcs) {
    lines.push('', `${l.name}${l.ok ? ` — ${l.libc} ${l.version ?? '(version not recorded)'}` : ''}`);
    if (!l.ok) {
      lines.push(`  not probed: ${l.error}`);
      continue;
    }
    lines.push(
      `  descriptor TID offset ${show(l.descTidOffset)}`,
      `  rseq ${l.rseq ? `offset ${l.rseq.offset}, size ${l.rseq.size}` : 'not registered by this libc'}`,
      `  robust list ${l.robustListRegistered ? 'registered per thread' : 'registered only once a robust mutex is used'}`,
      ...(l.libc === 'musl' ? [`  owner list offset ${show(l.ownerListOffset)}, lock word at entry ${show(l.ownerLockOffset)}`] : []),
      ...(l.libc === 'glibc' ? [`  ld.so lock region ${l.ldsoLocks ? `_rtld_global, ${l.ldsoLocks.bytes} bytes` : 'not found'}`] : []),
    );
  }
  return [...lines, '', ...degradeText(r.degrades)].join('\n') + '\n';
}

export function pidText(r: PidReport): string {
  const p = r.process;
  const lines = [
    `process ${p.pid}: ${p.libc.kind} ${p.libc.version ?? '(version not recorded)'}, ${p.libc.linkage} (${p.libc.evidence})`,
    `  threads ${p.threads.length}`,
  ];
  for (const t of p.threads)
    lines.push(
      `  tid ${t.tid}: descriptor TID offset ${show(t.descTidOffset)}, rseq ${t.rseq ? `offset ${t.rseq.offset} size ${t.rseq.size}` : 'none'}, robust list ${t.robustList ? 'registered' : 'none'}`,
    );
  if (p.libc.kind === 'musl') lines.push(`  owner list offset ${show(p.ownerListOffset)}, lock word at entry ${p.ownerLockOffset ?? 'not needed now (no listed lock held) or not found'}`);
  if (p.libc.kind === 'glibc') lines.push(`  ld.so lock regions ${p.ldsoLockRegions.length ? p.ldsoLockRegions.join('; ') : 'none found'}`);
  if (p.libc.kind === 'glibc') lines.push(`  libc rwlock regions ${p.libcRwlockRegions.length ? p.libcRwlockRegions.join('; ') : 'none found'}`);
  return [...lines, ...kernelText(r.kernel), '', ...degradeText(r.degrades)].join('\n') + '\n';
}
