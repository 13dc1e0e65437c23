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

/** timeoutScale: the program's runs are slow (a long computation under memory-access points): --timeout-ms times this */
export type Built = { cmd: string; args: string[]; cwd: string; timeoutScale?: number } | { error: string };

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

/**
 * SCTBench's "args:" first-line convention, with its two threads. The CHESS
 * sources have CRLF line ends: without the \r taken off, the pattern missed
 * and the work-stealing queues ran with one stealer instead of SCTBench's two.
 */
export function firstLineArgs(source: string): string[] {
  const first = (readFileSync(source, 'utf8').split('\n', 1)[0] ?? '').replace(/\r$/, '');
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

/** compile and link flags of a pkg-config package (-fopenmp left out: the scheduler does not know OpenMP's threads) */
function pkgConfig(name: string): { cflags: string; libs: string } | { error: string } {
  const q = (what: string) => spawnSync('pkg-config', [what, name], { encoding: 'utf8' });
  const c = q('--cflags');
  const l = q('--libs');
  if (c.status !== 0 || l.status !== 0)
    return { error: `pkg-config ${name} failed (${(c.stderr || c.error?.message || '').trim()}): install its -dev package (Debian: libmagickcore-6.q16-dev, libgsl-dev)` };
  const clean = (s: string) => s.trim().split(/\s+/).filter((f) => f !== '-fopenmp').join(' ');
  return { cflags: clean(c.stdout), libs: clean(l.stdout) };
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

/**
 * One step in a directory of the copy: make (or cmd) with args, instrumented
 * (the wrappers first in PATH) or not (a library the bug is not in).
 */
interface MakeStep {
  dir?: string;
  cmd?: string;
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
      const err = run(step.cmd ?? 'make', step.args, join(copy, step.dir ?? '.'), step.plain ? '/nonexistent' : bin);
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
      if (p.name === 'aget-bug2')
        // SCTBench's copy of aget reads its two "downloaded" blocks from the files 0 and 17573 (no network); the
        // bug is in save_log, which the signal thread calls at once
        return withMake(bench, join(p.group, p.name, 'aget-devel'), into, bin, 'aget', ['-l', 'dl.txt', 'http://www.gnu.org/licenses/gpl.txt'], [
          { args: ['CC=gcc', 'CFLAGS=-O0 -g -w', 'aget'] },
        ]);
      break;
    case 'radbench':
      if (p.name === 'bug2')
        // SpiderMonkey 1.7 on NSPR 4.6.7, 64-bit, all instrumented: the bug (an atomicity violation in the garbage
        // collector) is between plain accesses inside the engine; the test gets the engine's directory as its rpath
        // (SCTBench sets LD_LIBRARY_PATH instead)
        return withMake(join(bench, 'radbench', 'Benchmarks'), p.name, into, bin, 'bin/test-ctxt', [], [
          { cmd: 'sed', args: ['-i', 's#^\\.\\./mozilla/nsprpub/configure$#../mozilla/nsprpub/configure --enable-64bit#', 'scripts/build-js.sh'], plain: true },
          { cmd: 'sed', args: ['-i', 's#-lpthread -ljs$#-lpthread -ljs -Wl,-rpath,$OBJ_OUTPUT#', 'scripts/build-testharness.sh'], plain: true },
          { cmd: 'bash', args: ['scripts/build-js.sh'] },
          { cmd: 'bash', args: ['scripts/build-testharness.sh'] },
        ]);
      if (p.name === 'bug1') return { error: 'not offered: radbench/bug1 needs a Firefox source tarball that SCTBench does not ship' };
      if (p.name === 'bug6')
        // NSPR 4.8 (its reader-writer lock is the bug) built plain and 64-bit (its configure defaults to -m32), the test instrumented
        return withMake(join(bench, 'radbench', 'Benchmarks'), p.name, into, bin, 'bin/test-rw', [], [
          { cmd: 'sed', args: ['-i', 's#^\\.\\./mozilla/nsprpub/configure$#../mozilla/nsprpub/configure --enable-64bit#', 'scripts/build-nspr.sh'], plain: true },
          { cmd: 'bash', args: ['scripts/build-nspr.sh'], plain: true },
          { cmd: 'bash', args: ['scripts/build-testharness.sh', 'default'] },
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
      if (p.name === 'ferret') {
        // PARSEC's test input (one query), two threads per stage; needs libgsl-dev and libmagickcore-6.q16-dev;
        // HUGE (gone from glibc's math.h) was FLT_MAX
        const magick = pkgConfig('MagickCore');
        if ('error' in magick) return magick;
        const include = join(into, 'src', 'src', 'include');
        // one run is its whole similarity search under memory-access points: 0.3-1 s on an idle machine, several
        // seconds at a load average of 20-40, so its runs get 5 times --timeout-ms before they count as timeouts
        const built = withMake(bench, join(p.group, 'pkgs', 'apps', 'ferret'), into, bin, 'src/parsec/bin/ferret-parallel', ['corel', 'lsh', 'queries', '1', '1', '2', 'output.txt'], [
          { cmd: 'tar', args: ['xf', 'inputs/input_test.tar'], plain: true },
          { dir: 'src', args: ['CC=gcc', 'CXX=g++', 'version=pthreads', `CFLAGS=-O0 -g -w -DHUGE=3.40282347e+38F -I${include} ${magick.cflags}`, `IMAGE_LDLIBS=${magick.libs}`, 'all'] },
        ]);
        return 'error' in built ? built : { ...built, timeoutScale: 5 };
      }
      break;
  }
  return { error: `not offered: ${p.group}/${p.name} needs a build forkall does not do (a large external code base or input set)` };
}
