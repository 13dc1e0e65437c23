// Limits and bad input: a request the machine cannot hold, a list no one
// means, a malformed request on the serve socket. Each gets a clean message
// naming what was wrong and a meaningful exit status or protocol error —
// never a crash or an internal error text.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { connect } from 'node:net';
import { freemem } from 'node:os';
import { join } from 'node:path';
import { packageRoot, toolBinary } from '../src/native/paths.js';
import { waitFor } from './helpers/wait.js';

const cli = join(packageRoot, 'bin', 'forkall.js');
const forkall = (args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', timeout: 120_000 });
/** More MB than this machine has available now (at least the 100,000 of the report). */
const tooMuchMb = () => Math.max(100_000, Math.ceil(freemem() / 2 ** 20) + 4096);

test('forkall bench --rss-mb beyond the available memory: exit 2, a message naming --rss-mb and out of memory, no crash', () => {
  const mb = tooMuchMb();
  const r = forkall(['bench', '--threads', '1', '--rss-mb', String(mb), '--runs', '1']);
  assert.equal(r.signal, null, `killed by ${r.signal}`);
  assert.equal(r.status, 2, r.stderr);
  assert.match(r.stderr, new RegExp(`--rss-mb ${mb} is more memory than this machine has available \\(\\d+ MB\\): out of memory`));
  const s = forkall(['bench', 'server', '--threads', '1', '--rss-mb', String(mb), '--clones', '1']);
  assert.equal(s.status, 2, s.stderr);
  assert.match(s.stderr, /--rss-mb .*out of memory/);
});

test('the bench driver itself, asked for more memory than there is: exit 3 with ENOMEM, not SIGSEGV', () => {
  const mb = tooMuchMb();
  const r = spawnSync(toolBinary('forkall-bench'), ['1', String(mb), '1'], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.signal, null, `forkall-bench was killed by ${r.signal}`);
  assert.equal(r.status, 3, r.stderr);
  assert.match(r.stderr, new RegExp(`RSS_MB ${mb} is more than this machine has available .*ENOMEM`));
  const bad = spawnSync(toolBinary('forkall-bench'), ['1', '4x', '1'], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(bad.status, 2, bad.stderr);
});

test('a 2,000-entry --threads list is refused: exit 2 naming the flag and the limit', () => {
  const list = Array.from({ length: 2000 }, () => '1').join(',');
  for (const args of [['bench', '--threads', list], ['bench', 'server', '--threads', list], ['bench', 'remote', '--threads', list]]) {
    const r = forkall(args);
    assert.equal(r.status, 2, `${args.slice(0, 2).join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, /--threads takes at most 64 values, got 2000/);
  }
  const rss = forkall(['bench', '--rss-mb', Array.from({ length: 65 }, () => '1').join(',')]);
  assert.equal(rss.status, 2);
  assert.match(rss.stderr, /--rss-mb takes at most 64 values, got 65/);
});

/** Sends each line to the socket and collects one reply line per request. */
function ask(path: string, lines: string[]): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const c = connect(path);
    const replies: string[] = [];
    let buf = '';
    c.setEncoding('utf8');
    c.on('connect', () => c.write(lines.map((l) => l + '\n').join('')));
    c.on('error', reject);
    c.on('data', (d: string) => {
      buf += d;
      for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
        replies.push(buf.slice(0, nl));
        buf = buf.slice(nl + 1);
      }
      if (replies.length >= lines.length) {
        c.end();
        resolve(replies);
      }
    });
    c.on('close', () => resolve(replies));
  });
}

test('the serve socket answers null, arrays, unknown ops and bad counts with a protocol error, and serves on', { timeout: 120_000 }, async () => {
  const app = join(packageRoot, 'test', 'fixtures', 'py_workers.py');
  const run = spawn(process.execPath, [cli, 'run', '--at', 'request', '--serve', '--json', '--', 'python3', app], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  run.stdout!.on('data', (d) => (out += d));
  run.stderr!.on('data', (d) => (err += d));
  const runExit = new Promise<number | null>((r) => run.once('exit', (c) => r(c)));
  try {
    const serving = await waitFor(`forkall run --serve to report serving (stderr: ${err})`, () =>
      out.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l)).find((e) => e.event === 'serving'),
    );
    assert.ok(existsSync(serving.socket));
    const bad = ['null', '[]', '42', '"clone"', '{}', '{"op":"fly"}', '{"op":"clone","count":"2"}', '{"op":"clone","count":0}', '{"op":"snapshot","extra":1}', 'not json'];
    const replies = await ask(serving.socket, bad);
    assert.equal(replies.length, bad.length, `replies: ${replies.join(' | ')}`);
    replies.forEach((line, i) => {
      const r = JSON.parse(line);
      assert.equal(r.ok, false, `${bad[i]} -> ${line}`);
      assert.match(r.error, /^protocol error: /, `${bad[i]} -> ${line}`);
      assert.doesNotMatch(r.error, /TypeError|Cannot read|undefined/, `${bad[i]} -> ${line}`);
    });
    // after all that, the template still answers a well-formed request
    const [snap] = await ask(serving.socket, ['{"op":"snapshot"}']);
    const frozen = JSON.parse(snap!);
    assert.equal(frozen.ok, true, snap);
    assert.ok(frozen.threads >= 1, snap);
    run.kill('SIGINT');
    assert.equal(await runExit, 0);
  } finally {
    if (run.exitCode === null) {
      run.kill('SIGKILL');
      await runExit;
    }
  }
});
