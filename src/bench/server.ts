// `forkall bench server`: clones per second from a frozen template (with and
// without compaction) next to a plain fork server on a single-threaded run of
// the same program (what AFL++ does) and exec-per-run (AFL_NO_FORKSRV). Every
// clone/child writes one byte of the big buffer and exits; each rate counts
// the request, the child's life and the report of its exit. Template and fork
// server alternate run by run (their ratio is what the benchmark is for).
import { spawn } from 'node:child_process';
import { toolBinary } from '../native/paths.js';
import { spawnTemplate, type Template } from '../server/template.js';
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
  forkServerUs: number;
  execPerSec: number;
}

// A frozen template of the target, ready to clone.
async function openTemplate(threads: number, rssMb: number, compact: boolean) {
  const t = await spawnTemplate(toolBinary('forkall-target'), [String(threads), String(rssMb), 'agent'], {
    at: { delayMs: 600_000 },
    compact,
    stdio: 'ignore',
    timeoutMs: 120_000,
  });
  try {
    await t.frozenState();
  } catch (e) {
    await t.close();
    throw e;
  }
  return t;
}

// One clone, from the request to the report of its exit, in microseconds. It
// is made with run(): one reply once it ended, as a fork server answers with
// the child's wait status only.
async function timeClone(t: Template, threads: number): Promise<number> {
  const t0 = process.hrtime.bigint();
  const r = await t.run();
  if (r.exitCode !== 0) throw new Error(`a clone of the ${threads}-thread template exited with ${r.signal ?? r.exitCode}`);
  return Number(process.hrtime.bigint() - t0) / 1000;
}

// A plain fork server (AFL++ style) on a single-threaded run of the target.
async function openForkServer(rssMb: number) {
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
  return {
    // one run, from the request to its wait status, in microseconds
    async run(): Promise<number> {
      const t0 = process.hrtime.bigint();
      p.stdin.write('x');
      if ((await nextReply()) !== 0) throw new Error('a fork-server child failed');
      return Number(process.hrtime.bigint() - t0) / 1000;
    },
    async close() {
      p.stdin.end();
      if (p.exitCode === null && p.signalCode === null) await new Promise((r) => p.on('exit', r));
    },
  };
}

function median(v: number[]): number {
  const s = [...v].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

// The plain template and the fork server are measured side by side, one
// clone and one fork-server run alternately, so that their ratio shares the
// machine's noise; per-run times are medians (a rate is 1e6 / median us).
async function templateVsForkServer(threads: number, rssMb: number, n: number) {
  const t = await openTemplate(threads, rssMb, false);
  try {
    const fs = await openForkServer(rssMb);
    try {
      const clone: number[] = [];
      const fork: number[] = [];
      for (let i = 0; i < n; i++) {
        clone.push(await timeClone(t, threads));
        fork.push(await fs.run());
      }
      return { cloneUs: median(clone), forkServerUs: median(fork) };
    } finally {
      await fs.close();
    }
  } finally {
    await t.close();
  }
}

async function compactRate(threads: number, rssMb: number, n: number) {
  const t = await openTemplate(threads, rssMb, true);
  try {
    const us: number[] = [];
    for (let i = 0; i < n; i++) us.push(await timeClone(t, threads));
    return { us: median(us), compactedMb: t.compactedMb };
  } finally {
    await t.close();
  }
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
    const side = await templateVsForkServer(threads, rssMb, o.clones);
    bar.tick(2, note);
    const compact = await compactRate(threads, rssMb, o.clones);
    bar.tick(1, note);
    const execPerSec = await execRate(threads, rssMb, o.execRuns);
    bar.tick(1, note);
    out.push({
      threads,
      rssMb,
      templatePerSec: 1e6 / side.cloneUs,
      templateCloneUs: side.cloneUs,
      compactPerSec: 1e6 / compact.us,
      compactCloneUs: compact.us,
      compactedMb: compact.compactedMb,
      forkServerPerSec: 1e6 / side.forkServerUs,
      forkServerUs: side.forkServerUs,
      execPerSec,
    });
  }
  bar.end();
  return out;
}
