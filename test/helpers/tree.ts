// Process trees for the `forkall clone --tree` tests (tree.test.ts,
// tree-exact.test.ts): a running tree whose processes are tagged and whose
// lines are kept, the CLI run on it, and the comparison of a clone tree's
// shape with the original's, read from /proc.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { packageRoot } from '../../src/native/paths.js';
import { processesTagged } from './strays.js';
import { statFields } from '../../src/proc/tasks.js';
import type { TreeCloneResult } from '../../src/remote/tree/clone-tree.js';
import { sleep } from './programs.js';

export const cli = join(packageRoot, 'bin', 'forkall.js');
export const fixture = join(packageRoot, 'test', 'fixtures', 'py_tree.py');

export interface Proc {
  ppid: number;
  pgid: number;
  sid: number;
  state: string;
  threads: number;
  exitStatus: number;
}

export function proc(pid: number): Proc {
  const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = statFields(text);
  return { state: f[0]!, ppid: Number(f[1]), pgid: Number(f[2]), sid: Number(f[3]), threads: readdirSync(`/proc/${pid}/task`).length, exitStatus: Number(f[49]) };
}

/** A running tree: its processes are tagged, and every line it prints is kept. */
export class Tree {
  readonly tag = randomUUID();
  readonly lines: string[] = [];
  readonly child: ChildProcess;
  private waiters: (() => void)[] = [];
  constructor(cmd: string, args: string[], opts: { detached?: boolean } = {}) {
    this.child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: opts.detached, env: { ...process.env, FORKALL_SCENARIO_TAG: this.tag } });
    for (const s of [this.child.stdout!, this.child.stderr!]) {
      let buf = '';
      s.on('data', (d: Buffer) => {
        buf += d.toString();
        const parts = buf.split('\n');
        buf = parts.pop()!;
        this.lines.push(...parts);
        for (const w of this.waiters.splice(0)) w();
      });
    }
  }

  /** Waits (bounded) until `pred` holds for the lines so far. */
  async until<T>(what: string, pred: (lines: string[]) => T | undefined, ms = 60_000): Promise<T> {
    const end = Date.now() + ms;
    for (;;) {
      const v = pred(this.lines);
      if (v !== undefined && v !== false) return v;
      if (Date.now() > end) assert.fail(`timed out waiting for ${what}; output so far:\n${this.lines.slice(-20).join('\n')}`);
      await Promise.race([new Promise<void>((r) => this.waiters.push(r)), sleep(200)]);
    }
  }

  /** "up ROLE PID" lines: role -> pid, once `n` are there. */
  ups(n: number): Promise<Map<string, number>> {
    return this.until(`${n} processes up`, (lines) => {
      const m = new Map<string, number>();
      for (const l of lines) {
        const x = /^up (\S+) (\d+)/.exec(l);
        if (x) m.set(x[1]!, Number(x[2]));
      }
      return m.size >= n ? m : undefined;
    });
  }

  kill(): void {
    for (const p of processesTagged(this.tag)) {
      try {
        process.kill(p, 'SIGKILL');
      } catch {
        // gone
      }
    }
    try {
      this.child.kill('SIGKILL');
    } catch {
      // gone
    }
  }
}

export function cloneTree(pid: number, extra: string[] = [], env: Record<string, string> = {}): { status: number | null; stderr: string; report?: TreeCloneResult } {
  const r = spawnSync(process.execPath, [cli, 'clone', '-p', String(pid), '--tree', '--json', ...extra], { encoding: 'utf8', timeout: 240_000, env: { ...process.env, ...env } });
  if (r.status !== 0) return { status: r.status, stderr: r.stderr };
  return { status: 0, stderr: r.stderr, report: JSON.parse(r.stdout) as TreeCloneResult };
}

/** The clone tree has the original's shape: parents, groups, sessions (mapped to the clones), thread counts, zombie statuses. */
export function assertSameShape(r: TreeCloneResult, originalPids: number[]): void {
  const cloneOf = new Map(r.members.map((m) => [m.pid, m.clonePid]));
  assert.deepEqual([...cloneOf.keys()].sort((a, b) => a - b), [...originalPids].sort((a, b) => a - b), 'every process of the tree has a clone');
  const root = r.members[0]!;
  for (const m of r.members) {
    const o = proc(m.pid);
    const c = proc(m.clonePid);
    const where = `original ${m.pid}, clone ${m.clonePid}`;
    // exact TIDs: the root's clone is the child of the namespace's init, which is the root's sibling
    assert.equal(c.ppid, m === root ? (r.namespaceInit ?? o.ppid) : cloneOf.get(o.ppid), `${where}: parent`);
    if (m === root && r.namespaceInit) assert.equal(proc(r.namespaceInit).ppid, o.ppid, `the namespace init ${r.namespaceInit} is a sibling of the root ${m.pid}`);
    assert.equal(c.pgid, cloneOf.get(o.pgid) ?? o.pgid, `${where}: process group`);
    assert.equal(c.sid, cloneOf.get(o.sid) ?? o.sid, `${where}: session`);
    assert.equal(c.state === 'Z', o.state === 'Z', `${where}: zombie or not (${o.state} / ${c.state})`);
    if (o.state === 'Z') assert.equal(c.exitStatus, o.exitStatus, `${where}: zombie's status`);
    else assert.equal(c.threads, o.threads, `${where}: threads`);
    assert.equal(m.threads, o.state === 'Z' ? 0 : o.threads, `${where}: threads reported`);
    assert.deepEqual([m.pgid, m.sid], [c.pgid, c.sid], `${where}: pgid and sid reported`);
  }
}

export const cloneLine = (lines: string[], role: string, pid: number) => lines.find((l) => l.startsWith(`clone ${role} ${pid} `));
