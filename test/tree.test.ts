// `forkall clone --tree` on real process trees: each test compares the clone
// tree's shape (parent links, process groups, sessions, thread counts,
// zombies) with the original's, read from /proc, and checks that the clones
// work. Every process a test starts is tagged and killed in `finally`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { processesTagged } from './helpers/strays.js';
import type { TreeCloneResult } from '../src/remote/tree/clone-tree.js';
import { ask, freePort } from './helpers/servers.js';
import { sleep } from './helpers/programs.js';
import { assertSameShape, cli, cloneLine, cloneTree, fixture, proc, Tree } from './helpers/tree.js';

async function cloneTreeApi(pid: number): Promise<TreeCloneResult> {
  const { cloneTree } = await import('../src/index.js');
  return cloneTree(pid);
}

const statusLine = (pid: number, key: string) => new RegExp(`^${key}:\\s*(.*)$`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];


test('tree with a zombie: the clone of the zombie is a zombie of the root\'s clone, with its status', { timeout: 300_000 }, async () => {
  const t = new Tree('python3', [fixture, 'zombie']);
  try {
    const up = await t.ups(1);
    const root = up.get('root')!;
    const zombie = Number(/zombie=(\d+)/.exec(t.lines.find((l) => l.startsWith('up root'))!)![1]);
    const before = proc(root);
    const r = cloneTree(root);
    assert.equal(r.status, 0, r.stderr);
    assertSameShape(r.report!, [root, zombie]);
    const z = r.report!.members.find((m) => m.pid === zombie)!;
    assert.equal(z.zombieStatus, 7 << 8);
    const rc = r.report!.members[0]!.clonePid;
    const line = await t.until('the root\'s clone to run', (l) => cloneLine(l, 'root', rc));
    assert.match(line, new RegExp(`threads=${before.threads}$`));
    assert.equal(proc(root).state === 'Z', false, 'the original runs on');
    assert.equal(proc(zombie).state, 'Z', 'the original zombie is still unreaped');
  } finally {
    t.kill();
  }
});

test('session leader with a process group of 3: the clone tree has its own session and group, led by the clones', { timeout: 300_000 }, async () => {
  const t = new Tree('python3', [fixture, 'session'], { detached: true });
  try {
    const up = await t.ups(4);
    const pids = [...up.values()];
    const root = up.get('root')!;
    assert.equal(proc(root).sid, root, 'the root leads its session');
    const leader = up.get('leader')!;
    for (const r of ['member0', 'member1']) assert.equal(proc(up.get(r)!).pgid, leader, `${r} is in the leader's group`);
    const r = cloneTree(root);
    assert.equal(r.status, 0, r.stderr);
    assertSameShape(r.report!, pids);
    const clones = new Map(r.report!.members.map((m) => [m.pid, m.clonePid]));
    for (const [role, pid] of up) await t.until(`the clone of ${role}`, (l) => cloneLine(l, role, clones.get(pid)!));
    // the clone's group is its own: a signal to it reaches the three clones and none of the originals
    process.kill(-clones.get(leader)!, 'SIGKILL');
    for (const role of ['leader', 'member0', 'member1']) assert.notEqual(proc(up.get(role)!).state, 'Z', `original ${role} untouched by a signal to the clone's group`);
  } finally {
    t.kill();
  }
});

test('a root that leads its process group (not its session): its clone leads a group of its own, which its child\'s clone joins', { timeout: 300_000 }, async () => {
  const t = new Tree('python3', ['-c', 'import os, time\nos.setpgid(0, 0)\nc = os.fork()\nif c == 0:\n    time.sleep(1000)\nprint(f"up root {os.getpid()} child={c}", flush=True)\ntime.sleep(1000)']);
  try {
    const root = (await t.ups(1)).get('root')!;
    const child = Number(/child=(\d+)/.exec(t.lines[0]!)![1]);
    assert.equal(proc(root).pgid, root);
    assert.notEqual(proc(root).sid, root);
    const r = cloneTree(root);
    assert.equal(r.status, 0, r.stderr);
    assertSameShape(r.report!, [root, child]);
    assert.equal(proc(r.report!.members[0]!.clonePid).pgid, r.report!.members[0]!.clonePid);
  } finally {
    t.kill();
  }
});

test('--stopped: every clone of the tree is left stopped and untraced, and runs on SIGCONT', { timeout: 300_000 }, async () => {
  const t = new Tree('python3', [fixture, 'session'], { detached: true });
  try {
    const up = await t.ups(4);
    const r = cloneTree(up.get('root')!, ['--stopped']);
    assert.equal(r.status, 0, r.stderr);
    assertSameShape(r.report!, [...up.values()]);
    const tracer = (pid: number) => Number(/TracerPid:\s*(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]);
    for (const m of r.report!.members) {
      assert.equal(proc(m.clonePid).state, 'T', `clone ${m.clonePid} is stopped`);
      assert.equal(tracer(m.clonePid), 0, `clone ${m.clonePid} is not traced`);
    }
    assert.equal(t.lines.filter((l) => l.startsWith('clone ')).length, 0, 'no clone ran before SIGCONT');
    for (const m of r.report!.members) process.kill(m.clonePid, 'SIGCONT');
    for (const [role, pid] of up) await t.until(`the clone of ${role}`, (l) => cloneLine(l, role, r.report!.members.find((m) => m.pid === pid)!.clonePid));
  } finally {
    t.kill();
  }
});

test('pipeline bash -c "producer | consumer": the clone runs on alone after the original tree is killed, with its own pipe', { timeout: 300_000 }, async () => {
  const cmd = `python3 ${fixture} producer | python3 ${fixture} consumer`;
  const t = new Tree('bash', ['-c', cmd]);
  try {
    const up = await t.ups(2);
    const bash = t.child.pid!;
    await t.until('the consumer to get lines', (l) => l.some((x) => x.startsWith(`got ${up.get('consumer')} `)));
    const r = cloneTree(bash);
    assert.equal(r.status, 0, r.stderr);
    assertSameShape(r.report!, [bash, up.get('producer')!, up.get('consumer')!]);
    const clones = new Map(r.report!.members.map((m) => [m.pid, m.clonePid]));
    const cp = clones.get(up.get('producer')!)!;
    const cc = clones.get(up.get('consumer')!)!;
    const pipeOf = (pid: number, fd: number) => readlinkSync(`/proc/${pid}/fd/${fd}`);
    assert.match(pipeOf(cc, 0), /^pipe:/);
    assert.equal(pipeOf(cp, 1), pipeOf(cc, 0), 'the clones share one pipe');
    assert.notEqual(pipeOf(cc, 0), pipeOf(up.get('consumer')!, 0), 'and it is not the original pipe');
    // kill the whole original tree; the clone pipeline must go on
    for (const p of [bash, up.get('producer')!, up.get('consumer')!]) process.kill(p, 'SIGKILL');
    const seen = t.lines.length;
    await t.until('the clone consumer to get new lines', (l) => l.slice(seen).filter((x) => x.startsWith(`got ${cc} `)).length >= 3);
  } finally {
    t.kill();
  }
});

test('socketpair between a root and its child: the clone pair talks over a socketpair of its own, also after the originals are killed', { timeout: 300_000 }, async () => {
  const t = new Tree('python3', [fixture, 'socketpair']);
  try {
    const up = await t.ups(2);
    const root = up.get('root')!;
    const child = up.get('child')!;
    const fdOf = (role: string) => Number(/fd=(\d+)/.exec(t.lines.find((l) => l.startsWith(`up ${role} `))!)![1]);
    await t.until('an echo', (l) => l.some((x) => x.startsWith(`echo ${root} `)));
    const r = cloneTree(root);
    assert.equal(r.status, 0, r.stderr);
    assertSameShape(r.report!, [root, child]);
    const clones = new Map(r.report!.members.map((m) => [m.pid, m.clonePid]));
    assert.equal(r.report!.socketpairs.length, 1, 'one socketpair between members');
    const sock = (pid: number, fd: number) => readlinkSync(`/proc/${pid}/fd/${fd}`);
    assert.notEqual(sock(clones.get(root)!, fdOf('root')), sock(root, fdOf('root')), "the root clone's end is a new socket");
    assert.notEqual(sock(clones.get(child)!, fdOf('child')), sock(child, fdOf('child')), "the child clone's end is a new socket");
    process.kill(child, 'SIGKILL');
    process.kill(root, 'SIGKILL');
    const seen = t.lines.length;
    await t.until('echoes in the clone root', (l) => l.slice(seen).filter((x) => x.startsWith(`echo ${clones.get(root)} `)).length >= 3);
  } finally {
    t.kill();
  }
});

test('pre-fork server (master + 4 workers with threads, one listening socket): the cloned tree serves beside the original', { timeout: 300_000 }, async () => {
  const port = await freePort();
  const t = new Tree('python3', [fixture, 'prefork', String(port)]);
  try {
    const up = await t.ups(5);
    const master = up.get('master')!;
    const r = cloneTree(master);
    assert.equal(r.status, 0, r.stderr);
    assertSameShape(r.report!, [...up.values()]);
    const cloneWorkers = new Set(r.report!.members.filter((m) => m.pid !== master).map((m) => m.clonePid));
    const originalWorkers = new Set([0, 1, 2, 3].map((k) => up.get(`worker${k}`)!));
    const seen = new Set<number>();
    const end = Date.now() + 120_000;
    while (Date.now() < end && !([...cloneWorkers].some((p) => seen.has(p)) && [...originalWorkers].some((p) => seen.has(p)))) {
      seen.add(Number((await ask(port, '', /\n$/)).trim()));
    }
    assert.ok([...cloneWorkers].some((p) => seen.has(p)), `a cloned worker answered (answers from ${[...seen].join(', ')})`);
    assert.ok([...originalWorkers].some((p) => seen.has(p)), 'an original worker answered too');
  } finally {
    t.kill();
  }
});

test('a root that forks short-lived children all the time: each clone catches whatever lives or is a zombie at the instant, through the Node API too', { timeout: 300_000 }, async () => {
  const t = new Tree('python3', [fixture, 'churn']);
  try {
    const root = (await t.ups(1)).get('root')!;
    for (let i = 0; i < 2; i++) {
      const r = i % 2 ? cloneTree(root) : { status: 0, stderr: '', report: await cloneTreeApi(root) };
      assert.equal(r.status, 0, r.stderr);
      const report = r.report!;
      const rootClone = report.members[0]!.clonePid;
      for (const m of report.members.slice(1)) {
        assert.equal(m.cloneParent, rootClone, `the clone of ${m.pid} is a child of the root's clone`);
        if (m.zombieStatus !== undefined) assert.equal(m.zombieStatus, 3 << 8, `zombie ${m.pid} exited 3`);
      }
      await t.until(`the root's clone ${rootClone} to run`, (l) => cloneLine(l, 'root', rootClone));
      assert.notEqual(proc(root).state, 't', 'the original is not left traced');
      process.kill(rootClone, 'SIGKILL');
    }
  } finally {
    t.kill();
  }
});

test('a killed engine leaves the original tree running untouched and no half-made copy behind', { timeout: 300_000 }, async () => {
  const t = new Tree('python3', [fixture, 'session'], { detached: true });
  try {
    const up = await t.ups(4);
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
      const c = spawn(process.execPath, [cli, 'clone', '-p', String(up.get('root')), '--tree', '--json'], { stdio: 'ignore' });
      const exited = new Promise((r) => c.once('exit', r));
      let engine: number | undefined;
      for (const end = Date.now() + 30_000; engine === undefined && Date.now() < end; ) {
        engine = engineOf(c.pid!);
        await sleep(5);
      }
      await sleep(delayMs);
      if (engine !== undefined) {
        try {
          process.kill(engine, 'SIGKILL');
        } catch {
          // it had finished
        }
      }
      await exitedWithin(exited, 60_000);
      for (const [p, was] of before) {
        const now = proc(p);
        assert.deepEqual([now.ppid, now.pgid, now.sid, now.threads], [was.ppid, was.pgid, was.sid, was.threads], `PID ${p} as before (engine killed after ${delayMs} ms)`);
        await t.until(`PID ${p} to run again`, () => (/TracerPid:\s*0\b/.test(readFileSync(`/proc/${p}/status`, 'utf8')) && !'tT'.includes(proc(p).state) ? true : undefined), 30_000);
      }
      // a clone finished before the kill runs untraced; a half-made copy dies with its tracer (PTRACE_O_EXITKILL)
      const originals = new Set(up.values());
      for (const p of processesTagged(t.tag).filter((x) => !originals.has(x))) {
        await t.until(`copy ${p} to be untraced or gone`, () => {
          try {
            return /TracerPid:\s*0\b/.test(readFileSync(`/proc/${p}/status`, 'utf8')) ? true : undefined;
          } catch {
            return true;
          }
        }, 30_000);
        try {
          process.kill(p, 'SIGKILL');
        } catch {
          // gone
        }
      }
    }
  } finally {
    t.kill();
  }
});

test('a member in another PID namespace and a member with more privilege than its parent are refused; nothing is left changed', { timeout: 300_000 }, async () => {
  const nsTree = new Tree('bash', ['-c', 'unshare --pid --fork sleep 1000 & echo "up root $$"; wait']);
  // the parent gives up root after forking: its copy cannot make a root child
  const userTree = new Tree('python3', ['-c', 'import os, sys, time\nif os.fork() == 0:\n    time.sleep(1000)\nos.setgroups([])\nos.setresgid(65534, 65534, 65534)\nos.setresuid(65534, 65534, 65534)\nprint(f"up root {os.getpid()}", flush=True)\ntime.sleep(1000)']);
  try {
    const bash = (await nsTree.ups(1)).get('root')!;
    const sleeper = await nsTree.until('the sleep in its own PID namespace', () =>
      processesTagged(nsTree.tag).find((p) => {
        try {
          return readlinkSync(`/proc/${p}/ns/pid`) !== readlinkSync(`/proc/${bash}/ns/pid`);
        } catch {
          return false;
        }
      }),
    );
    const n = cloneTree(bash);
    assert.equal(n.status, 5, n.stderr);
    assert.match(n.stderr, new RegExp(`PID ${sleeper} .*is in another PID namespace`));
    const py = (await userTree.ups(1)).get('root')!;
    const child = await userTree.until('the root child', () => processesTagged(userTree.tag).find((p) => p !== py && /Uid:\s+0\s/.test(readFileSync(`/proc/${p}/status`, 'utf8'))));
    const u = cloneTree(py);
    assert.equal(u.status, 5, u.stderr);
    assert.match(u.stderr, new RegExp(`PID ${child} .*has other credentials than its parent ${py} \\(Uid`));
    for (const p of [bash, py, child, sleeper]) assert.equal(/TracerPid:\s*0\b/.test(readFileSync(`/proc/${p}/status`, 'utf8')), true, `PID ${p} is not left traced`);
  } finally {
    nsTree.kill();
    userTree.kill();
  }
});

test('a member that dropped to another user (as a pre-fork server\'s workers do): its clone has its ids, groups and capabilities, and runs', { timeout: 300_000 }, async () => {
  const src = [
    'import os, sys, threading, time',
    'if os.fork() == 0:',
    '    os.setgroups([65534, 100])',
    '    os.setresgid(65534, 65534, 65534)',
    '    os.setresuid(65534, 65534, 65534)',
    '    for _ in range(2): threading.Thread(target=time.sleep, args=(1000,), daemon=True).start()',
    '    me = os.getpid()',
    '    print(f"up child {me}", flush=True)',
    '    while True:',
    '        if os.getpid() != me:',
    '            me = os.getpid()',
    '            print(f"clone child {me} uid={os.getresuid()} groups={sorted(os.getgroups())}", flush=True)',
    '        time.sleep(0.02)',
    'print(f"up root {os.getpid()}", flush=True)',
    'time.sleep(1000)',
  ].join('\n');
  const t = new Tree('python3', ['-c', src]);
  try {
    const ups = await t.ups(2);
    const [root, child] = [ups.get('root')!, ups.get('child')!];
    const r = cloneTree(root);
    assert.equal(r.status, 0, r.stderr);
    const report = r.report!;
    assertSameShape(report, [root, child]);
    const c = report.members.find((m) => m.pid === child)!.clonePid;
    for (const key of ['Uid', 'Gid', 'Groups', 'CapInh', 'CapPrm', 'CapEff', 'CapBnd', 'CapAmb', 'NoNewPrivs'])
      assert.equal(statusLine(c, key), statusLine(child, key), `clone ${c} of ${child}: ${key}`);
    await t.until('the child\'s clone to run as nobody', (lines) => lines.includes(`clone child ${c} uid=(65534, 65534, 65534) groups=[100, 65534]`));
  } finally {
    t.kill();
  }
});

async function exitedWithin(p: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([p, new Promise((_r, reject) => (timer = setTimeout(() => reject(new Error(`the CLI did not exit within ${ms} ms`)), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

test('refusals: a stopped member, a member traced by someone else; the original tree runs on untouched', { timeout: 300_000 }, async () => {
  const t = new Tree('python3', [fixture, 'session'], { detached: true });
  const tracers: ChildProcess[] = [];
  try {
    const up = await t.ups(4);
    const root = up.get('root')!;
    const member = up.get('member1')!;
    const before = [...up.values()].map((p) => [p, proc(p)] as const);

    process.kill(member, 'SIGSTOP');
    await t.until('the member to stop', () => (proc(member).state === 'T' ? true : undefined));
    const s = cloneTree(root);
    assert.equal(s.status, 5, s.stderr);
    assert.match(s.stderr, new RegExp(`PID ${member} .*is stopped`));
    process.kill(member, 'SIGCONT');

    const gdb = spawn('strace', ['-p', String(member), '-o', '/dev/null'], { stdio: 'ignore' });
    tracers.push(gdb);
    await t.until('strace to attach', () => (Number(/TracerPid:\s*(\d+)/.exec(readFileSync(`/proc/${member}/status`, 'utf8'))![1]) ? true : undefined));
    const tr = cloneTree(root);
    assert.equal(tr.status, 6, tr.stderr);
    assert.match(tr.stderr, new RegExp(`PID ${member} is already traced`));
    // strace's own syscall stops put the member in 't' now and then: look once it has let go
    gdb.kill('SIGKILL');
    await t.until('strace to let go', () => (Number(/TracerPid:\s*(\d+)/.exec(readFileSync(`/proc/${member}/status`, 'utf8'))![1]) === 0 ? true : undefined));

    for (const [p, was] of before) {
      const now = proc(p);
      assert.deepEqual([now.ppid, now.pgid, now.sid, now.threads], [was.ppid, was.pgid, was.sid, was.threads], `PID ${p} as before`);
      assert.notEqual(now.state, 't', `PID ${p} not left in a tracing stop`);
    }
    assert.equal(processesTagged(t.tag).length, 4, 'no copy was left behind');
  } finally {
    for (const g of tracers) g.kill('SIGKILL');
    t.kill();
  }
});
