// The trust tests' target (test/fixtures/trust_target.c): built once per run,
// started, and watched from outside through /proc/PID/mem, where its workers
// keep their round counters and what they found wrong.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, closeSync, existsSync, mkdtempSync, openSync, readFileSync, readSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../../src/native/paths.js';
import { sleep } from './programs.js';

let built: string | undefined;

/** Compiles the fixture (gcc) into a temporary directory; its path. */
export function trustTargetBinary(): string {
  if (built && existsSync(built)) return built;
  const dir = mkdtempSync(join(tmpdir(), 'forkall-trust-'));
  const out = join(dir, 'trust_target');
  const r = spawnSync('gcc', ['-O1', '-pthread', '-o', out, join(packageRoot, 'test', 'fixtures', 'trust_target.c')], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`building trust_target failed: ${r.stderr}`);
  chmodSync(dir, 0o755); // runnable by nobody too (the tests that run it through setpriv)
  built = out;
  return out;
}

export interface TrustTarget {
  child: ChildProcess;
  pid: number;
  counters: bigint;
  bad: bigint;
  workers: number;
}

/** Starts the target (optionally through `prefix`, e.g. setpriv) and waits for its READY line. */
export function startTrustTarget(mode = '', prefix: string[] = [], timeoutMs = 60_000): Promise<TrustTarget> {
  const bin = trustTargetBinary();
  const argv = [...prefix, bin, ...(mode ? [mode] : [])];
  const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`trust_target did not start within ${timeoutMs} ms: ${err}`)), timeoutMs);
    child.stderr!.on('data', (d) => (err += d));
    child.stdout!.on('data', (d) => {
      out += d;
      const m = /READY (0x[0-9a-f]+) (0x[0-9a-f]+) (\d+)/.exec(out);
      if (!m) return;
      clearTimeout(timer);
      // through setpriv the program is exec'd in the same process: same PID
      resolve({ child, pid: child.pid!, counters: BigInt(m[1]!), bad: BigInt(m[2]!), workers: Number(m[3]) });
    });
    child.on('exit', (code, sig) => {
      clearTimeout(timer);
      reject(new Error(`trust_target exited (${code ?? sig}) before READY: ${err}`));
    });
  });
}

function readWords(pid: number, at: bigint, n: number): bigint[] {
  const fd = openSync(`/proc/${pid}/mem`, 'r');
  try {
    const b = Buffer.alloc(8 * n);
    readSync(fd, b, 0, b.length, at);
    return Array.from({ length: n }, (_, i) => b.readBigUInt64LE(8 * i));
  } finally {
    closeSync(fd);
  }
}

export const counters = (t: TrustTarget, pid = t.pid) => readWords(pid, t.counters, t.workers);
export const badFlags = (t: TrustTarget, pid = t.pid) => readWords(pid, t.bad, t.workers);

/** State letter and TracerPid of every thread of `pid`. */
export function threadStates(pid: number): { tid: number; state: string; tracer: number }[] {
  const out: { tid: number; state: string; tracer: number }[] = [];
  for (const tid of readdirSync(`/proc/${pid}/task`).map(Number)) {
    try {
      const s = readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8');
      out.push({ tid, state: /^State:\s*(\S)/m.exec(s)![1]!, tracer: Number(/^TracerPid:\s*(\d+)/m.exec(s)![1]) });
    } catch {
      // exited meanwhile
    }
  }
  return out;
}

/**
 * Waits (up to `timeoutMs`, on the event, not a fixed window) until no thread
 * of `pid` is stopped or traced and every worker has counted past what it had
 * when called; then checks that none reports anything wrong. Returns a
 * description of what is wrong, or '' when all is well.
 */
export async function whyNotWorking(t: TrustTarget, pid = t.pid, timeoutMs = 60_000): Promise<string> {
  if (!processAlive(pid)) return `process ${pid} is gone (${pid === t.pid ? `exit ${t.child.exitCode ?? ''} signal ${t.child.signalCode ?? ''}` : 'a clone'})`;
  const deadline = Date.now() + timeoutMs;
  let held = threadStates(pid).filter((s) => s.state === 't' || s.state === 'T' || s.tracer);
  while (held.length && Date.now() < deadline) {
    await sleep(10);
    held = threadStates(pid).filter((s) => s.state === 't' || s.state === 'T' || s.tracer);
  }
  if (held.length) return `threads still stopped or traced: ${JSON.stringify(held)}`;
  const start = counters(t, pid);
  let now = start;
  while (now.some((c, i) => c <= start[i]!) && Date.now() < deadline) {
    await sleep(10);
    now = counters(t, pid);
  }
  const stuck = now.flatMap((c, i) => (c <= start[i]! ? [i] : []));
  if (stuck.length) return `workers ${stuck.join(',')} stopped counting (${now.join(',')})`;
  const bad = badFlags(t, pid);
  if (bad.some((b) => b !== 0n)) return `workers report damage (codes by worker: ${bad.join(',')})`;
  return '';
}

export function processAlive(pid: number): boolean {
  try {
    const st = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/\) [ZX] /.test(st);
  } catch {
    return false;
  }
}
