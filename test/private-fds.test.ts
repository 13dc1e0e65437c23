// What the remote engine's private event objects look like from outside: a
// clone's descriptors at the same numbers are new objects with the original's
// state (fdinfo), the original's are left as they were, what cannot be copied
// faithfully is named in --json, and --shared-fds gives fork's sharing back.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitForExit } from '../src/remote/wait-exit.js';
import { packageRoot } from '../src/native/paths.js';
import { have, heldThreads } from './helpers/programs.js';

const cli = join(packageRoot, 'bin', 'forkall.js');
const fixture = join(packageRoot, 'test', 'fixtures', 'py_event_objects.py');

function startFixture(dir: string): Promise<{ pid: number; fds: number[] }> {
  const p = spawn('python3', [fixture, dir], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the fixture did not print READY within 30 s')), 30_000);
    p.stdout!.on('data', (d) => {
      out += d;
      const m = /READY ([-\d ]+)\n/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ pid: p.pid!, fds: m[1]!.trim().split(' ').map(Number) });
      }
    });
    p.on('exit', (code) => reject(new Error(`the fixture exited (${code}) before READY`)));
  });
}

const fdinfo = (pid: number, fd: number) => readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8');
const link = (pid: number, fd: number) => readlinkSync(`/proc/${pid}/fd/${fd}`);
/** epoll items as "tfd events data" (inode and device differ between copies) */
const items = (pid: number, fd: number) => [...fdinfo(pid, fd).matchAll(/^tfd:\s*(\d+) events:\s*(\S+) data:\s*(\S+)/gm)].map((m) => `${m[1]} ${m[2]} ${m[3]}`).sort();
const field = (text: string, name: string) => new RegExp(`^${name}:\\s*(.*)$`, 'm').exec(text)?.[1];

async function end(...pids: number[]) {
  for (const p of pids) {
    try {
      process.kill(p, 'SIGKILL');
    } catch {
      // gone
    }
  }
  for (const p of pids) await waitForExit(p, 20);
}

test('private event objects: new objects at the same numbers with the original\'s state; the uncopyable named; --shared-fds shares', { skip: have('python3') ? false : 'python3 is not installed', timeout: 120_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'forkall-private-fds-'));
  const { pid, fds } = await startFixture(dir);
  const [ep, efd, r, w, ino, ring, oneshot] = fds as [number, number, number, number, number, number, number];
  const clones: number[] = [];
  try {
    const before = { items: items(pid, ep), efd: fdinfo(pid, efd), r: link(pid, r) };
    const res = spawnSync(process.execPath, [cli, 'clone', '-p', String(pid), '--json'], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(res.status, 0, res.stderr);
    const c = JSON.parse(res.stdout).clones[0];
    clones.push(c.pid);
    assert.equal(c.privateFds, 6, `epoll, eventfd, inotify, 2 pipes, socketpair: ${JSON.stringify(c)}`);
    // new objects at the same numbers, same state
    assert.notEqual(link(c.pid, r), link(pid, r), 'the clone has a pipe of its own');
    assert.equal(link(c.pid, r), link(c.pid, w), 'both ends in the clone are one new pipe');
    assert.notEqual(field(fdinfo(c.pid, efd), 'eventfd-id'), field(fdinfo(pid, efd), 'eventfd-id'), 'the clone has an eventfd of its own');
    assert.equal(field(fdinfo(c.pid, efd), 'eventfd-count')!.trim(), '3');
    assert.equal(field(fdinfo(c.pid, efd), 'flags'), field(fdinfo(pid, efd), 'flags'), 'O_NONBLOCK / O_CLOEXEC as in the original');
    // the same interest list (fd, events, data), but for the fired one-shot item: the
    // kernel adds EPOLLERR|EPOLLHUP to an item added again (named below)
    const fired = (l: string[]) => l.find((x) => x.startsWith(`${oneshot} `));
    assert.equal(fired(before.items), `${oneshot} 40000000 ${oneshot.toString(16)}`, 'the one-shot item had fired in the original');
    assert.equal(fired(items(c.pid, ep)), `${oneshot} 40000018 ${oneshot.toString(16)}`);
    assert.deepEqual(items(c.pid, ep).filter((x) => x !== fired(items(c.pid, ep))), before.items.filter((x) => x !== fired(before.items)));
    assert.equal(items(c.pid, ep).length, 4);
    assert.match(fdinfo(c.pid, ino), /^inotify wd:1 .* mask:100 /m, 'the inotify watch, with its number and mask');
    // named: the queued inotify event and the io_uring instance
    const named = (c.notCopied as { fd: number; kind: string; effect: string }[]).map((n) => `${n.fd} ${n.kind} ${n.effect}`);
    assert.ok(named.includes(`${ino} inotify approximate`), `queued inotify events named: ${named}`);
    assert.ok(named.includes(`${ep} epoll item approximate`), `the fired one-shot item named: ${named}`);
    if (ring >= 0) {
      assert.ok(named.includes(`${ring} io_uring shared`), `io_uring named: ${named}`);
      assert.equal(link(c.pid, ring), link(pid, ring), 'the io_uring instance is shared');
    }
    // the original as it was
    assert.deepEqual(items(pid, ep), before.items);
    assert.equal(fdinfo(pid, efd), before.efd);
    assert.equal(link(pid, r), before.r);
    assert.deepEqual(heldThreads(pid), []);

    const shared = spawnSync(process.execPath, [cli, 'clone', '-p', String(pid), '--shared-fds', '--json'], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(shared.status, 0, shared.stderr);
    const s = JSON.parse(shared.stdout).clones[0];
    clones.push(s.pid);
    assert.equal(s.privateFds, undefined);
    assert.equal(s.notCopied, undefined);
    assert.equal(link(s.pid, r), link(pid, r), '--shared-fds: the same pipe');
    assert.equal(field(fdinfo(s.pid, efd), 'eventfd-id'), field(fdinfo(pid, efd), 'eventfd-id'), '--shared-fds: the same eventfd');
  } finally {
    await end(pid, ...clones);
    rmSync(dir, { recursive: true, force: true });
  }
});
