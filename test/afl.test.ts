// AFL++ (Debian's 4.04c) fuzzing a target whose work happens in a worker
// thread started before __AFL_INIT(): with the agent (FORKALL_FORK=all) the
// forkserver's children keep the worker and afl-fuzz finds the planted crash;
// without it every run hangs and afl-fuzz gives up.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, readdirSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { nativeArtifact, packageRoot } from '../src/native/paths.js';

const have = (cmd: string) => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
const skip = have('afl-fuzz') && have('afl-cc') ? false : 'afl++ is not installed (apt-get install afl++)';

function setup(): string {
  const dir = mkdtempSync(join(tmpdir(), 'forkall-afl-'));
  const src = join(packageRoot, 'native', 'examples', 'afl_threaded_target.c');
  const cc = spawnSync('afl-cc', ['-O0', '-pthread', '-o', join(dir, 'target'), src], {
    encoding: 'utf8',
    env: { ...process.env, AFL_QUIET: '1' },
  });
  assert.equal(cc.status, 0, cc.stderr);
  mkdirSync(join(dir, 'in'));
  writeFileSync(join(dir, 'in', 'seed'), 'AAAA');
  return dir;
}

function fuzz(dir: string, out: string, extraEnv: Record<string, string>, seconds: number) {
  // -D: deterministic stages per queue entry. From the seed AAAA, arith +5 on
  // byte 0 reaches "FAAA" (a new edge) and arith -32 on its byte 2 reaches
  // "FA!A" (the crash): a few thousand executions, not a lucky havoc draw.
  return spawnSync('afl-fuzz', ['-D', '-i', 'in', '-o', out, '-t', '500', '-V', String(seconds), '--', './target'], {
    cwd: dir,
    encoding: 'utf8',
    timeout: (seconds + 60) * 1000,
    env: {
      ...process.env,
      AFL_SKIP_CPUFREQ: '1',
      AFL_NO_AFFINITY: '1',
      AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES: '1',
      AFL_NO_UI: '1',
      AFL_BENCH_UNTIL_CRASH: '1',
      ...extraEnv,
    },
  });
}

const crashes = (dir: string, out: string) => {
  const d = join(dir, out, 'default', 'crashes');
  return existsSync(d) ? readdirSync(d).filter((f) => f.startsWith('id:')) : [];
};

test('afl-fuzz with the agent finds the crash reachable only through a worker thread', { skip, timeout: 300_000 }, () => {
  const dir = setup();
  const r = fuzz(dir, 'out', { AFL_PRELOAD: nativeArtifact('libforkall-agent.so'), FORKALL_FORK: 'all' }, 120);
  assert.equal(r.status, 0, r.stdout.slice(-2000) + r.stderr);
  assert.ok(crashes(dir, 'out').length >= 1, 'no crash saved:\n' + r.stdout.slice(-2000));
  assert.doesNotMatch(r.stdout, /All test cases time out/);
});

test('afl-fuzz without the agent: the children lose the worker and every run hangs', { skip, timeout: 300_000 }, () => {
  const dir = setup();
  const r = fuzz(dir, 'out', {}, 20);
  assert.deepEqual(crashes(dir, 'out'), []);
  assert.match(r.stdout + r.stderr, /time out|timeout/i);
});
