// A served exploration (forkall run --serve --explorable) answers `forkall explore -p` with
// progress lines, and the client gives up after 120 s without one. Lines came only when a run
// ended, so a long replay, or the confirmation replays after the runs (3 seeds x 5 replays per
// failing outcome, each up to --timeout-ms), could leave the client waiting past that under
// load: `explore -p` then failed (exit 8). The served side now also sends a line every 5 s.
// A stub template whose one clone runs 6 s stands in for a slow replay: no program is run.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { explorable } from '../src/cli/commands/run-explorable.js';
import type { Mailbox } from '../src/explore/mailbox.js';
import type { ExploreProgress } from '../src/server/serve-explore.js';
import type { Template } from '../src/server/template.js';

test('a served replay that runs 6 s sends a progress line meanwhile (the client waits at most 120 s for one)', { timeout: 60_000 }, async () => {
  const clone = {
    pid: 999_999_999,
    threads: 1,
    stdout: null,
    stderr: null,
    exited: new Promise((resolve) => setTimeout(() => resolve({ exitCode: 0, signal: null, status: 0 }), 6000)),
    kill: () => true,
  };
  const template = { pid: 999_999_998, threads: 1, clone: async () => clone } as unknown as Template;
  const mailbox = { arm() {}, disarm() {}, setSeeds() {}, takeSeed: () => ({ seed: 7n, deadlock: false }) } as unknown as Mailbox;
  const lines: ExploreProgress[] = [];
  const reply = await explorable(template, mailbox, () => false).explore({ op: 'explore', replay: true, seed: '7', timeoutMs: 30_000 }, (p) => lines.push(p));
  assert.equal(reply.ok, true, JSON.stringify(reply));
  assert.ok(lines.length >= 1, 'no progress line during a 6 s replay');
  assert.ok(lines[0]!.progress.elapsedMs >= 4000, JSON.stringify(lines));
});
