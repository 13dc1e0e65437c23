// This machine's C libraries as the in-process engine sees them: each probe
// (native/doctor/forkall-probe.c, built for dynamic glibc, static glibc and
// static musl) runs libforkall's load-time discovery under its libc and
// prints what it found (forkall_diagnostics()) with a few kernel answers.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { buildDir, type Flavour } from '../native/paths.js';

export interface ProbeKernel {
  rseq: boolean;
  clone3: boolean;
  clone3SetTid: boolean;
  pidfdGetfd: boolean;
  userfaultfd: boolean;
  userfaultfdErrno: number;
}

export interface ProbeEngine {
  libc: 'glibc' | 'musl';
  version: string;
  descTidOffset: number;
  rseqOffset: number;
  rseqSize: number;
  ownerListOffset: number;
  ownerListFutexOffset: number;
  ldsoLocks: boolean;
  ldsoLocksBytes: number;
  warnings: string[];
}

export interface ProbeResult {
  engine: ProbeEngine;
  robustListRegistered: boolean;
  kernel: ProbeKernel;
}

export interface ProbeSpec {
  /** how the report names it */
  name: string;
  flavour: Flavour;
  binary: string;
}

export const probes: ProbeSpec[] = [
  { name: 'glibc (dynamic)', flavour: 'glibc', binary: 'forkall-probe' },
  { name: 'glibc (static)', flavour: 'glibc', binary: 'forkall-probe-static' },
  { name: 'musl (static)', flavour: 'musl', binary: 'forkall-probe' },
];

export const probePath = (p: ProbeSpec): string => join(buildDir(p.flavour), 'bin', p.binary);

export type ProbeOutcome = { spec: ProbeSpec; path: string } & ({ ok: true; result: ProbeResult } | { ok: false; error: string });

/** Runs one probe; a missing or failing probe is an outcome, not a throw. */
export function runProbe(spec: ProbeSpec): ProbeOutcome {
  const path = probePath(spec);
  if (!existsSync(path))
    return { spec, path, ok: false, error: `probe not built: ${path} (${spec.flavour === 'musl' ? 'install musl-tools and ' : ''}run 'npm run build:native')` };
  const r = spawnSync(path, [], { encoding: 'utf8', timeout: 30_000 });
  if (r.status !== 0) return { spec, path, ok: false, error: `${path} exited with ${r.status ?? r.signal}: ${r.stderr.trim()}` };
  try {
    return { spec, path, ok: true, result: JSON.parse(r.stdout) as ProbeResult };
  } catch {
    return { spec, path, ok: false, error: `${path} printed no JSON: ${r.stdout.slice(0, 200)}` };
  }
}
