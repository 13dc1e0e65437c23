// `forkall bench explore`: schedules per second from a snapshot taken after a
// long warm-up, against re-running the program from its start for every
// schedule (the same scheduler, perturbing from the first thread on).
import { spawn } from 'node:child_process';
import { nativeArtifact } from '../native/paths.js';
import { explore } from './explore.js';
import { Mailbox } from './mailbox.js';

export interface ExploreBenchResult {
  program: string;
  warmupMs: number;
  snapshotMs: number;
  snapshotRuns: number;
  snapshotPerSec: number;
  restartRuns: number;
  restartPerSec: number;
  ratio: number;
}

async function restarts(cmd: string, args: string[], count: number, jobs: number, timeoutMs: number): Promise<number> {
  const mailbox = new Mailbox();
  try {
    mailbox.setSeeds(1n, false);
    mailbox.arm(0); // no template: every process perturbs from its first synchronisation point
    const env = { ...process.env, LD_PRELOAD: nativeArtifact('libforkall-sched.so'), FORKALL_EXPLORE: mailbox.path };
    let started = 0;
    const one = () =>
      new Promise<void>((resolve) => {
        const p = spawn(cmd, args, { env, stdio: 'ignore' });
        const t = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
        p.on('exit', () => (clearTimeout(t), resolve()));
        p.on('error', () => (clearTimeout(t), resolve()));
      });
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: jobs }, async () => {
        while (started < count) {
          started++;
          await one();
        }
      }),
    );
    return count / ((performance.now() - t0) / 1000);
  } finally {
    mailbox.close();
  }
}

export async function benchExplore(o: { warmupMs: number; seconds: number; jobs: number; restarts: number }): Promise<ExploreBenchResult> {
  const cmd = nativeArtifact('explore-examples/atomicity');
  const args = [String(o.warmupMs)];
  const r = await explore({ cmd, args, runs: Number.MAX_SAFE_INTEGER, seconds: o.seconds, jobs: o.jobs, timeoutMs: 2000 + o.warmupMs, seed: 1n, snapshotTimeoutMs: o.warmupMs + 60_000 });
  const restartPerSec = await restarts(cmd, args, o.restarts, o.jobs, o.warmupMs + 30_000);
  return {
    program: 'explore-examples/atomicity',
    warmupMs: o.warmupMs,
    snapshotMs: r.snapshotMs,
    snapshotRuns: r.runs,
    snapshotPerSec: r.schedulesPerSec,
    restartRuns: o.restarts,
    restartPerSec,
    ratio: r.schedulesPerSec / restartPerSec,
  };
}
