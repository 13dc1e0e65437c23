#!/usr/bin/env node
// Writes docs/api.md, the typed reference of what `import ... from 'forkall'`
// gives, from the types themselves (src/index.ts and what it re-exports) with
// the TypeScript compiler: each export's signature or declaration and its doc
// comment. `--check` only compares (test/docs.test.ts): exit 1 when stale.
// Needs typescript (a dev dependency): run it from a checkout.
import { readFileSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import ts from 'typescript';
import { root } from './tools.mjs';

const entry = join(root, 'src', 'index.ts');
const out = join(root, 'docs', 'api.md');

function reference() {
  const program = ts.createProgram([entry], {
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    strict: true,
    types: ['node'],
    skipLibCheck: true,
  });
  const checker = program.getTypeChecker();
  const mod = checker.getSymbolAtLocation(program.getSourceFile(entry));
  const sections = { Functions: [], Classes: [], Types: [], Values: [] };
  const flags = ts.TypeFormatFlags.NoTruncation | ts.TypeFormatFlags.UseAliasDefinedOutsideCurrentScope;

  for (const exported of checker.getExportsOfModule(mod).sort((a, b) => a.name.localeCompare(b.name))) {
    const sym = exported.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(exported) : exported;
    const decl = sym.declarations?.[0];
    if (!decl) continue;
    const from = relative(root, decl.getSourceFile().fileName);
    const doc = ts.displayPartsToString(sym.getDocumentationComment(checker)).trim();
    const name = exported.name;
    let kind;
    let code;
    if (sym.flags & ts.SymbolFlags.Function) {
      kind = 'Functions';
      const type = checker.getTypeOfSymbolAtLocation(sym, decl);
      code = type
        .getCallSignatures()
        .map((s) => `function ${name}${checker.signatureToString(s, decl, flags)}`)
        .join('\n');
    } else if (sym.flags & ts.SymbolFlags.Class) {
      kind = 'Classes';
      code = decl
        .getText()
        .replace(/\{[\s\S]*$/, '{ ... }')
        .replace(/^export /, '');
      const members = checker
        .getPropertiesOfType(checker.getDeclaredTypeOfSymbol(sym))
        // its own public members (not those inherited from Error and the like)
        .filter((m) => (m.valueDeclaration?.parent === decl || m.valueDeclaration?.parent?.parent === decl) && !(ts.getCombinedModifierFlags(m.valueDeclaration) & (ts.ModifierFlags.Private | ts.ModifierFlags.Protected)))
        .map((m) => {
          const d = ts.displayPartsToString(m.getDocumentationComment(checker)).trim();
          const t = checker.typeToString(checker.getTypeOfSymbolAtLocation(m, decl), decl, flags);
          // a getter without a setter, or a readonly field: callers read it, never set it
          const getterOnly = m.flags & ts.SymbolFlags.GetAccessor && !(m.flags & ts.SymbolFlags.SetAccessor);
          const ro = getterOnly || ts.getCombinedModifierFlags(m.valueDeclaration) & ts.ModifierFlags.Readonly ? 'readonly ' : '';
          return `${d ? `  /** ${d.replace(/\n/g, ' ')} */\n` : ''}  ${ro}${m.name}: ${t};`;
        });
      code = `${code.replace(/\{ \.\.\. \}$/, '{')}\n${members.join('\n')}\n}`;
    } else if (sym.flags & (ts.SymbolFlags.Interface | ts.SymbolFlags.TypeAlias)) {
      kind = 'Types';
      code = decl.getText().replace(/^export /, '');
    } else {
      kind = 'Values';
      code = `const ${name}: ${checker.typeToString(checker.getTypeOfSymbolAtLocation(sym, decl), decl, flags)}`;
    }
    sections[kind].push(`### \`${name}\`\n\n${doc ? `${doc}\n\n` : ''}\`\`\`ts\n${code}\n\`\`\`\n\n(from \`${from}\`)\n`);
  }

  let md =
    '# The TypeScript API\n\n' +
    "Everything `import { ... } from 'forkall'` gives, generated from the types by\n" +
    '`npm run docs:api` (scripts/api-doc.mjs); do not edit by hand. The guides: README.md,\n' +
    '[agent.md](agent.md) (`spawnTemplate`), [remote.md](remote.md) (`cloneProcess`).\n' +
    '\n## Errors\n\n' +
    'Every failure is a `ForkallError`: one `instanceof` check for all engines. Its `code`\n' +
    '(`ForkallErrorCode`) says what went wrong (the CLI maps it to an exit code, docs/cli.md);\n' +
    '`pid` names the process at fault (the target of a clone or unfork, the template), `tid` the\n' +
    'thread when one is known, and `errno` the failing call\'s errno when there was one.\n' +
    '`RemoteError` (cloneProcess, cloneProcessSync), `AgentError` (Template) and `UnforkError`\n' +
    '(unfork) are its subclasses, each narrowing `code` to its own union.\n' +
    '\n```ts\n' +
    "try { await cloneProcess(pid); } catch (e) { if (e instanceof ForkallError && e.code === 'no-such-process') ... }\n" +
    '```\n' +
    '\n## Exits\n\n' +
    'Every API that reports how a process ended gives a `ProcessExit`\n' +
    '`{ exitCode: number | null; signal: NodeJS.Signals | null }`, the shape of Node\'s own `exit`\n' +
    'event: `exitCode` when it exited, `signal` (a name such as `SIGTERM`) when a signal killed it.\n' +
    "A Template clone's `exited` resolves to one (a `CloneResult`, with the raw wait `status` too);\n" +
    "`waitForExit(pid)` resolves to one, with both null when this process is not the clone's parent\n" +
    '(a remote clone is the target\'s sibling: only the target\'s parent can read its status).\n';
  for (const [title, entries] of Object.entries(sections)) if (entries.length) md += `\n## ${title}\n\n${entries.join('\n')}`;
  return md;
}

const md = reference();
if (process.argv.includes('--check')) {
  let current = '';
  try {
    current = readFileSync(out, 'utf8');
  } catch {
    // missing: stale
  }
  if (current !== md) {
    process.stderr.write('docs/api.md is not what the types say: run npm run docs:api\n');
    process.exit(1);
  }
} else {
  writeFileSync(out, md);
}
