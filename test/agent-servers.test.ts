// Clones made by the agent run beside each other: private event objects
// (epoll, eventfd, timerfd, signalfd, self-pipes, socketpairs), servers in
// python3 and Go answering on fresh connections from two live clones, node's
// refusal naming a command that works, and `forkall run` reporting as it goes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { nativeArtifact, packageRoot } from '../src/native/paths.js';
import { spawnTemplate, type Template } from '../src/server/template.js';

const cli = join(packageRoot, 'bin', 'forkall.js');
const fixtures = join(packageRoot, 'test', 'fixtures');
const work = mkdtempSync(join(tmpdir(), 'forkall-servers-'));

function build(name: string, args: string[]): string {
  const bin = join(work, name);
  const r = spawnSync('gcc', ['-D_GNU_SOURCE', '-pthread', '-o', bin, join(fixtures, 'event_objects.c'), ...args], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return bin;
}

const eventObjects = (() => {
  let agent: string | undefined, call: string | undefined;
  return {
    agent: () => (agent ??= build('event_objects_agent', [])),
    call: () => {
      const lib = join(packageRoot, 'native', 'build', 'glibc');
      return (call ??= build('event_objects_call', ['-Wl,--no-as-needed', `-L${lib}`, `-Wl,-rpath,${lib}`, '-lforkall']));
    },
  };
})();

async function collect(t: Template): Promise<() => string> {
  let out = '';
  t.process.stdout!.on('data', (d) => (out += d));
  return () => out;
}

for (const shared of [false, true]) {
  test(`agent, ${shared ? '--shared-fds (fork sharing)' : 'default'}: a second clone ${shared ? 'sees' : 'does not see'} what the first did to each event object`, async () => {
    const t = await spawnTemplate(eventObjects.agent(), [], { at: { delayMs: 600_000 }, stdio: ['ignore', 'pipe', 'inherit'], sharedFds: shared, timeoutMs: 60_000 });
    const out = await collect(t);
    try {
      assert.equal(await t.frozenState(), 2); // main + worker; frozen at its forkall_snapshot()
      const first = await t.clone();
      assert.deepEqual(await first.exited, { exitCode: 0, signal: null, status: 0 }, out());
      const second = await t.clone();
      const r = await second.exited;
      if (!shared) {
        assert.deepEqual(r, { exitCode: 0, signal: null, status: 0 }, out());
        // inotify cannot be copied: the clone says so
        assert.ok(second.notCopied.some((x) => /inotify: shared/.test(x)), JSON.stringify(second.notCopied));
      } else {
        assert.equal(r.exitCode, 1, out());
        for (const what of ['eventfd: read 0', "pipe: read '!'", "socketpair: read ''", 'outer epoll: 0 events', 'signalfd: mask'])
          assert.ok(out().includes(`FAIL ${second.pid}: ${what}`), `expected "${what}" for ${second.pid} in:\n${out()}`);
      }
    } finally {
      await t.close();
    }
  });
}

test('C call: forkall_ex(FORKALL_PRIVATE_FDS) gives the child its own objects and the parent keeps its own; plain forkall() shares them', () => {
  const bin = eventObjects.call();
  const priv = spawnSync(bin, ['call'], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(priv.status, 0, priv.stdout + priv.stderr);
  assert.equal((priv.stdout.match(/^checked \d+$/gm) ?? []).length, 2, priv.stdout);
  const shared = spawnSync(bin, ['call-shared'], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(shared.status, 1, shared.stdout + shared.stderr);
  assert.match(shared.stdout, /FAIL \d+: eventfd: read 0/);
});
