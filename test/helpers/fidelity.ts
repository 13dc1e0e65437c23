// The fidelity assertions, shared by every engine's spec.
import assert from 'node:assert/strict';
import type { RunResult } from './run-scenario.js';
import { diffTranscripts, mismatches } from './transcript.js';

export function assertFaithfulClone(name: string, r: RunResult, opts: { noChild?: boolean } = {}): void {
  const where = `${name}: `;
  assert.equal(r.signal, null, `${where}killed by ${r.signal}; stderr: ${r.stderr}`);
  assert.equal(r.code, 0, `${where}exit code ${r.code}; stderr: ${r.stderr}`);
  if (r.cloneCode !== undefined) assert.equal(r.cloneCode, 0, `${where}the clone exited with ${r.cloneCode}`);
  assert.ok(r.parent, `${where}the parent wrote no transcript`);
  assert.deepEqual(mismatches(r.parent), [], `${where}checks failed in the parent`);
  assert.deepEqual(r.strays, [], `${where}processes left behind: ${r.strays.join(', ')}`);
  assert.deepEqual(r.zombies, [], `${where}unreaped zombie children: ${r.zombies.join(', ')}`);
  if (opts.noChild) return;
  assert.ok(r.child, `${where}the clone wrote no transcript (it did not run to the end)`);
  assert.deepEqual(mismatches(r.child), [], `${where}checks failed in the clone`);
  assert.deepEqual(diffTranscripts(r.parent, r.child), [], `${where}the clone's transcript differs from the parent's`);
}
