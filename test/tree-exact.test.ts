// `forkall clone --tree --exact-tids` on real process trees: the clone tree
// lives in one new PID namespace in which every process and thread has its
// original's number (NSpid in /proc/PID/status names both: outside, inside).
// Besides the shape (parents, groups, sessions, threads), each test checks
// those numbers; failures forced at each step (FORKALL_TEST_TREE_FAIL) and a
// killed engine must leave the originals running, untraced, and nothing else.
// Every tree is started under a bash that waits, so that the namespace's
// init (a sibling of the root) is reaped when it ends.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync, readdirSync, readlinkSync, rmSync } from 'node:fs';
import { processesTagged } from './helpers/strays.js';
import { sleep } from './helpers/programs.js';
import { assertSameShape, cli, cloneTree, fixture, proc, Tree } from './helpers/tree.js';
import { cloneTreeSync, type TreeCloneResult } from '../src/remote/tree/clone-tree.js';
import { nginxSkip, startNginx } from './helpers/nginx.js';
import { httpGet } from './helpers/servers.js';
import { runForkall } from './helpers/cli.js';
import { waitFor } from './helpers/wait.js';
import { killAndWait } from './helpers/kill-wait.js';

const skip = process.getuid?.() !== 0 ? 'a tree with exact TIDs is cloned by root only (CAP_SYS_ADMIN over the new PID namespace)' : false;

const status = (pid: number, key: string) => new RegExp(`^${key}:\\s*(.*)$`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
const nsPids = (pid: number, tid = pid) => statusOf(`/proc/${pid}/task/${tid}/status`, 'NSpid')!.split(/\s+/).map(Number);
const statusOf = (path: string, key: string) => new RegExp(`^${key}:\\s*(.*)$`, 'm').exec(readFileSync(path, 'utf8'))?.[1];
const tasks = (pid: number) => readdirSync(`/proc/${pid}/task`).map(Number);
const traced = (pid: number) => Number(status(pid, 'TracerPid')) !== 0;
const gone = (pid: number) => {
  try {
    return proc(pid).state === 'Z';
  } catch {
    return true;
  }
};

function kill(...pids: (number | undefined)[]): void {
  for (const p of pids) {
    if (!p) continue;
    try {
      process.kill(p, 'SIGKILL');
    } catch {
      // gone
    }
  }
}

/** Every clone has its original's PID inside the namespace, and every thread its original's TID. */
function assertSameNumbers(r: TreeCloneResult): void {
  const init = r.namespaceInit!;
  assert.ok(init, 'the report names the namespace init');
  assert.deepEqual(nsPids(init).slice(1), [1], 'the namespace init is PID 1 in the namespace');
  const ns = readlinkSync(`/proc/${init}/ns/pid`);
  for (const m of r.members) {
    assert.equal(m.namespacePid, m.pid, `member ${m.pid}: reported PID in the namespace`);
    assert.equal(readlinkSync(`/proc/${m.clonePid}/ns/pid`), ns, `clone ${m.clonePid} is in the tree's one namespace`);
    assert.deepEqual(nsPids(m.clonePid), [m.clonePid, m.pid], `clone ${m.clonePid} of ${m.pid}: NSpid`);
    if (m.zombieStatus !== undefined) continue;
    const inside = tasks(m.clonePid).map((t) => nsPids(m.clonePid, t)[1]!).sort((a, b) => a - b);
    assert.deepEqual(inside, tasks(m.pid).sort((a, b) => a - b), `clone ${m.clonePid} of ${m.pid}: the TIDs inside the namespace are the original's`);
  }
}

/** The originals as they were: same parents, groups, sessions, threads; running, untraced. */
async function assertOriginalsUntouched(t: Tree, before: (readonly [number, ReturnType<typeof proc>])[], why: string): Promise<void> {
  for (const [p, was] of before) {
    const now = proc(p);
    assert.deepEqual([now.ppid, now.pgid, now.sid, now.threads], [was.ppid, was.pgid, was.sid, was.threads], `PID ${p} as before (${why})`);
    await t.until(`PID ${p} to run untraced (${why})`, () => (!traced(p) && !'tTZ'.includes(proc(p).state) ? true : undefined), 30_000);
  }
}

/** Nothing but the originals: no copy, no half-made namespace init (a copy of the root until it execs), no zombie under the tree's bash. */
async function assertNoStrays(t: Tree, originals: number[], bash: number, why: string): Promise<void> {
  const keep = new Set([...originals, bash]);
  await t.until(`no process but the originals (${why})`, () => (processesTagged(t.tag).every((p) => keep.has(p)) ? true : undefined), 30_000);
  const kids = () => readFileSync(`/proc/${bash}/task/${bash}/children`, 'utf8').split(' ').filter(Boolean).map(Number);
  await t.until(`bash ${bash} to have only the root as child (${why})`, () => (kids().every((k) => keep.has(k)) ? true : undefined), 30_000);
}

test('a python3 tree (root, two children, a grandchild, threads in each): the clone tree has its shape and every PID and TID, and runs', { skip, timeout: 300_000 }, async () => {
  const t = new Tree('bash', ['-c', `python3 ${fixture} grand & wait`]);
  let init: number | undefined;
  try {
    const up = await t.ups(4);
    const r = cloneTree(up.get('root')!, ['--exact-tids']);
    assert.equal(r.status, 0, r.stderr);
    const report = r.report!;
    init = report.namespaceInit;
    assertSameShape(report, [...up.values()]);
    assertSameNumbers(report);
    assert.match(readFileSync(`/proc/${init}/cmdline`, 'utf8'), /forkall-ns-init\0/);
    // each clone sees itself in another PID namespace with its own PID, and says so with its thread count
    for (const [role, pid] of up) {
      const line = await t.until(`the clone of ${role} to run`, (l) => l.find((x) => x.startsWith(`clone ${role} ${pid} `)));
      assert.equal(line, `clone ${role} ${pid} threads=${proc(pid).threads}`);
    }
    for (const pid of up.values()) assert.equal(traced(pid), false, `original ${pid} untraced`);
  } finally {
    kill(init);
    t.kill();
  }
});

test('a failure forced at each step kills every copy and the namespace; the originals run on, untraced, and nothing is left', { skip, timeout: 600_000 }, async () => {
  const t = new Tree('bash', ['-c', `python3 ${fixture} session & wait`], { detached: true });
  try {
    const up = await t.ups(4);
    const bash = t.child.pid!;
    const before = [...up.values()].map((p) => [p, proc(p)] as const);
    for (const step of ['root', 'fork', 'release', 'channels', 'build']) {
      const r = cloneTree(up.get('root')!, ['--exact-tids'], { FORKALL_TEST_TREE_FAIL: step });
      assert.equal(r.status, 8, `step ${step}: ${r.stderr}`);
      assert.match(r.stderr, new RegExp(`forced failure at step '${step}'`));
      await assertOriginalsUntouched(t, before, `failure at ${step}`);
      await assertNoStrays(t, [...up.values()], bash, `failure at ${step}`);
      assert.equal(t.lines.filter((l) => l.startsWith('clone ')).length, 0, `step ${step}: no copy ran`);
      // in this process, whose death cannot end the copies (PTRACE_O_EXITKILL): only the engine's cleanup can
      process.env.FORKALL_TEST_TREE_FAIL = step;
      try {
        assert.throws(() => cloneTreeSync(up.get('root')!, { exactTids: true }), new RegExp(`forced failure at step '${step}'`));
      } finally {
        delete process.env.FORKALL_TEST_TREE_FAIL;
      }
      await assertOriginalsUntouched(t, before, `failure at ${step}, in-process engine`);
      await assertNoStrays(t, [...up.values()], bash, `failure at ${step}, in-process engine`);
    }
    // and the same tree clones whole afterwards
    const ok = cloneTree(up.get('root')!, ['--exact-tids']);
    assert.equal(ok.status, 0, ok.stderr);
    assertSameShape(ok.report!, [...up.values()]);
    assertSameNumbers(ok.report!);
    kill(ok.report!.namespaceInit);
  } finally {
    t.kill();
  }
});

test('a python3 asyncio tree, refused without --exact-tids, is cloned with it and each clone finds its running loop', { skip, timeout: 300_000 }, async () => {
  const src = [
    'import asyncio, os, threading, time',
    'ns0 = os.readlink("/proc/self/ns/pid")',
    'role = "child" if os.fork() == 0 else "root"',
    'async def main():',
    '    os.write(1, f"up {role} {os.getpid()}\\n".encode())', // one write: the two processes share the pipe
    '    while os.readlink("/proc/self/ns/pid") == ns0:',
    '        await asyncio.sleep(0.02)',
    '    os.write(1, f"clone {role} {os.getpid()} loop={asyncio.get_running_loop() is not None}\\n".encode())',
    '    await asyncio.sleep(1000)',
    'threading.Thread(target=time.sleep, args=(1000,), daemon=True).start()',
    'asyncio.run(main())',
  ].join('\n');
  const t = new Tree('bash', ['-c', `python3 -c '${src}' & wait`]);
  let init: number | undefined;
  try {
    const up = await t.ups(2);
    const root = up.get('root')!;
    const refused = cloneTree(root);
    assert.equal(refused.status, 5, refused.stderr);
    assert.match(refused.stderr, /loaded asyncio.*--exact-tids/);
    const r = cloneTree(root, ['--exact-tids']);
    assert.equal(r.status, 0, r.stderr);
    init = r.report!.namespaceInit;
    assertSameShape(r.report!, [...up.values()]);
    assertSameNumbers(r.report!);
    for (const [role, pid] of up) await t.until(`the clone of ${role} to find its loop`, (l) => l.includes(`clone ${role} ${pid} loop=True`));
  } finally {
    kill(init);
    t.kill();
  }
});

test('refusals: a member in another PID namespace, a member in another mount namespace, a tree that runs as nobody; nothing is left changed', { skip, timeout: 300_000 }, async () => {
  const pidTree = new Tree('bash', ['-c', 'unshare --pid --fork sleep 1000 & echo "up root $$"; wait']);
  const mntTree = new Tree('bash', ['-c', 'unshare --mount sleep 1000 & echo "up root $$"; wait']);
  try {
    const b1 = (await pidTree.ups(1)).get('root')!;
    const other = await pidTree.until('the sleep in its own PID namespace', () =>
      processesTagged(pidTree.tag).find((p) => {
        try {
          return readlinkSync(`/proc/${p}/ns/pid`) !== readlinkSync(`/proc/${b1}/ns/pid`);
        } catch {
          return false;
        }
      }),
    );
    const n = cloneTree(b1, ['--exact-tids']);
    assert.equal(n.status, 5, n.stderr);
    assert.match(n.stderr, new RegExp(`PID ${other} .*is in another PID namespace`));

    const b2 = (await mntTree.ups(1)).get('root')!;
    const sleeper = await mntTree.until('the sleep in its own mount namespace', () =>
      processesTagged(mntTree.tag).find((p) => {
        try {
          return p !== b2 && readlinkSync(`/proc/${p}/ns/mnt`) !== readlinkSync(`/proc/${b2}/ns/mnt`) && readFileSync(`/proc/${p}/comm`, 'utf8').startsWith('sleep');
        } catch {
          return false;
        }
      }),
    );
    const before = [b2, sleeper].map((p) => [p, proc(p)] as const);
    const m = cloneTree(b2, ['--exact-tids']);
    assert.equal(m.status, 5, m.stderr);
    assert.match(m.stderr, new RegExp(`PID ${sleeper} is in another mount namespace than the root of its tree`));
    await assertOriginalsUntouched(mntTree, before, 'refused');
    await assertNoStrays(mntTree, [b2, sleeper], mntTree.child.pid!, 'refused');
    for (const p of [b1, other]) assert.equal(traced(p), false, `PID ${p} is not left traced`);

    // a tree running as nobody: its copies could not pick their PIDs (no CAP_SYS_ADMIN in the root)
    const nobodyTree = new Tree('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', '/bin/bash', '-c', 'sleep 1000 & echo "up root $$"; wait']);
    try {
      const root = (await nobodyTree.ups(1)).get('root')!;
      const u = cloneTree(root, ['--exact-tids']);
      assert.equal(u.status, 5, u.stderr);
      assert.match(u.stderr, new RegExp(`PID ${root}: --tree --exact-tids needs the root of the tree to have CAP_SYS_ADMIN`));
      assert.equal(traced(root), false, `PID ${root} is not left traced`);
      assert.equal(processesTagged(nobodyTree.tag).length, 2, 'no copy was left behind');
    } finally {
      nobodyTree.kill();
    }
  } finally {
    pidTree.kill();
    mntTree.kill();
  }
});

test('pipeline bash -c "producer | consumer" cloned exactly: the clone runs on alone after the original tree is killed, with its own pipe', { skip, timeout: 300_000 }, async () => {
  const t = new Tree('bash', ['-c', `python3 ${fixture} producer | python3 ${fixture} consumer`]);
  let init: number | undefined;
  try {
    const up = await t.ups(2);
    const bash = t.child.pid!;
    const [producer, consumer] = [up.get('producer')!, up.get('consumer')!];
    await t.until('the consumer to get lines', (l) => l.some((x) => x.startsWith(`got ${consumer} `)));
    const r = cloneTree(bash, ['--exact-tids']);
    assert.equal(r.status, 0, r.stderr);
    init = r.report!.namespaceInit;
    assertSameShape(r.report!, [bash, producer, consumer]);
    assertSameNumbers(r.report!);
    const clones = new Map(r.report!.members.map((m) => [m.pid, m.clonePid]));
    const [cp, cc] = [clones.get(producer)!, clones.get(consumer)!];
    const pipeOf = (pid: number, fd: number) => readlinkSync(`/proc/${pid}/fd/${fd}`);
    assert.equal(pipeOf(cp, 1), pipeOf(cc, 0), 'the clones share one pipe');
    assert.notEqual(pipeOf(cc, 0), pipeOf(consumer, 0), 'and it is not the original pipe');
    kill(bash, producer, consumer);
    await t.until('the original tree to be gone', () => ([bash, producer, consumer].every(gone) ? true : undefined), 30_000);
    // the clone consumer has the consumer's PID in its namespace: lines after the kill are the clone's
    const seen = t.lines.length;
    await t.until('the clone consumer to get new lines', (l) => l.slice(seen).filter((x) => x.startsWith(`got ${consumer} `)).length >= 3);
    const said = await t.until('the consumer clone to say it is in the new namespace', (l) => l.find((x) => x.startsWith(`clone consumer ${consumer} `)));
    assert.equal(said, `clone consumer ${consumer} threads=${tasks(cc).length}`, 'with its threads');
  } finally {
    kill(init);
    t.kill();
  }
});

test('a killed engine leaves the original tree running untouched and no half-made copy or namespace behind', { skip, timeout: 300_000 }, async () => {
  const t = new Tree('bash', ['-c', `python3 ${fixture} session & wait`], { detached: true });
  try {
    const up = await t.ups(4);
    const bash = t.child.pid!;
    const before = [...up.values()].map((p) => [p, proc(p)] as const);
    const engineOf = (cliPid: number) =>
      readdirSync('/proc').filter((e) => /^\d+$/.test(e)).map(Number).find((p) => {
        try {
          return proc(p).ppid === cliPid;
        } catch {
          return false;
        }
      });
    for (const delayMs of [50, 250, 800]) {
      const c = spawn(process.execPath, [cli, 'clone', '-p', String(up.get('root')), '--tree', '--exact-tids', '--json'], { stdio: ['ignore', 'pipe', 'ignore'] });
      let out = '';
      c.stdout.on('data', (d) => (out += d));
      const exited = new Promise((r) => c.once('close', r));
      let engine: number | undefined;
      for (const end = Date.now() + 30_000; engine === undefined && Date.now() < end; ) {
        engine = engineOf(c.pid!);
        await sleep(5);
      }
      await sleep(delayMs);
      kill(engine);
      await exited;
      await assertOriginalsUntouched(t, before, `engine killed after ${delayMs} ms`);
      // a clone tree finished before the kill is whole and untraced: end it (its init ends the namespace)
      const r = out.trim() ? (JSON.parse(out) as Partial<TreeCloneResult>) : {}; // an error report when it failed
      if (r.members) {
        for (const m of r.members) assert.equal(traced(m.clonePid), false, `finished clone ${m.clonePid} untraced`);
        kill(r.namespaceInit);
      }
      // a half-made copy dies with its tracer (PTRACE_O_EXITKILL), the namespace with its init
      await assertNoStrays(t, [...up.values()], bash, `engine killed after ${delayMs} ms`);
    }
  } finally {
    t.kill();
  }
});

const childrenOf = (pid: number) => readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').split(' ').filter(Boolean).map(Number);
/** write system calls a process made (writev of its answers included) */
const writes = (pid: number) => Number(/^syscw:\s*(\d+)/m.exec(readFileSync(`/proc/${pid}/io`, 'utf8'))![1]);

test('nginx (root master, 2 workers as nobody) cloned with exact TIDs: both trees serve, and a graceful quit of the clone master ends the whole clone tree', { skip: skip || nginxSkip(), timeout: 300_000 }, async () => {
  const { dir, port, token, master } = await startNginx();
  const started: number[] = [master.pid!];
  try {
    const m = master.pid!;
    const workers = await waitFor('nginx to serve with 2 workers of 5 threads', async () => {
      const w = childrenOf(m);
      if (w.length !== 2 || !w.every((p) => tasks(p).length === 5)) return undefined;
      return (await httpGet(port).catch(() => '')) === token ? w : undefined;
    }, 60_000, 100);
    started.push(...workers);
    const r = await runForkall(['clone', '-p', String(m), '--tree', '--exact-tids', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const report = JSON.parse(r.stdout) as TreeCloneResult;
    const init = report.namespaceInit!;
    started.push(init, ...report.members.map((x) => x.clonePid));
    assertSameNumbers(report);
    const cloneOf = new Map(report.members.map((x) => [x.pid, x.clonePid]));
    const cm = cloneOf.get(m)!;
    const cloneWorkers = workers.map((w) => cloneOf.get(w)!);
    assert.deepEqual(childrenOf(cm).sort(), [...cloneWorkers].sort(), "the workers' clones are children of the master's clone");
    for (const [w, c] of workers.map((x, i) => [x, cloneWorkers[i]!] as const)) {
      for (const key of ['Uid', 'Gid', 'Groups', 'CapEff']) assert.equal(status(c, key), status(w, key), `worker ${w} / clone ${c}: ${key}`);
      assert.equal(tasks(c).length, tasks(w).length, `worker ${w} / clone ${c}: threads`);
    }
    // both trees serve the one listening socket: requests until workers of each have answered some
    const sum = (pids: number[]) => pids.reduce((s, p) => s + writes(p), 0);
    const [o0, c0] = [sum(workers), sum(cloneWorkers)];
    await waitFor('workers of both trees to answer', async () => {
      assert.equal(await httpGet(port), token);
      return sum(workers) > o0 && sum(cloneWorkers) > c0 ? true : undefined;
    }, 120_000, 0);
    // the clone master knows its workers by their PIDs, which they keep: a graceful quit ends the whole clone tree
    process.kill(cm, 'SIGQUIT');
    await waitFor('the clone tree and its namespace init to exit', () => ([cm, ...cloneWorkers, init].every(gone) ? true : undefined), 60_000, 50);
    for (const p of [m, ...workers]) assert.equal(gone(p), false, `original ${p} runs on`);
    for (let i = 0; i < 10; i++) assert.equal(await httpGet(port), token, `request ${i} to the original after the clone quit`);
    assert.deepEqual(childrenOf(m).sort(), [...workers].sort(), 'the original master keeps its workers');
  } finally {
    await killAndWait(...started.reverse());
    rmSync(dir, { recursive: true, force: true });
  }
});
