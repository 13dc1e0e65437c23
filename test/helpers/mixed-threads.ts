// The mixed_threads fixture (threads with names, one that stays or exits) as
// the agent tests use it: built once per test file into a temporary directory,
// and served under the agent until its program prints READY.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../../src/native/paths.js';
import type { Template } from '../../src/server/template.js';

/** Compiles test/fixtures/mixed_threads.c; returns its directory (free for the test's own files), the binary and a cleanup. */
export function buildMixedThreads(prefix: string): { dir: string; binary: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const binary = join(dir, 'mixed_threads');
  const cc = spawnSync('gcc', ['-O2', '-pthread', '-o', binary, join(packageRoot, 'test', 'fixtures', 'mixed_threads.c')], { encoding: 'utf8' });
  assert.equal(cc.status, 0, cc.stderr);
  return { dir, binary, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Resolves once the program printed READY (all its threads run); keeps draining its stdout. */
export function untilReady(t: Template): Promise<void> {
  return new Promise((resolve, reject) => {
    let out = '';
    t.process.stdout!.on('data', (d) => {
      out += d;
      if (out.includes('READY')) resolve();
    });
    t.process.on('exit', (c) => reject(new Error(`template exited (${c}) before READY`)));
  });
}
