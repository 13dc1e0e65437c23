// The documentation agrees with the tree: every scenario program has its row in
// docs/scenarios.md (and no count of scenarios written anywhere goes stale), and
// every option of every command is in its synopsis in docs/cli.md; docs/api.md
// is what the types say.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import type { Command } from 'commander';
import { packageRoot } from '../src/native/paths.js';
import { buildProgram } from '../src/cli/index.js';

const read = (rel: string) => readFileSync(join(packageRoot, rel), 'utf8');
const docs = ['README.md', ...readdirSync(join(packageRoot, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];

test('docs/scenarios.md has one row per program in native/scenarios, and no doc states another count', () => {
  const tree = readdirSync(join(packageRoot, 'native', 'scenarios'))
    .filter((f) => /\.(c|cpp)$/.test(f))
    .map((f) => f.replace(/\.(c|cpp)$/, ''))
    .sort();
  const rows = [...read('docs/scenarios.md').matchAll(/^\| ([a-z0-9_]+) \|/gm)].map((m) => m[1]).filter((n) => n !== 'scenario').sort();
  assert.deepEqual(rows, tree, 'docs/scenarios.md rows vs native/scenarios/*.c, *.cpp');
  for (const doc of docs)
    for (const m of read(doc).matchAll(/\b(\d+) (?:fidelity )?scenarios\b/g))
      assert.equal(Number(m[1]), tree.length, `${doc} says "${m[0]}"; native/scenarios has ${tree.length}`);
});

test('every option of every command is in its synopsis in docs/cli.md', async () => {
  const cliDoc = read('docs/cli.md');
  const check = (cmd: Command, path: string[]) => {
    const name = [...path, cmd.name()].join(' ');
    if (cmd.commands.length) for (const sub of cmd.commands) check(sub, [...path, cmd.name()]);
    const synopsis = cliDoc.split('\n').find((l) => l.startsWith(`forkall ${name} `) || l === `forkall ${name}`);
    assert.ok(synopsis, `docs/cli.md has no synopsis line for 'forkall ${name}'`);
    const has = (flag: string | undefined) => flag !== undefined && new RegExp(`(^|[\\s[|])${flag}(?![\\w-])`).test(synopsis);
    for (const o of cmd.options)
      if (o.long !== '--help') assert.ok(has(o.long) || has(o.short), `the synopsis of 'forkall ${name}' lacks ${o.long}: ${synopsis}`);
  };
  for (const c of (await buildProgram()).commands) check(c, []);
});

test('docs/api.md is what the types of src/index.ts say (npm run docs:api)', () => {
  const r = spawnSync(process.execPath, [join(packageRoot, 'scripts', 'api-doc.mjs'), '--check'], { encoding: 'utf8', timeout: 120_000 });
  assert.equal(r.status, 0, r.stderr);
});
