// Real programs (python3, node, java, memcached) started for the remote
// engine's acceptance tests, and what can be read about them from outside.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';

export const have = (cmd: string): boolean => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;

/** Spawns a program and resolves once it printed `marker` on stdout. */
export function startUntil(cmd: string, args: string[], env: NodeJS.ProcessEnv, marker = 'READY', timeoutMs = 60_000): Promise<ChildProcess> {
  const child = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${cmd} did not print ${marker} within ${timeoutMs} ms; stderr: ${err}`)), timeoutMs);
    child.stderr!.on('data', (d) => (err += d));
    child.stdout!.on('data', (d) => {
      out += d;
      if (out.includes(marker)) {
        clearTimeout(timer);
        resolve(child);
      }
    });
    child.on('exit', (code) => reject(new Error(`${cmd} exited (${code}) before ${marker}; stderr: ${err}`)));
  });
}

export const taskCount = (pid: number): number => readdirSync(`/proc/${pid}/task`).length;

/** Lines of $OUT/<pid>.log, grouped by their first word: name -> highest counter seen. */
export function progress(dir: string, pid: number): Map<string, number> {
  const f = `${dir}/${pid}.log`;
  const m = new Map<string, number>();
  if (!existsSync(f)) return m;
  for (const line of readFileSync(f, 'utf8').split('\n')) {
    const [name, n] = line.split(' ');
    if (name && n) m.set(name, Math.max(m.get(name) ?? 0, Number(n)));
  }
  return m;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Every thread of `pid` that is stopped or traced (should be none once forkall is done). */
export function heldThreads(pid: number): string[] {
  const held: string[] = [];
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    let status: string;
    try {
      status = readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8');
    } catch {
      continue;
    }
    const state = /^State:\s*(\S)/m.exec(status)?.[1];
    const tracer = Number(/^TracerPid:\s*(\d+)/m.exec(status)?.[1]);
    if (state === 't' || state === 'T' || tracer) held.push(`${tid} state=${state} tracer=${tracer}`);
  }
  return held;
}

/** Children of this test process (from /proc), e.g. clones made of a target we spawned. */
export function ourChildren(): number[] {
  const out: number[] = [];
  for (const tid of readdirSync(`/proc/${process.pid}/task`)) {
    try {
      out.push(...readFileSync(`/proc/${process.pid}/task/${tid}/children`, 'utf8').split(' ').filter(Boolean).map(Number));
    } catch {
      // thread gone
    }
  }
  return out;
}
