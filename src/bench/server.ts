// `forkall bench server`: clones per second from a frozen template (with and
// without compaction) next to a plain fork server on a single-threaded run of
// the same program (what AFL++ does) and exec-per-run (AFL_NO_FORKSRV). Every
// clone/child writes one byte of the big buffer and exits; each rate counts
// the request, the child's life and the report of its exit.
import { spawn } from 'node:child_process';
import { toolBinary } from '../native/paths.js';
import { spawnTemplate } from '../server/template.js';
import { Progress } from './progress.js';

export interface ServerResult {
  threads: number;
  rssMb: number;
  templatePerSec: number;
  templateCloneUs: number;
  compactPerSec: number;
  compactCloneUs: number;
  compactedMb: number | null;
  forkServerPerSec: number;
  execPerSec: number;
}

async function templateRate(threads: number, rssMb: number, n: number, compact: boolean) {
  const t = await spawnTemplate(toolBinary('forkall-target'), [String(threads), String(rssMb), 'agent'], {
    at: { delayMs: 600_000 },
    compact,
    stdio: 'ignore',
    timeoutMs: 120_000,
  });
  try {
    await t.frozenState();
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) {
      const c = await t.clone();
      const r = await c.exited;
      if (r.exitCode !== 0) throw new Error(`a clone of the ${threads}-thread template exited with ${r.signal ?? r.exitCode}`);
    }
    const us = Number(process.hrtime.bigint() - t0) / 1000 / n;
    return { perSec: 1e6 / us, us, compactedMb: t.compactedMb };
  } finally {
    await t.close();
  }
}

async function forkServerRate(rssMb: number, n: number): Promise<number> {
  const p = spawn(toolBinary('forkall-target'), ['1', String(rssMb), 'forkserver'], { stdio: ['pipe', 'pipe', 'inherit'] });
  const replies: Buffer[] = [];
  let waiting: (() => void) | undefined;
  p.stdout.on('data', (d: Buffer) => {
    replies.push(d);
    waiting?.();
  });
  const nextReply = async () => {
    while (Buffer.concat(replies).length < 4) await new Promise<void>((r) => (waiting = r));
    const all = Buffer.concat(replies.splice(0));
    if (all.length > 4) replies.push(all.subarray(4));
    return all.readInt32LE(0);
  };
  await new Promise((r) => setTimeout(r, 200 + rssMb)); // let it touch its memory
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) {
    p.stdin.write('x');
    if ((await nextReply()) !== 0) throw new Error('a fork-server child failed');
  }
  const us = Number(process.hrtime.bigint() - t0) / 1000 / n;
  p.stdin.end();
  await new Promise((r) => p.on('exit', r));
  return 1e6 / us;
}

async function execRate(threads: number, rssMb: number, n: number): Promise<number> {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) {
    const code = await new Promise<number | null>((resolve) =>
      spawn(toolBinary('forkall-target'), [String(threads), String(rssMb), 'once'], { stdio: 'ignore' }).on('exit', resolve),
    );
    if (code !== 0) throw new Error(`exec-per-run exited with ${code}`);
  }
  return 1e6 / (Number(process.hrtime.bigint() - t0) / 1000 / n);
}

export async function benchServer(o: { threads: number[]; rssMb: number[]; clones: number; execRuns: number }): Promise<ServerResult[]> {
  const configs = o.rssMb.flatMap((rssMb) => o.threads.map((threads) => ({ threads, rssMb })));
  const bar = new Progress(configs.length * 4, 'bench server');
  const out: ServerResult[] = [];
  for (const { threads, rssMb } of configs) {
    const note = `${threads} threads, ${rssMb} MB`;
    const plain = await templateRate(threads, rssMb, o.clones, false);
    bar.tick(1, note);
    const compact = await templateRate(threads, rssMb, o.clones, true);
    bar.tick(1, note);
    const forkServerPerSec = await forkServerRate(rssMb, o.clones);
    bar.tick(1, note);
    const execPerSec = await execRate(threads, rssMb, o.execRuns);
    bar.tick(1, note);
    out.push({
      threads,
      rssMb,
      templatePerSec: plain.perSec,
      templateCloneUs: plain.us,
      compactPerSec: compact.perSec,
      compactCloneUs: compact.us,
      compactedMb: compact.compactedMb,
      forkServerPerSec,
      execPerSec,
    });
  }
  bar.end();
  return out;
}
