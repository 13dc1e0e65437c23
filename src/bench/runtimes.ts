// Real programs for the benchmarks to clone: forkall's own C target and small
// python3, java and node programs with a few threads each, every one idle and
// printing READY once its threads run. A runtime that is not installed is
// reported as such (the benchmark prints a line and goes on without it).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { toolBinary } from '../native/paths.js';

export const RUNTIMES = ['c', 'python3', 'java', 'node'] as const;
export type Runtime = (typeof RUNTIMES)[number];

/** python3: four threads blocked on an Event (five with the main thread); it exits when stdin closes. */
const PYTHON = `
import sys, threading
stop = threading.Event()
for _ in range(4): threading.Thread(target=stop.wait, daemon=True).start()
print("READY", flush=True)
sys.stdin.read()
`;

/** java (single-file source launch): four sleeping threads next to the JVM's own. */
const JAVA = `
public class ForkallBenchWorkers {
    public static void main(String[] args) throws Exception {
        for (int i = 0; i < 4; i++) {
            Thread t = new Thread(() -> {
                try { Thread.sleep(Long.MAX_VALUE); } catch (InterruptedException e) { }
            }, "worker" + i);
            t.setDaemon(true);
            t.start();
        }
        System.out.println("READY");
        System.in.read();
    }
}
`;

/** node: a worker_threads worker and an idle main thread (plus libuv's and V8's threads). */
const NODE = `
const { Worker } = require('node:worker_threads');
const w = new Worker('setInterval(() => {}, 1000)', { eval: true });
w.on('online', () => console.log('READY'));
process.stdin.on('end', () => process.exit(0)).resume();
`;

export interface RunningTarget {
  runtime: Runtime;
  child: ChildProcess;
  pid: number;
  /** what runs, as a person would type it */
  describe: string;
  /** ends the program (and removes what it needed on disk) */
  stop(): void;
}

/** A runtime not installed on this machine (the reason names the program looked for). */
export class RuntimeMissing extends Error {}

function command(runtime: Runtime, threads: number): { file: string; args: string[]; describe: string; dir?: string } {
  switch (runtime) {
    case 'c':
      return { file: toolBinary('forkall-target'), args: [String(threads), '4', 'idle'], describe: 'native/bench/forkall-target: 4 MB touched, every thread but main in a condition wait' };
    case 'python3':
      return { file: 'python3', args: ['-c', PYTHON], describe: 'python3: four threads blocked on an Event next to the main thread' };
    case 'java': {
      const dir = mkdtempSync(join(tmpdir(), 'forkall-bench-java-'));
      writeFileSync(join(dir, 'ForkallBenchWorkers.java'), JAVA);
      return { file: 'java', args: [join(dir, 'ForkallBenchWorkers.java')], describe: 'java (a source file): four sleeping threads next to the JVM\'s own', dir };
    }
    case 'node':
      return { file: process.execPath, args: ['-e', NODE], describe: 'node: a worker_threads worker next to an idle main thread' };
  }
}

/** Starts `runtime`'s program and resolves once it printed READY; RuntimeMissing when its program is not installed. */
export function startRuntime(runtime: Runtime, threads = 16): Promise<RunningTarget> {
  const c = command(runtime, threads);
  const cleanup = () => c.dir && rmSync(c.dir, { recursive: true, force: true });
  const child = spawn(c.file, c.args, { stdio: ['pipe', 'pipe', 'inherit'] });
  const stop = () => {
    child.kill('SIGKILL');
    cleanup();
  };
  return new Promise((resolve, reject) => {
    let out = '';
    const fail = (e: Error) => {
      clearTimeout(timer);
      stop();
      reject(e);
    };
    // a JVM compiling its source on a busy machine takes seconds; a minute is generous
    const timer = setTimeout(() => fail(new Error(`${runtime}: ${c.file} did not print READY within 60 s`)), 60_000);
    child.on('error', (e: NodeJS.ErrnoException) =>
      fail(e.code === 'ENOENT' ? new RuntimeMissing(`${runtime}: '${c.file}' is not installed (not found on PATH)`) : e),
    );
    child.on('exit', (code, sig) => fail(new Error(`${runtime}: ${c.file} ended (${sig ?? `exit ${code}`}) before it was ready`)));
    child.stdout!.on('data', (d) => {
      out += d;
      if (!out.includes('READY')) return;
      clearTimeout(timer);
      child.removeAllListeners('exit');
      child.stdout!.removeAllListeners('data');
      child.stdout!.resume();
      resolve({ runtime, child, pid: child.pid!, describe: c.describe, stop });
    });
  });
}
