// The forkall command: demo, bench plumbing and usage errors. Correctness only:
// no timing is asserted here (speed is what `forkall bench` reports).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { packageRoot } from '../src/native/paths.js';
import { have } from './helpers/programs.js';

const cli = join(packageRoot, 'bin', 'forkall.js');

function forkall(args: string[]) {
  const r = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', timeout: 180_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('forkall demo --json verifies every thread of every clone', () => {
  const r = forkall(['demo', '--clones', '4', '--json']);
  assert.equal(r.code, 0, r.stderr + r.stdout);
  const report = JSON.parse(r.stdout);
  assert.equal(report.ok, true, report.reason);
  assert.equal(report.clones.length, 4);
  assert.equal(report.threads.length, 5);
  for (const c of report.clones) assert.equal(c.threads, report.original.threads, `clone ${c.index} thread count`);
  assert.equal(report.checks.length, 4 * 5);
  assert.ok(report.checks.every((k: { resumed: boolean; same: boolean }) => k.resumed && k.same));
  assert.ok(report.timing.forkallMedianUs > 0 && report.timing.forkMedianUs > 0);
});

test('forkall demo prints a table and says verified', () => {
  const r = forkall(['demo']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /verified: every thread resumed in every clone/);
  assert.match(r.stdout, /waiting on a condition variable/);
});

test('forkall bench --json reports every configuration with the documented fields', () => {
  const dir = mkdtempSync(join(tmpdir(), 'forkall-bench-'));
  const svg = join(dir, 'chart.svg');
  const r = forkall(['bench', '--threads', '1,3', '--rss-mb', '1', '--runs', '3', '--exact', '--json', '--svg', svg]);
  assert.equal(r.code, 0, r.stderr);
  const { results } = JSON.parse(r.stdout);
  assert.equal(results.length, 2);
  for (const row of results) {
    for (const k of ['threads', 'rssMb', 'forkUs', 'floorUs', 'forkallUs', 'ratio', 'exactUs']) assert.equal(typeof row[k], 'number', k);
    assert.ok(Math.abs(row.ratio - row.forkallUs / row.floorUs) < 0.01);
  }
  assert.deepEqual(results.map((x: { threads: number }) => x.threads), [1, 3]);
  assert.match(readFileSync(svg, 'utf8'), /^<svg[\s\S]*forkall, 1 MB[\s\S]*<\/svg>\n$/);
});

test('bad flags exit 2 with a message naming the flag', () => {
  const a = forkall(['demo', '--clones', 'x']);
  assert.equal(a.code, 2);
  assert.match(a.stderr, /--clones/);
  const b = forkall(['bench', '--threads', '8,a']);
  assert.equal(b.code, 2);
  assert.match(b.stderr, /--threads/);
  const c = forkall(['no-such-command']);
  assert.equal(c.code, 2);
});

test('--help teaches with examples', () => {
  const r = forkall(['demo', '--help']);
  assert.equal(r.code, 0);
  assert.match(r.stdout, /Examples:/);
});

test('forkall bench server --json reports every rate for every configuration; --svg charts them', () => {
  const svg = join(mkdtempSync(join(tmpdir(), 'forkall-bench-server-')), 'server.svg');
  const r = forkall(['bench', 'server', '--threads', '2', '--rss-mb', '2', '--clones', '5', '--exec-runs', '2', '--json', '--svg', svg]);
  assert.equal(r.code, 0, r.stderr);
  const chart = readFileSync(svg, 'utf8');
  assert.match(chart, /^<svg/);
  for (const name of ['template, 2 MB', 'compacted template, 2 MB', 'fork server, 2 MB', 'exec per run, 2 MB']) assert.ok(chart.includes(name), name);
  const { results } = JSON.parse(r.stdout);
  assert.equal(results.length, 1);
  for (const k of ['templatePerSec', 'compactPerSec', 'forkServerPerSec', 'execPerSec', 'templateCloneUs'])
    assert.ok(results[0][k] > 0, k);
});

test('forkall bench remote --json reports remote, held and in-process medians per thread count', () => {
  const r = forkall(['bench', 'remote', '--threads', '1,4', '--runs', '3', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const { results } = JSON.parse(r.stdout);
  assert.deepEqual(results.map((x: { threads: number }) => x.threads), [1, 4]);
  for (const x of results) {
    assert.equal(x.runs, 3);
    assert.equal(x.target, 'c');
    for (const k of ['remoteUs', 'heldUs', 'inProcessUs']) assert.ok(x[k] > 0, `${k} of ${x.threads} threads`);
    assert.equal(x.totalUs, x.remoteUs);
    assert.ok(x.heldUs <= x.remoteUs, 'the original is held for part of the clone, not longer');
    assert.ok(x.heldUs <= x.heldP99Us && x.heldP99Us <= x.heldMaxUs, `held median ${x.heldUs} <= p99 ${x.heldP99Us} <= max ${x.heldMaxUs}`);
    assert.deepEqual(Object.keys(x.phasesUs), ['preflight', 'seize', 'maps', 'capture', 'fds', 'fork', 'release', 'build']);
  }
  const bad = forkall(['bench', 'remote', '--runs', '0']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--runs/);
  const badTarget = forkall(['bench', 'remote', '--target', 'c,ruby']);
  assert.equal(badTarget.code, 2);
  assert.match(badTarget.stderr, /--target takes c, python3, java, node .*got 'c,ruby'/);
});

test('forkall bench remote --target python3,node clones real runtimes and reports every step; a runtime not installed is skipped with a line', { timeout: 300_000 }, () => {
  const r = forkall(['bench', 'remote', '--target', 'python3,node', '--runs', '2', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const { results, skipped } = JSON.parse(r.stdout) as { results: Record<string, number | string | Record<string, number>>[]; skipped: string[] };
  const expected = have('python3') ? ['python3', 'node'] : ['node'];
  assert.deepEqual(results.map((x) => x.target), expected, `skipped: ${skipped.join('; ')}`);
  for (const x of results) {
    assert.ok((x.threads as number) >= 2, `${x.target} has threads`);
    for (const k of ['totalUs', 'heldUs', 'inProcessUs']) assert.ok((x[k] as number) > 0, `${k} of ${x.target}`);
    assert.ok((x.heldUs as number) <= (x.totalUs as number));
    assert.ok(Object.values(x.phasesUs as Record<string, number>).every((v) => v >= 0) && 'build' in (x.phasesUs as object));
  }
  // a runtime that is not there: PATH without python3 (node is run by its full path)
  const noPython = spawnSync(process.execPath, [cli, 'bench', 'remote', '--target', 'python3', '--runs', '1'], { encoding: 'utf8', timeout: 120_000, env: { ...process.env, PATH: '/nonexistent' } });
  assert.equal(noPython.status, 0, noPython.stderr);
  assert.match(noPython.stdout, /^skipped: python3: 'python3' is not installed/m);
});

test('forkall bench cli --json times node -e 0, --version and clone -p of a C and a python3 target side by side', { timeout: 300_000 }, () => {
  const r = forkall(['bench', 'cli', '--runs', '2', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const { results, skipped } = JSON.parse(r.stdout) as { results: { name: string; runs: number; medianMs: number; minMs: number; maxMs: number; vsNode: number }[]; skipped: string[] };
  const names = results.map((x) => x.name);
  assert.deepEqual(names.slice(0, 3), ['node -e 0', 'forkall --version', 'forkall clone -p <C, 16 threads>']);
  if (have('python3')) assert.match(names[3] ?? '', /^forkall clone -p <python3, 5 threads>$/);
  else assert.match(skipped.join('\n'), /python3/);
  for (const x of results) {
    assert.equal(x.runs, 2);
    assert.ok(x.minMs > 0 && x.minMs <= x.medianMs && x.medianMs <= x.maxMs, JSON.stringify(x));
  }
  assert.equal(results[0]!.vsNode, 1);
  const bad = forkall(['bench', 'cli', '--runs', 'x']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--runs/);
});
