// Programs started through a launcher (pyenv/rbenv shims, wrapper scripts):
// the agent is preloaded into every image of the exec chain, and a snapshot
// requested at once must freeze the program, not the shell on its way to it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { spawnTemplate } from '../src/server/template.js';

const python = 'python3'; // on this machine a pyenv shim: more launcher images on the way, as a user has them

function script(dir: string, name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  chmodSync(path, 0o755);
  return path;
}

test('a snapshot requested at once through a bash launcher that runs a subprocess, then execs python3: python3 is frozen and its clone runs to the end', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'forkall-launcher-'));
  // like a pyenv shim: a command substitution (bash waits for its child), then exec
  const shim = script(dir, 'shim', `#!/bin/bash\nfound=$(sleep 0.3; echo ${python})\nexec "$found" -c 'import sys; print("from python"); sys.stdout.flush()'\n`);
  const t = await spawnTemplate(shim, [], { at: 'request', stdio: ['ignore', 'pipe', 'inherit'], timeoutMs: 60_000 });
  let out = '';
  t.process.stdout!.on('data', (d) => (out += d));
  try {
    assert.equal(await t.snapshot(), 1);
    // frozen in the program's own image: a frozen bash would be waiting for a child its clones do not have
    const exe = basename(readlinkSync(`/proc/${t.pid}/exe`));
    assert.match(exe, /^python/, `the template froze in ${exe}, not in python`);
    const c = await t.clone();
    assert.deepEqual(await c.exited, { exitCode: 0, signal: null, status: 0 });
    assert.match(out, /from python/);
  } finally {
    await t.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a shell script that is the program itself is still frozen once FORKALL_LAUNCHER_WAIT_MS has passed; its clone runs', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'forkall-launcher-'));
  const prog = script(dir, 'prog', '#!/bin/bash\nwhile read -r line; do echo "got $line"; done\n');
  const t = await spawnTemplate(prog, [], { at: 'request', stdio: ['pipe', 'pipe', 'inherit'], timeoutMs: 60_000, env: { ...process.env, FORKALL_LAUNCHER_WAIT_MS: '200' } });
  try {
    const asked = Date.now();
    assert.equal(await t.snapshot(), 1);
    assert.ok(Date.now() - asked >= 200, 'the bash image froze before its launcher wait');
    assert.equal(basename(readlinkSync(`/proc/${t.pid}/exe`)), 'bash');
    const c = await t.clone({ stdio: ['pipe', 'pipe', 'inherit'] });
    let out = '';
    c.stdout!.on('data', (d) => (out += d));
    c.stdin!.end('one\n');
    assert.deepEqual(await c.exited, { exitCode: 0, signal: null, status: 0 });
    assert.equal(out, 'got one\n');
  } finally {
    await t.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('FORKALL_LAUNCHER_WAIT_MS that is not a number of milliseconds ends the program with the agent\'s configuration status (121), naming the variable', async () => {
  const t = await spawnTemplate('bash', ['-c', 'sleep 5'], { at: 'request', stdio: ['ignore', 'ignore', 'pipe'], timeoutMs: 60_000, env: { ...process.env, FORKALL_LAUNCHER_WAIT_MS: 'soon' } });
  let err = '';
  t.process.stderr!.on('data', (d) => (err += d));
  try {
    const code = await new Promise<number | null>((resolve) => (t.process.exitCode !== null ? resolve(t.process.exitCode) : t.process.on('exit', resolve)));
    assert.equal(code, 121);
    assert.match(err, /FORKALL_LAUNCHER_WAIT_MS=soon/);
  } finally {
    await t.close();
  }
});
