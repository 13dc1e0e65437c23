// The Node API as a user sees it, through the package entry only: one error
// class for every engine (with the code and the PID at fault), one exit shape
// for every API that reports how a process ended, and no test helpers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import * as api from '../src/index.js';
import { AgentError, cloneProcess, ForkallError, RemoteError, spawnTemplate, unfork, UnforkError, waitForExit, type Template } from '../src/index.js';
import { have } from './helpers/programs.js';

/** A PID no process has now (counting down from the kernel's maximum). */
function unusedPid(): number {
  let pid = Number(readFileSync('/proc/sys/kernel/pid_max', 'utf8')) - 1;
  while (existsSync(`/proc/${pid}`)) pid--;
  return pid;
}

function end(child: ChildProcess | undefined): void {
  try {
    if (child?.pid && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  } catch {
    // gone
  }
}

test('a remote failure is a ForkallError (RemoteError) with its code and the PID at fault', { timeout: 120_000 }, async () => {
  const pid = unusedPid();
  await assert.rejects(cloneProcess(pid), (e: unknown) => {
    assert.ok(e instanceof ForkallError, `not a ForkallError: ${String(e)}`);
    assert.ok(e instanceof RemoteError);
    assert.equal(e.code, 'no-such-process');
    assert.equal(e.pid, pid);
    return true;
  });
});

test('an unfork failure is a ForkallError (UnforkError) with its code and the PID at fault', { timeout: 60_000 }, async () => {
  const pid = unusedPid();
  await assert.rejects(unfork(pid), (e: unknown) => {
    assert.ok(e instanceof ForkallError, `not a ForkallError: ${String(e)}`);
    assert.ok(e instanceof UnforkError);
    assert.equal(e.code, 'no-such-process');
    assert.equal(e.pid, pid);
    return true;
  });
});

test('an agent failure is a ForkallError (AgentError) with its code and the template PID', { timeout: 120_000 }, async () => {
  const t = await spawnTemplate('sh', ['-c', 'exit 3'], { stdio: 'ignore', timeoutMs: 60_000 });
  try {
    await assert.rejects(t.snapshot(), (e: unknown) => {
      assert.ok(e instanceof ForkallError, `not a ForkallError: ${String(e)}`);
      assert.ok(e instanceof AgentError);
      assert.equal(e.code, 'template-ended');
      assert.equal(e.pid, t.process.pid);
      return true;
    });
  } finally {
    await t.close();
  }
});

test("a Template clone's exited is a ProcessExit (with the raw status)", { timeout: 120_000 }, async (ctx) => {
  if (!have('python3')) return ctx.skip('python3 is not installed');
  let t: Template | undefined;
  try {
    // the interpreter itself, not a wrapper script (a pyenv shim): a snapshot asked for at once
    // would otherwise freeze the shell script on its way to exec python
    const python = spawnSync('python3', ['-c', 'import sys; print(sys.executable)'], { encoding: 'utf8' }).stdout.trim() || 'python3';
    t = await spawnTemplate(python, ['-c', 'import time; time.sleep(60)'], { stdio: 'ignore', timeoutMs: 60_000 });
    await t.snapshot();
    const c = await t.clone();
    c.kill('SIGTERM');
    const r = await c.exited;
    assert.deepEqual(Object.keys(r).sort(), ['exitCode', 'signal', 'status']);
    assert.deepEqual([r.exitCode, r.signal], [null, 'SIGTERM']);
    // readonly to callers: the getters have no setters
    assert.throws(() => ((t as unknown as { pid: number }).pid = 1), TypeError);
  } finally {
    await t?.close();
  }
});

test('waitForExit resolves to a ProcessExit: the signal by name', { timeout: 120_000 }, async () => {
  // the clone is the target's sibling: a child of this process that libuv does not reap
  const target = spawn('sleep', ['60'], { stdio: 'ignore' });
  let clonePid: number | undefined;
  try {
    await new Promise((r) => target.once('spawn', r));
    const [c] = await cloneProcess(target.pid!);
    clonePid = c!.pid;
    process.kill(clonePid, 'SIGKILL');
    const r = await waitForExit(clonePid);
    clonePid = undefined;
    assert.deepEqual(r, { exitCode: null, signal: 'SIGKILL' });
  } finally {
    if (clonePid !== undefined) {
      try {
        process.kill(clonePid, 'SIGKILL');
      } catch {
        // gone
      }
      await waitForExit(clonePid);
    }
    end(target);
  }
});

test('the package entry exports no test helpers', () => {
  for (const name of ['scenarioBinary', 'packageRoot', 'toolBinary']) assert.ok(!(name in api), `${name} is exported`);
  assert.equal(typeof api.ForkallError, 'function');
});
