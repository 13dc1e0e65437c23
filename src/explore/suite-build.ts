// Builds the programs of an SCTBench checkout (github.com/mc-imperial/sctbench,
// benchmarks/buggy.txt) for `forkall bench explore --suite DIR`. Each program
// is compiled with -fsanitize=thread but linked against libforkall-sched.so
// instead of libtsan: the compiler's __tsan_read/__tsan_write calls become
// scheduling points (native/explore/tsan.c), so the seed also decides the
// interleavings between plain memory accesses that SCTBench's bugs need.
// Nothing of the checkout is copied into forkall; builds go to a directory of
// their own.
import { spawnSync } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildDir } from '../native/paths.js';

export interface SuiteProgram {
  /** e.g. "concurrent-software-benchmarks.account_bad" */
  id: string;
  group: string;
  name: string;
}

export type Built = { cmd: string; args: string[]; cwd: string } | { error: string };

/** The programs listed in benchmarks/buggy.txt (lines starting with # are left out, as SCTBench does). */
export function readBuggyList(suiteDir: string): SuiteProgram[] {
  const file = join(suiteDir, 'benchmarks', 'buggy.txt');
  if (!existsSync(file)) throw new Error(`${file} not found: --suite expects a checkout of github.com/mc-imperial/sctbench`);
  return readFileSync(file, 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => {
      const [group, name] = l.split(/\s+/);
      return { id: `${group}.${name}`, group: group!, name: name! };
    });
}

/** SCTBench's "args:" first-line convention, with its two threads. */
function firstLineArgs(source: string): string[] {
  const first = readFileSync(source, 'utf8').split('\n', 1)[0] ?? '';
  const m = /args:(.*)$/.exec(first);
  if (!m) return [];
  return m[1]!.replaceAll('{NUMTHREADS}', '2').replaceAll('{OUTFILE}', 'output.txt').trim().split(/\s+/).filter(Boolean);
}

/**
 * Compiler wrappers: every compile gets -fsanitize=thread, every link gets
 * libforkall-sched.so (and never libtsan); a compile-and-link in one command is
 * split in two. Put first in PATH (as cc, gcc, c++, g++) for make-based builds.
 */
function wrappers(dir: string): string {
  const bin = join(dir, '.bin');
  mkdirSync(bin, { recursive: true });
  const sched = buildDir('glibc');
  for (const [name, real] of [['cc', '/usr/bin/gcc'], ['gcc', '/usr/bin/gcc'], ['c++', '/usr/bin/g++'], ['g++', '/usr/bin/g++']] as const) {
    const script = `#!/bin/bash
# forkall bench explore --suite: instrument compiles, link the scheduler instead of libtsan
real=${real}
compile=0; sources=(); rest=()
for a in "$@"; do
  case "$a" in
    -c|-S|-E|-M|-MM) compile=1; rest+=("$a");;
    *.c|*.cc|*.cpp|*.C|*.cxx) sources+=("$a");;
    *) rest+=("$a");;
  esac
done
if [ $compile = 1 ]; then exec "$real" -fsanitize=thread "$@"; fi
objs=()
if [ \${#sources[@]} -gt 0 ]; then
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  flags=(); skip=0
  for a in "\${rest[@]}"; do
    if [ $skip = 1 ]; then skip=0; continue; fi
    case "$a" in -o) skip=1;; -l*|-L*|-Wl,*|*.o|*.a|*.so) ;; *) flags+=("$a");; esac
  done
  i=0
  for s in "\${sources[@]}"; do
    i=$((i+1)); "$real" -fsanitize=thread "\${flags[@]}" -c "$s" -o "$tmp/$i.o" || exit 1; objs+=("$tmp/$i.o")
  done
fi
"$real" "\${objs[@]}" "\${rest[@]}" -pthread -L${sched} -Wl,-rpath,${sched} -Wl,--no-as-needed -lforkall-sched
`;
    writeFileSync(join(bin, name), script);
    chmodSync(join(bin, name), 0o755);
  }
  return bin;
}

function run(cmd: string, args: string[], cwd: string, bin: string): string | null {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', env: { ...process.env, PATH: `${bin}:${process.env.PATH}` }, timeout: 600_000 });
  if (r.status === 0) return null;
  return `${cmd} ${args.join(' ')} in ${cwd}: ${(r.stderr || r.stdout || r.error?.message || `status ${r.status}`).trim().split('\n').slice(-3).join(' | ')}`;
}

function fresh(out: string, sources: string[]): boolean {
  if (!existsSync(out)) return false;
  const t = statSync(out).mtimeMs;
  return sources.every((s) => statSync(s).mtimeMs <= t) && statSync(join(buildDir('glibc'), 'libforkall-sched.so')).mtimeMs <= t;
}

/** One source file (C or C++), the way SCTBench's own build.py compiles it (-O0 -g). */
function single(bench: string, source: string, out: string, bin: string, cxx: boolean): Built {
  const src = join(bench, source);
  const cwd = join(out, '..');
  mkdirSync(cwd, { recursive: true });
  if (!fresh(out, [src])) {
    const err = run(join(bin, cxx ? 'g++' : 'gcc'), [...(cxx ? ['-std=c++0x'] : []), '-O0', '-g', '-w', '-o', out, src], cwd, bin);
    if (err) return { error: err };
  }
  return { cmd: out, args: firstLineArgs(src), cwd };
}

/** One make in a directory of the copy: instrumented (the wrappers first in PATH) or not (a library the bug is not in). */
interface MakeStep {
  dir?: string;
  args: string[];
  plain?: boolean;
}

/** A program with its own makefiles: built in a copy of its directory. */
function withMake(bench: string, rel: string, into: string, bin: string, binary: string, args: string[], steps: MakeStep[]): Built {
  const copy = join(into, 'src');
  const out = join(copy, binary);
  if (!existsSync(out)) {
    mkdirSync(into, { recursive: true });
    cpSync(join(bench, rel), copy, { recursive: true });
    for (const step of steps) {
      const err = run('make', step.args, join(copy, step.dir ?? '.'), step.plain ? '/nonexistent' : bin);
      if (err) return { error: err };
    }
  }
  return { cmd: out, args, cwd: copy };
}

/** Builds (or finds already built) one program of the list; an error names what failed or why it is not offered. */
export function buildProgram(suiteDir: string, p: SuiteProgram, outDir: string): Built {
  const bench = join(suiteDir, 'benchmarks');
  const bin = wrappers(outDir);
  const into = join(outDir, p.group, p.name);
  switch (p.group) {
    case 'concurrent-software-benchmarks':
      return single(join(bench, p.group), `${p.name}.c`, join(into, p.name), bin, false);
    case 'chess':
      return single(join(bench, p.group), `${p.name}.cpp`, join(into, p.name), bin, true);
    case 'inspect_benchmarks':
    case 'inspect_examples':
      return single(join(bench, p.group), `${p.name}.c`, join(into, p.name), bin, false);
    case 'safestack':
      return single(join(bench, p.group), 'SafeStack.cpp', join(into, 'main'), bin, true);
    case 'conc-bugs':
      if (p.name === 'stringbuffer-jdk1.4') return withMake(bench, join(p.group, p.name), into, bin, 'main', [], [{ args: ['main'] }]);
      if (p.name === 'pbzip2-0.9.4')
        // libbz2 is built plain: the bug is in pbzip2's threads, and a point at every access of the compressor would only slow it down
        return withMake(bench, join(p.group, p.name), into, bin, 'pbzip2-0.9.4/pbzip2', ['-k', '-f', '-p2', '-1', '-b1', 'test.tar'], [
          { dir: 'bzip2-1.0.6', args: ['CC=/usr/bin/gcc', 'libbz2.a'], plain: true },
          { dir: 'pbzip2-0.9.4', args: ['CC=g++', 'pbzip2'] },
        ]);
      break;
    case 'splash2': {
      const where: Record<string, [string, string, string[]]> = {
        barnes: ['apps/barnes', 'BARNES', []],
        fft: ['kernels/fft', 'FFT', ['-p2', '-m2', '-n4', '-l4']],
        lu: ['kernels/lu/non_contiguous_blocks', 'LU', ['-p2', '-n2', '-b1']],
      };
      // m4 expands SPLASH-2's macros; malloc is declared by stdlib.h, which its sources leave out (a 64-bit pointer would be cut to an int);
      // fft aligns pointers through (unsigned) casts: built without PIE, its heap stays below 4 GiB
      const w = where[p.name];
      if (w) {
        return withMake(join(bench, 'splash2'), w[0], into, bin, w[1], w[2], [
          { args: ['CC=cc', `MACROS=${join(bench, 'splash2', 'null_macros', 'c.m4.null')}`, 'CFLAGS=-O0 -w -include stdlib.h -fno-pie', 'LDFLAGS=-lm -pthread -no-pie', w[1]] },
        ]);
      }
      break;
    }
    case 'parsec-2.0':
      if (p.name.startsWith('streamcluster'))
        // PARSEC's test input, with two threads
        return withMake(bench, join(p.group, 'pkgs', 'kernels', p.name, 'src'), into, bin, 'streamcluster', ['2', '5', '1', '10', '10', '5', 'none', 'output.txt', '2'], [
          { args: ['CXX=g++', 'version=pthreads', 'CXXFLAGS=-O0 -g -w -DENABLE_THREADS -pthread', 'all'] },
        ]);
      break;
  }
  return { error: `not offered: ${p.group}/${p.name} needs a build forkall does not do (a large external code base or input set)` };
}
