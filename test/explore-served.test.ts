// forkall explore -p PID: a program started and warmed up once by `forkall
// run --serve --explorable` is explored, and its failing seed replayed, from
// that one frozen template, any number of times; while an exploration runs
// the template refuses plain clone requests, and afterwards its clones are
// plain clones again. A template served without the scheduler is refused.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { nativeArtifact } from '../src/native/paths.js';
import { cli, runForkall } from './helpers/cli.js';
import { killAndWait } from './helpers/kill-wait.js';
import { waitFor } from './helpers/wait.js';

const atomicity = nativeArtifact(join('explore-examples', 'atomicity'));
const seed = BigInt(process.env.FORKALL_TEST_SEED ?? Date.now() % 1_000_000) * 1000n;
console.log(`explore -p tests: base seed ${seed} (set FORKALL_TEST_SEED=${seed / 1000n} to repeat)`);

/** `forkall run --serve [--explorable] --at request --json -- PROG`; resolves with the served template's PID once it is frozen. */
async function serve(explorable: boolean): Promise<{ server: ChildProcess; pid: number }> {
  const server = spawn(process.execPath, [cli, 'run', '--serve', ...(explorable ? ['--explorable'] : []), '--at', 'request', '--json', '--', atomicity], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  server.stdout!.on('data', (d) => (out += d));
  const pid = await waitFor('the template to be served', () => Number(/"templatePid":(\d+)/.exec(out)?.[1]) || undefined, 60_000);
  // the example freezes itself at its forkall_snapshot() call: a clone request answered means frozen
  await waitFor('the template to freeze', async () => ((await runForkall(['clone', '-p', String(pid), '--json'])).code === 0 ? true : undefined), 60_000, 100);
  return { server, pid };
}

async function stop(server: ChildProcess): Promise<void> {
  if (server.exitCode !== null || server.signalCode !== null) return;
  const gone = new Promise((r) => server.once('exit', r));
  server.kill('SIGINT');
  await Promise.race([gone, new Promise((r) => setTimeout(r, 20_000))]);
  await killAndWait(server.pid!);
}

test('explore -p: a served template is explored and its failing seed replayed 5 of 5, from the one frozen state; clones are refused during and plain after', { timeout: 240_000 }, async () => {
  const { server, pid } = await serve(true);
  const mailboxes = () => readdirSync('/dev/shm').filter((n) => n.startsWith(`forkall-explore-${server.pid}-`));
  try {
    assert.deepEqual(mailboxes(), [], 'the mailbox file is unlinked once the template is frozen');
    // Runs and replays get --timeout-ms 60000 (not the 2 s default): under load (30-40) a replay of
    // the abort seed was killed after 2 s (exit 124, not 134), and timed-out runs are outcomes of
    // their own whose confirmation replays time out too.
    const r = await runForkall(['explore', '-p', String(pid), '--runs', '150', '--seed', String(seed), '--timeout-ms', '60000', '--json']);
    assert.equal(r.code, 1, `exit 1 when a schedule failed: ${r.stderr}`);
    const report = JSON.parse(r.stdout) as { runs: number; outcomes: { signal: string | null; exitCode: number | null; seed: string | null; replayed?: { same: number; of: number } }[] };
    console.log('explore -p:', report.outcomes.map((o) => `${o.signal ?? `exit ${o.exitCode}`} (seed ${o.seed}, replayed ${JSON.stringify(o.replayed)})`).join('; '));
    assert.equal(report.runs, 150);
    const bug = report.outcomes.find((o) => o.signal === 'SIGABRT');
    assert.ok(bug?.seed, `no lost update found in 150 schedules from seed ${seed}`);
    assert.ok(report.outcomes.some((o) => o.exitCode === 0), 'no schedule passed');
    assert.deepEqual(bug.replayed, { same: 5, of: 5 });
    for (let i = 0; i < 5; i++) {
      const again = await runForkall(['explore', '-p', String(pid), '--replay', bug.seed, '--timeout-ms', '60000']);
      assert.equal(again.code, 128 + 6, `replay ${i + 1} of seed ${bug.seed}: ${again.stderr}`);
      assert.match(again.stdout, /^balance [0-3]$/m);
    }
    // during an exploration a plain clone would run under the scheduler, and a second exploration
    // would share its seeds: both refused, naming why
    const long = runForkall(['explore', '-p', String(pid), '--runs', '1000000', '--seconds', '15', '--seed', String(seed), '--timeout-ms', '60000']);
    let ended = false;
    void long.then(() => (ended = true));
    const refusedWhileRunning = (args: string[], why: RegExp) =>
      waitFor(`${args[0]} refused during the exploration`, async () => {
        const c = await runForkall([...args, '-p', String(pid)]);
        return why.test(c.stderr) ? { code: c.code } : ended ? { code: undefined } : undefined;
      }, 60_000, 50);
    const clone = await refusedWhileRunning(['clone'], new RegExp(`template ${pid} is being explored`));
    const other = await refusedWhileRunning(['explore', '--runs', '1'], new RegExp(`template ${pid} is already being explored`));
    assert.ok(clone.code !== undefined && other.code !== undefined, 'the exploration ended before both requests were refused');
    assert.notEqual(clone.code, 0);
    assert.equal(other.code, 8);
    const longEnd = await long;
    assert.ok([0, 1].includes(longEnd.code!), `the long exploration ended normally (exit ${longEnd.code}): ${longEnd.stderr}`);
    // afterwards: plain clones again (each ends as the program does without a scheduler)
    const plain = await runForkall(['clone', '-p', String(pid), '--json']);
    assert.equal(plain.code, 0, plain.stderr);
  } finally {
    await stop(server);
  }
  assert.deepEqual(mailboxes(), [], 'no mailbox left behind');
  assert.equal(existsSync(`/proc/${pid}`), false, `template ${pid} still exists`);
});

test('explore -p of a template served without --explorable is refused, naming the flag', { timeout: 120_000 }, async () => {
  const { server, pid } = await serve(false);
  try {
    const r = await runForkall(['explore', '-p', String(pid), '--runs', '5']);
    assert.equal(r.code, 8, r.stderr);
    assert.match(r.stderr, new RegExp(`template ${pid} was not started with the scheduler: serve it with forkall run --serve --explorable`));
    const bad = await runForkall(['explore', '-p', String(pid), '--', atomicity]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /give no program/);
  } finally {
    await stop(server);
  }
});
