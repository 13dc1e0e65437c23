// `forkall doctor`: what the layout rules (native/src/layout_rules.h, one
// table for both engines) discover for this machine's C libraries and for
// running processes — a glibc and a musl scenario program, a static glibc
// program, python3 — and that the remote engine's result says what could not
// be rewritten. Each inspected process must carry on unharmed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../src/native/paths.js';
import { layoutRules, parseRules, rulesFile, rulesFrom } from '../src/remote/layout-rules.js';
import { waitForExit } from '../src/remote/wait-exit.js';
import { scenarioExists, scenarioPath } from './helpers/run-scenario.js';
import { readTranscript, mismatches } from './helpers/transcript.js';
import { heldThreads, have } from './helpers/programs.js';
import { waitFor } from './helpers/wait.js';

const cli = join(packageRoot, 'bin', 'forkall.js');
const forkall = (args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', timeout: 120_000 });
const doctorJson = (args: string[]) => {
  const r = forkall(['doctor', ...args, '--json']);
  assert.ok(r.status === 0 || r.status === 1, `forkall doctor ${args.join(' ')}: exit ${r.status}: ${r.stderr}`);
  const report = JSON.parse(r.stdout);
  assert.equal(r.status, report.degrades.length ? 1 : 0, 'exit 1 exactly when something degrades');
  return report;
};

/** Starts a program and resolves once it printed `marker` on stdout. */
async function startUntil(cmd: string, args: string[], env: NodeJS.ProcessEnv, marker: RegExp): Promise<{ child: ChildProcess; out: () => string }> {
  const child = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (err += d));
  await waitFor(`${cmd} to print ${marker} (stderr: ${err})`, () => marker.test(out) || child.exitCode !== null);
  assert.match(out, marker, `${cmd} exited (${child.exitCode}) before ${marker}; stderr: ${err}`);
  return { child, out: () => out };
}

async function end(child: ChildProcess) {
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await waitForExit(child.pid!);
}

test('the rules table parses completely and is the file the C engine includes', () => {
  const text = readFileSync(rulesFile, 'utf8');
  const defines = text.split('\n').filter((l) => l.startsWith('#define FA_RULE_'));
  assert.equal(parseRules(text).size, defines.length, 'every FA_RULE_ line has the accepted form');
  const r = layoutRules();
  assert.ok(r.descTidScan.end > r.descTidScan.start && r.ownerLockWindow > 0);
  // a rule missing from the table is an error naming it, never a silent default
  const without = text.replace(/^#define FA_RULE_OWNER_LOCK_WINDOW .*$/m, '');
  assert.throws(() => rulesFrom(without, 'x.h'), /x\.h: rule FA_RULE_OWNER_LOCK_WINDOW is missing/);
  const mistyped = text.replace(/^#define FA_RULE_GLIBC_SONAME .*$/m, '#define FA_RULE_GLIBC_SONAME 6');
  assert.throws(() => rulesFrom(mistyped, 'x.h'), /FA_RULE_GLIBC_SONAME is missing or not a string/);
  for (const c of ['layout.c', 'owners.c'])
    assert.match(readFileSync(join(packageRoot, 'native', 'src', c), 'utf8'), /#include "layout_rules\.h"/, `${c} uses the table`);
});

test('forkall doctor (this machine): each libc probe reports its layout; static glibc names the ld.so locks it cannot find', () => {
  const r = doctorJson([]);
  const by = (name: string) => r.libcs.find((l: { name: string }) => l.name === name);
  const g = by('glibc (dynamic)');
  assert.equal(g.ok, true, g.error);
  assert.equal(g.libc, 'glibc');
  assert.match(g.version, /^\d+\.\d+/);
  assert.ok(Number.isInteger(g.descTidOffset) && g.descTidOffset > 0, JSON.stringify(g));
  assert.equal(g.robustListRegistered, true);
  assert.ok(g.ldsoLocks && g.ldsoLocks.bytes > 0, 'ld.so lock region of dynamic glibc');
  assert.deepEqual(g.warnings, []);
  if (r.kernel.rseq) assert.ok(g.rseq && g.rseq.size >= 20, 'glibc >= 2.35 registers rseq');
  const s = by('glibc (static)');
  assert.equal(s.ok, true, s.error);
  assert.equal(s.libc, 'glibc');
  assert.equal(s.ldsoLocks, null);
  assert.ok(r.degrades.some((d: string) => d.startsWith('glibc (static):') && /ld\.so/.test(d)), JSON.stringify(r.degrades));
  const m = by('musl (static)');
  if (m.ok) {
    assert.equal(m.libc, 'musl');
    assert.ok(m.descTidOffset > 0 && m.ownerListOffset > 0 && Number.isInteger(m.ownerLockOffset), JSON.stringify(m));
    assert.equal(m.robustListRegistered, false, 'musl registers its list only after a robust mutex');
  } else assert.match(m.error, /not built/);
  for (const k of ['rseq', 'clone3', 'clone3SetTid', 'pidfdGetfd', 'userfaultfd']) assert.equal(typeof r.kernel[k], 'boolean', k);
  assert.ok(r.kernel.yamaPtraceScope === null || Number.isInteger(r.kernel.yamaPtraceScope));
  const text = forkall(['doctor']);
  assert.match(text.stdout, /descriptor TID offset \d+/);
  assert.match(text.stdout, /will degrade:/);
});

for (const flavour of ['glibc', 'musl'] as const) {
  test(`forkall doctor -p on the ${flavour} owner_locks scenario: libc, TID fields, owner list; the program then runs on unharmed`, { skip: scenarioExists('owner_locks', flavour) ? false : 'musl-gcc not installed: no musl build', timeout: 120_000 }, async () => {
    const out = mkdtempSync(join(tmpdir(), 'forkall-doctor-'));
    const { child } = await startUntil(scenarioPath('owner_locks', flavour), [], { FORKALL_SCENARIO_ENGINE: 'external', FORKALL_SCENARIO_OUT: out }, /READY \d+/);
    try {
      const machine = doctorJson([]);
      const probe = machine.libcs.find((l: { name: string }) => l.name === (flavour === 'glibc' ? 'glibc (dynamic)' : 'musl (static)'));
      const r = doctorJson(['-p', String(child.pid)]);
      const p = r.process;
      assert.equal(p.libc.kind, flavour);
      assert.equal(p.libc.linkage, flavour === 'glibc' ? 'dynamic' : 'static');
      assert.ok(p.threads.length >= 2, JSON.stringify(p.threads));
      // one table, two engines: the remote discovery agrees with the C engine's under the same libc
      for (const t of p.threads) assert.equal(t.descTidOffset, probe.descTidOffset, `tid ${t.tid}`);
      if (flavour === 'musl') {
        assert.equal(p.ownerListOffset, probe.ownerListOffset);
        // owner_locks holds an errorcheck mutex in a worker: the lock word is found from it, not assumed
        assert.equal(p.ownerLockOffset, probe.ownerLockOffset);
      } else {
        assert.ok(p.ldsoLockRegions.length > 0);
        assert.ok(p.libcRwlockRegions.some((r: string) => r.endsWith('libc.so.6')), JSON.stringify(p.libcRwlockRegions));
      }
      assert.deepEqual(p.warnings, []);
      assert.deepEqual(heldThreads(child.pid!), [], 'threads left stopped or traced');
      child.stdin!.write('g'); // carry on as the original
      const exit = await new Promise<number | null>((res) => (child.exitCode !== null ? res(child.exitCode) : child.once('exit', (c) => res(c))));
      assert.equal(exit, 0);
      const t = readTranscript(join(out, 'parent.log'));
      assert.ok(t, 'the inspected program wrote its transcript');
      assert.deepEqual(mismatches(t!), [], 'the inspected program\'s own checks');
    } finally {
      await end(child);
    }
  });
}

test('a static glibc program is told from musl by its marks; doctor and forkall clone both say what degrades', { skip: have('gcc') ? false : 'gcc is not installed', timeout: 120_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'forkall-static-'));
  writeFileSync(
    join(dir, 'p.c'),
    '#include <pthread.h>\n#include <stdio.h>\n#include <unistd.h>\nstatic void *w(void *a) { for (;;) pause(); return a; }\nint main(void) { pthread_t t; pthread_create(&t, 0, w, 0); printf("READY\\n"); fflush(stdout); for (;;) pause(); }\n',
  );
  const cc = spawnSync('gcc', ['-static', '-O2', '-pthread', '-o', join(dir, 'p'), join(dir, 'p.c')], { encoding: 'utf8' });
  assert.equal(cc.status, 0, cc.stderr);
  const { child } = await startUntil(join(dir, 'p'), [], {}, /READY/);
  let clone = 0;
  try {
    const r = doctorJson(['-p', String(child.pid)]);
    assert.equal(r.process.libc.kind, 'glibc', JSON.stringify(r.process.libc));
    assert.equal(r.process.libc.linkage, 'static');
    assert.ok(r.process.threads.every((t: { descTidOffset: number | null }) => t.descTidOffset !== null));
    assert.ok(r.degrades.some((d: string) => /static glibc/.test(d) && /ld\.so/.test(d)), JSON.stringify(r.degrades));
    const c = forkall(['clone', '-p', String(child.pid), '--json']);
    assert.equal(c.status, 0, c.stderr);
    const made = JSON.parse(c.stdout);
    clone = made.clones[0].pid;
    assert.ok(made.warnings.some((w: string) => /static glibc/.test(w)), `the remote result says what was not rewritten: ${JSON.stringify(made.warnings)}`);
    const text = forkall(['clone', '-p', String(child.pid)]);
    const textClones = text.stdout.split('\n').flatMap((line) => {
      const m = /^(\d+)\s+\d+\s+\d+\s+running$/.exec(line.replace(/[│|]/g, ' ').trim());
      return m ? [Number(m[1])] : [];
    });
    for (const pid of textClones) process.kill(pid, 'SIGKILL'); // they share our pipe to the program
    assert.equal(text.status, 0, text.stderr);
    assert.equal(textClones.length, 1, text.stdout);
    assert.match(text.stderr, /warning: .*static glibc.*forkall doctor -p/);
    const exact = forkall(['clone', '-p', String(child.pid), '--exact-tids', '--json']);
    assert.equal(exact.status, 0, exact.stderr);
    const ex = JSON.parse(exact.stdout);
    assert.deepEqual(ex.warnings, [], 'nothing is rewritten with exact TIDs, so nothing degrades');
    process.kill(ex.clones[0].pid, 'SIGKILL');
  } finally {
    if (clone) {
      try {
        process.kill(clone, 'SIGKILL');
      } catch {
        // gone
      }
    }
    await end(child);
  }
});

test('a dynamic musl program is told by its interpreter (maps show musl under its real name, libc.so)', { skip: have('musl-gcc') ? false : 'musl-gcc is not installed', timeout: 120_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'forkall-musl-dyn-'));
  writeFileSync(
    join(dir, 'p.c'),
    '#include <pthread.h>\n#include <stdio.h>\n#include <unistd.h>\nstatic void *w(void *a) { for (;;) pause(); return a; }\nint main(void) { pthread_t t; pthread_create(&t, 0, w, 0); printf("READY\\n"); fflush(stdout); for (;;) pause(); }\n',
  );
  const cc = spawnSync('musl-gcc', ['-O2', '-pthread', '-o', join(dir, 'p'), join(dir, 'p.c')], { encoding: 'utf8' });
  assert.equal(cc.status, 0, cc.stderr);
  const { child } = await startUntil(join(dir, 'p'), [], {}, /READY/);
  try {
    const probe = doctorJson([]).libcs.find((l: { name: string }) => l.name === 'musl (static)');
    const r = doctorJson(['-p', String(child.pid)]);
    assert.equal(r.process.libc.kind, 'musl', JSON.stringify(r.process.libc));
    assert.equal(r.process.libc.linkage, 'dynamic');
    assert.match(r.process.libc.evidence, /interpreter .*ld-musl-/);
    if (probe.ok) {
      assert.equal(r.process.libc.version, probe.version, 'the same musl as the static probe\'s');
      for (const t of r.process.threads) assert.equal(t.descTidOffset, probe.descTidOffset, `tid ${t.tid}`);
      assert.equal(r.process.ownerListOffset, probe.ownerListOffset);
    }
    assert.deepEqual(r.degrades, []);
    assert.deepEqual(heldThreads(child.pid!), []);
  } finally {
    await end(child);
  }
});

test('forkall doctor -p on python3 with a worker thread: dynamic glibc, every thread\'s TID field, nothing degrades', { skip: have('python3') ? false : 'python3 is not installed', timeout: 120_000 }, async () => {
  const { child } = await startUntil('python3', ['-c', 'import threading,time\nthreading.Thread(target=time.sleep, args=(600,), daemon=True).start()\nprint("READY", flush=True)\ntime.sleep(600)'], {}, /READY/);
  try {
    const r = doctorJson(['-p', String(child.pid)]);
    assert.equal(r.process.libc.kind, 'glibc');
    assert.equal(r.process.libc.linkage, 'dynamic');
    assert.match(r.process.libc.version, /^\d+\.\d+/);
    assert.equal(r.process.threads.length, 2);
    assert.ok(r.process.threads.every((t: { descTidOffset: number | null; robustList: boolean }) => t.descTidOffset !== null && t.robustList));
    assert.deepEqual(r.degrades, []);
    assert.deepEqual(heldThreads(child.pid!), []);
    assert.equal(child.exitCode, null, 'python3 still running');
  } finally {
    await end(child);
  }
});

test('forkall doctor: bad -p values and missing processes give their exit codes; --help teaches', () => {
  const bad = forkall(['doctor', '-p', 'abc']);
  assert.equal(bad.status, 2, bad.stderr);
  const gone = forkall(['doctor', '-p', '4194303']);
  assert.equal(gone.status, 4, gone.stderr);
  assert.match(gone.stderr, /4194303/);
  const help = forkall(['doctor', '--help']);
  assert.equal(help.status, 0);
  assert.match(help.stdout, /Examples:/);
  assert.match(help.stdout, /Exit codes:/);
  assert.match(help.stdout, /layout_rules\.h/);
});

test('the C engine says what it could not discover: forkall_warnings() is empty under dynamic glibc, names ld.so under static glibc, and forkall() still works', { skip: have('gcc') ? false : 'gcc is not installed', timeout: 120_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'forkall-warnings-'));
  const src = join(dir, 'w.c');
  writeFileSync(
    src,
    '#include <forkall.h>\n#include <stdio.h>\n#include <sys/wait.h>\n#include <unistd.h>\n' +
      'int main(void) { pid_t p = forkall(); if (p == 0) _exit(7); int st = 0; waitpid(p, &st, 0);\n' +
      '  printf("%d|%s|%s\\n", WEXITSTATUS(st), forkall_warnings(), forkall_diagnostics()); return 0; }\n',
  );
  const build = join(packageRoot, 'native', 'build', 'glibc');
  const inc = join(packageRoot, 'native', 'include');
  const variants = [
    { name: 'dynamic', args: ['-o', join(dir, 'dyn'), src, `-I${inc}`, `-L${build}`, `-Wl,-rpath,${build}`, '-lforkall', '-pthread'], bin: join(dir, 'dyn') },
    { name: 'static', args: ['-static', '-o', join(dir, 'sta'), src, `-I${inc}`, join(build, 'libforkall.a'), '-pthread'], bin: join(dir, 'sta') },
  ];
  for (const v of variants) {
    const cc = spawnSync('gcc', v.args, { encoding: 'utf8' });
    assert.equal(cc.status, 0, cc.stderr);
    const r = spawnSync(v.bin, [], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 0, r.stderr);
    const [code, warnings, diag] = r.stdout.trim().split('|');
    assert.equal(code, '7', `${v.name}: the child of forkall() ran`);
    const d = JSON.parse(diag!);
    assert.equal(d.libc, 'glibc');
    if (v.name === 'dynamic') {
      assert.equal(warnings, '', 'nothing missing under dynamic glibc');
      assert.equal(d.ldsoLocks, true);
    } else {
      assert.match(warnings!, /ld\.so's recursive locks .* not found/);
      assert.equal(d.ldsoLocks, false);
      assert.equal(d.warnings.length, 1);
    }
  }
});
