// Runs one scenario program with one engine and collects what the fidelity
// assertions need: exit status, stderr, both transcripts, stray processes.
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { buildDir, type Flavour } from '../../src/native/paths.js';
import { readTranscript, type Transcript } from './transcript.js';
import { strayProcesses, zombieChildren } from './strays.js';

/** An engine that clones a running process from outside (remote, agent). */
export interface ExternalEngine {
  /** Clones process `pid` (stopped by the scenario in read(0)); resolves to the clone's PID. */
  clone(pid: number): Promise<number>;
  /** Resolves with the clone's exit code once it ended (the clone is not our child). */
  waitClone(clonePid: number): Promise<number | null>;
}

export interface RunOptions {
  flavour: Flavour;
  /**
   * inprocess: sc_snapshot() calls forkall_ex(); external: `external` clones
   * the program from outside at its snapshot point; uncloned: the program
   * reaches its snapshot point (as for an outside engine) and is let go with
   * no clone made — the original's own transcript, to compare clones with.
   */
  engine?: 'inprocess' | 'external' | 'uncloned';
  external?: ExternalEngine;
  exact?: boolean;
  /** run as this uid/gid (through setpriv) — for the unprivileged exact-TID pass */
  asUser?: { uid: number; gid: number };
  timeoutMs?: number;
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
  parent?: Transcript;
  child?: Transcript;
  strays: number[];
  /** zombie children of the test process after the run */
  zombies: number[];
  cloneCode?: number | null;
}

export function scenarioPath(name: string, flavour: Flavour): string {
  return join(buildDir(flavour), 'scenarios', name);
}

export function scenarioExists(name: string, flavour: Flavour): boolean {
  return existsSync(scenarioPath(name, flavour));
}

/** A copy of the program (and libforkall) that an unprivileged user can run. */
function publicCopy(bin: string, flavour: Flavour, dir: string): string {
  const out = join(dir, basename(bin));
  copyFileSync(bin, out);
  chmodSync(out, 0o755);
  const lib = join(buildDir(flavour), 'libforkall.so');
  if (flavour === 'glibc' && existsSync(lib)) {
    // under the soname the program records (libforkall.so.0), and the link name
    for (const name of ['libforkall.so.0', 'libforkall.so']) {
      copyFileSync(lib, join(dir, name));
      chmodSync(join(dir, name), 0o755);
    }
  }
  return out;
}

export async function runScenario(name: string, opts: RunOptions): Promise<RunResult> {
  const out = mkdtempSync(join(tmpdir(), `forkall-${name}-`));
  chmodSync(out, 0o777);
  const tag = randomUUID();
  let bin = scenarioPath(name, opts.flavour);
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    FORKALL_SCENARIO_OUT: out,
    FORKALL_SCENARIO_TAG: tag,
    FORKALL_SCENARIO_ENGINE: opts.engine === 'uncloned' ? 'external' : (opts.engine ?? 'inprocess'),
    FORKALL_SCENARIO_EXACT: opts.exact ? '1' : '0',
    FORKALL_SCENARIO_UNCLONED: opts.engine === 'uncloned' ? '1' : '0',
  };
  let cmd = bin;
  let args: string[] = [];
  if (opts.asUser) {
    bin = publicCopy(bin, opts.flavour, out);
    env.LD_LIBRARY_PATH = out;
    cmd = 'setpriv';
    args = [`--reuid=${opts.asUser.uid}`, `--regid=${opts.asUser.gid}`, '--clear-groups', '--inh-caps=-all', bin];
  }
  const child = spawn(cmd, args, { env, stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  let stdout = '';
  child.stderr.on('data', (d) => (stderr += d));
  let cloneDone: Promise<number | null> | undefined;
  child.stdout.on('data', (d) => {
    stdout += d;
    const m = /READY (\d+)/.exec(stdout);
    if (m && opts.engine === 'uncloned' && !cloneDone) {
      cloneDone = Promise.resolve(undefined as unknown as null);
      child.stdin.write('g'); // one process, one byte: it carries on as the original
    }
    if (m && opts.engine === 'external' && opts.external && !cloneDone) {
      const ext = opts.external;
      cloneDone = ext.clone(Number(m[1])).then((clonePid) => {
        child.stdin.write('gg');
        return ext.waitClone(clonePid);
      });
    }
  });
  if (opts.engine !== 'external' && opts.engine !== 'uncloned') child.stdin.end();
  const timeout = opts.timeoutMs ?? 60_000;
  const exited = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), timeout);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal });
    });
  });
  const cloneCode = cloneDone && opts.engine !== 'uncloned' ? await cloneDone : undefined;
  const strays = await strayProcesses(tag);
  for (const pid of strays) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  const result: RunResult = {
    ...exited,
    stderr,
    parent: readTranscript(join(out, 'parent.log')),
    child: readTranscript(join(out, 'child.log')),
    strays,
    zombies: zombieChildren(),
    cloneCode,
  };
  rmSync(out, { recursive: true, force: true });
  return result;
}
