// `forkall bench tree`: cloning a process tree at once (`clone --tree`: held
// for one instant, children copied against their parent's copy) next to
// cloning the same processes one by one (each held alone, each a full fork
// of its own), in one run, alternating.
import { spawn, type ChildProcess } from 'node:child_process';
import { toolBinary } from '../native/paths.js';
import { cloneProcessSync } from '../remote/clone-process.js';
import { cloneTreeSync } from '../remote/tree/clone-tree.js';
import { childrenOf } from '../remote/tree/proc-member.js';
import { waitpid } from '../remote/libc.js';
import { Progress } from './progress.js';
import { median } from './stats.js';

export interface TreeBenchResult {
  processes: number;
  threadsPerProcess: number;
  mbPerProcess: number;
  runs: number;
  /** clone --tree: median µs the tree was held, and of the whole operation */
  treeHeldUs: number;
  treeTotalUs: number;
  /** each process cloned alone, one after the other: median of the longest single hold, and of the summed totals */
  oneByOneHeldUs: number;
  oneByOneTotalUs: number;
  /** clone --tree by step (medians) */
  phasesUs: Record<string, number>;
  /** with --exact-tids: clone --tree --exact-tids, median µs held and total, alternating with the others */
  exactHeldUs?: number;
  exactTotalUs?: number;
}

export interface TreeBenchOptions {
  children: number;
  threads: number;
  rssMb: number;
  runs: number;
  progress?: boolean;
  /** also clone the tree with exact TIDs (one PID namespace) in each run */
  exactTids?: boolean;
}

async function startTree(o: TreeBenchOptions): Promise<ChildProcess> {
  const child = spawn(toolBinary('forkall-tree-target'), [String(o.children), String(o.threads), String(o.rssMb)], { stdio: ['pipe', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d) => {
      out += d;
      if (out.includes('READY')) resolve();
    });
    child.on('exit', (c) => reject(new Error(`forkall-tree-target exited (${c}) before it was ready`)));
  });
  return child;
}

function kill(pids: number[]): void {
  for (const p of pids) {
    try {
      process.kill(p, 'SIGKILL');
    } catch {
      // gone
    }
  }
}

/** The root's clone (and one-by-one clones of the root) are our children: reap them. */
function reap(pid: number): void {
  waitpid(pid, new Int32Array(1), 0);
}

export async function benchTree(o: TreeBenchOptions): Promise<TreeBenchResult> {
  const bar = new Progress(o.runs * (o.exactTids ? 3 : 2), 'bench tree');
  const tree = await startTree(o);
  const root = tree.pid!;
  const members = [root, ...childrenOf(root)];
  const treeHeld: number[] = [];
  const treeTotal: number[] = [];
  const oneHeld: number[] = [];
  const oneTotal: number[] = [];
  const exactHeld: number[] = [];
  const exactTotal: number[] = [];
  const phases: Record<string, number[]> = {};
  const cloneTree = (record: boolean) => {
    const r = cloneTreeSync(root);
    kill(r.members.map((m) => m.clonePid));
    reap(r.members[0]!.clonePid);
    if (!record) return;
    treeHeld.push(r.heldUs);
    treeTotal.push(r.totalUs);
    for (const [k, v] of Object.entries(r.phasesUs)) (phases[k] ??= []).push(v);
  };
  // the namespace's init is the root's sibling (our child): killing it ends the whole clone tree
  const cloneExact = (record: boolean) => {
    const r = cloneTreeSync(root, { exactTids: true });
    kill([r.namespaceInit!]);
    reap(r.namespaceInit!);
    if (!record) return;
    exactHeld.push(r.heldUs);
    exactTotal.push(r.totalUs);
  };
  const oneByOne = (record: boolean) => {
    let held = 0;
    let total = 0;
    for (const p of members) {
      const r = cloneProcessSync(p);
      held = Math.max(held, r.heldUs);
      total += r.totalUs;
      for (const c of r.clones) {
        kill([c.pid]);
        if (p === root) reap(c.pid); // a sibling of the root: ours; the others are the root's (it never waits: they stay zombies until the tree ends)
      }
    }
    if (!record) return;
    oneHeld.push(held);
    oneTotal.push(total);
  };
  try {
    cloneTree(false); // warm-up
    oneByOne(false);
    if (o.exactTids) cloneExact(false);
    for (let i = 0; i < o.runs; i++) {
      cloneTree(true);
      bar.tick(1, 'tree');
      if (o.exactTids) {
        cloneExact(true);
        bar.tick(1, 'tree, exact TIDs');
      }
      oneByOne(true);
      bar.tick(1, 'one by one');
    }
  } finally {
    tree.kill('SIGKILL');
    kill(members);
    bar.end();
  }
  return {
    processes: members.length,
    threadsPerProcess: o.threads,
    mbPerProcess: o.rssMb,
    runs: o.runs,
    treeHeldUs: median(treeHeld),
    treeTotalUs: median(treeTotal),
    oneByOneHeldUs: median(oneHeld),
    oneByOneTotalUs: median(oneTotal),
    phasesUs: Object.fromEntries(Object.entries(phases).map(([k, v]) => [k, median(v)])),
    ...(o.exactTids ? { exactHeldUs: median(exactHeld), exactTotalUs: median(exactTotal) } : {}),
  };
}
