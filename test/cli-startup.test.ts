// How the forkall command starts: it loads only the command it runs, and
// `forkall clone -p` runs the remote engine in its own process (no second node
// process). Correctness only: the time this saves is what `forkall bench cli`
// reports, never asserted here.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../src/native/paths.js';
import { toolBinary } from '../src/native/paths.js';
import { commandsFor } from '../src/cli/index.js';
import { waitForExit } from '../src/remote/wait-exit.js';
import { have } from './helpers/programs.js';

const cli = join(packageRoot, 'bin', 'forkall.js');
const argv = (...a: string[]) => ['node', 'forkall', ...a];

test('the command line names the one command to load; --version loads none; help or a typo loads them all', () => {
  const all = commandsFor(argv('--help'));
  assert.ok(all.includes('clone') && all.includes('bench') && all.length >= 10, all.join(','));
  assert.deepEqual(commandsFor(argv('clone', '-p', '42', '--json')), ['clone']);
  assert.deepEqual(commandsFor(argv('--json', 'clone', '-p', '42')), ['clone']);
  assert.deepEqual(commandsFor(argv('bench', 'cli', '--runs', '3')), ['bench']);
  assert.deepEqual(commandsFor(argv('help', 'doctor')), ['doctor']);
  assert.deepEqual(commandsFor(argv('--version')), []);
  assert.deepEqual(commandsFor(argv('-V')), []);
  assert.deepEqual(commandsFor(argv()), all);
  assert.deepEqual(commandsFor(argv('clnoe')), all, 'a typo: commander suggests from the full list');
});

/** Runs the command with a preload that reports, at exit, whether koffi's native addon was mapped. */
function loadsKoffi(args: string[]): { koffi: boolean; stdout: string; status: number | null } {
  const dir = mkdtempSync(join(tmpdir(), 'forkall-startup-'));
  const probe = join(dir, 'probe.cjs');
  writeFileSync(probe, `process.on('exit', () => require('fs').writeSync(2, '@@koffi ' + /koffi\\.node/.test(require('fs').readFileSync('/proc/self/maps', 'utf8')) + '\\n'));\n`);
  const r = spawnSync(process.execPath, ['-r', probe, cli, ...args], { encoding: 'utf8', timeout: 120_000 });
  const m = /@@koffi (true|false)/.exec(r.stderr);
  assert.ok(m, `the probe did not report: ${r.stderr}`);
  return { koffi: m[1] === 'true', stdout: r.stdout, status: r.status };
}

test('forkall --version and forkall bench cli --help do not load koffi; forkall clone -p does', { timeout: 180_000 }, () => {
  const v = loadsKoffi(['--version']);
  assert.equal(v.status, 0);
  assert.match(v.stdout, /^\d+\.\d+\.\d+/);
  assert.equal(v.koffi, false, '--version loaded koffi');
  const h = loadsKoffi(['bench', 'cli', '--help']);
  assert.equal(h.status, 0);
  assert.equal(h.koffi, false, 'bench cli --help loaded koffi');
  // the probe does see koffi: clone -p of a process that does not exist has run the engine's first checks
  const e = loadsKoffi(['clone', '-p', '4194300']);
  assert.equal(e.status, 4, 'no such process');
  assert.equal(e.koffi, true, 'the probe sees koffi when the engine ran');
});

test('forkall clone -p runs the engine in its own process: no other program is started (strace -f)', { skip: have('strace') ? false : 'strace is not installed', timeout: 180_000 }, async () => {
  const target = spawn(toolBinary('forkall-target'), ['4', '1', 'idle'], { stdio: ['pipe', 'pipe', 'inherit'] });
  const clones: number[] = [];
  try {
    await new Promise<void>((resolve, reject) => {
      let out = '';
      target.stdout!.on('data', (d) => {
        out += d;
        if (out.includes('READY')) resolve();
      });
      target.on('exit', (c) => reject(new Error(`forkall-target exited (${c}) before READY`)));
    });
    const log = join(mkdtempSync(join(tmpdir(), 'forkall-strace-')), 'trace');
    const r = spawnSync('strace', ['-f', '-qq', '-e', 'trace=execve,clone,clone3,fork,vfork', '-o', log, process.execPath, cli, 'clone', '-p', String(target.pid), '--json'], { encoding: 'utf8', timeout: 120_000 });
    assert.equal(r.status, 0, r.stderr);
    const report = JSON.parse(r.stdout) as { threads: number; clones: { pid: number; threads: number }[] };
    clones.push(...report.clones.map((c) => c.pid));
    assert.equal(report.clones[0]!.threads, 4);
    const trace = readFileSync(log, 'utf8');
    const execs = trace.split('\n').filter((l) => /execve\(/.test(l) && !/ENOENT/.test(l));
    assert.equal(execs.length, 1, `one program: node itself; strace saw:\n${execs.join('\n')}`);
    // every process it made is a thread of its own (CLONE_THREAD) or the injected fork's, which is the target's, not ours
    const forks = trace.split('\n').filter((l) => /\b(clone3?|fork|vfork)\(/.test(l) && !/CLONE_THREAD/.test(l));
    assert.deepEqual(forks, [], 'forkall clone started a process of its own');
  } finally {
    for (const p of clones) {
      try {
        process.kill(p, 'SIGKILL');
      } catch {
        // gone
      }
    }
    // the target is libuv's to reap (its exit event); the clones, siblings it never saw, are ours
    const targetGone = target.exitCode !== null || target.signalCode !== null ? Promise.resolve() : new Promise((r) => target.once('exit', r));
    target.kill('SIGKILL');
    await Promise.all([targetGone, ...clones.map((p) => waitForExit(p))]);
  }
});
