// The package as a user gets it: `npm pack`, installed into an empty project,
// then `npx forkall demo` and `forkall clone -p` from there. The install is
// offline: forkall's runtime dependencies are packed from this checkout's
// node_modules and installed from those tarballs, so no registry is needed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, dirname, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { packageRoot } from '../src/native/paths.js';
import { waitForExit } from '../src/remote/wait-exit.js';

const version = JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8')).version as string;
const npm = (args: string[], cwd: string, timeout = 600_000) => spawnSync('npm', args, { cwd, encoding: 'utf8', timeout, env: { ...process.env, npm_config_update_notifier: 'false' } });

/** The non-dev packages of the lockfile that this checkout has installed (koffi's prebuilt binary for this platform, cli-table3's dependencies...). */
function runtimeDependencies(): string[] {
  const lock = JSON.parse(readFileSync(join(packageRoot, 'package-lock.json'), 'utf8')) as { packages: Record<string, { dev?: boolean }> };
  return Object.entries(lock.packages)
    .filter(([path, p]) => path.startsWith('node_modules/') && !p.dev && existsSync(join(packageRoot, path, 'package.json')))
    .map(([path]) => path);
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name));
}

test('the packed tarball installs into an empty project offline; npx forkall demo and forkall clone -p run from there', { timeout: 900_000 }, async () => {
  const work = mkdtempSync(join(tmpdir(), 'forkall-package-'));
  let target: ReturnType<typeof spawn> | undefined;
  const clones: number[] = [];
  try {
    // npm pack runs `prepare` (the full build), as a publish would
    const packDir = join(work, 'pack');
    mkdirSync(packDir);
    const pack = npm(['pack', '--pack-destination', packDir], packageRoot);
    assert.equal(pack.status, 0, pack.stderr);
    const tgz = join(packDir, `forkall-${version}.tgz`);
    assert.ok(existsSync(tgz), `npm pack left no ${tgz}: ${pack.stdout}`);

    // what ships: compiled dist/ and no build output; every source map's sources are in the tarball
    const unpacked = join(work, 'unpacked');
    mkdirSync(unpacked);
    assert.equal(spawnSync('tar', ['xzf', tgz, '-C', unpacked]).status, 0);
    const pkg = join(unpacked, 'package');
    const shipped = new Set(filesUnder(pkg).map((f) => relative(pkg, f)));
    for (const f of ['dist/index.js', 'dist/index.d.ts', 'dist/cli/index.js', 'bin/forkall.js', 'scripts/install.mjs', 'native/Makefile'])
      assert.ok(shipped.has(f), `the tarball lacks ${f}`);
    assert.ok(![...shipped].some((f) => f.startsWith('native/build/')), 'the tarball ships native/build');
    const maps = [...shipped].filter((f) => f.endsWith('.map'));
    assert.ok(maps.length > 0, 'no source maps in dist/');
    for (const m of maps) {
      const sources = (JSON.parse(readFileSync(join(pkg, m), 'utf8')) as { sources: string[] }).sources;
      for (const s of sources) {
        const to = relative(pkg, resolve(dirname(join(pkg, m)), s));
        assert.ok(shipped.has(to), `${m} points at ${to}, which the tarball leaves out`);
      }
    }

    // the dependencies, from this checkout, as tarballs
    const deps = join(work, 'deps');
    mkdirSync(deps);
    const depTgz: Record<string, string> = {};
    for (const d of runtimeDependencies()) {
      const r = npm(['pack', '--ignore-scripts', '--pack-destination', deps, join(packageRoot, d)], packageRoot, 120_000);
      assert.equal(r.status, 0, r.stderr);
      depTgz[d.slice('node_modules/'.length)] = join(deps, r.stdout.trim().split('\n').pop()!);
    }
    assert.ok(depTgz.koffi, 'koffi is not installed in this checkout');

    // an empty project that allows forkall's install script and denies koffi's
    // (koffi's only re-checks its prebuilt binary: everything below runs without it)
    const app = join(work, 'app');
    mkdirSync(app);
    writeFileSync(
      join(app, 'package.json'),
      JSON.stringify({ name: 'app', version: '1.0.0', private: true, allowScripts: { [`file:${tgz}`]: true, [`file:${depTgz.koffi}`]: false } }),
    );
    const install = npm(['install', '--offline', '--no-audit', '--no-fund', '--foreground-scripts', ...Object.values(depTgz), tgz], app);
    assert.equal(install.status, 0, install.stdout + install.stderr);
    assert.doesNotMatch(install.stdout + install.stderr, /warning:/, 'the install printed a compiler warning');
    assert.doesNotMatch(install.stdout, /koffi@[\d.]+ install/, "koffi's install script ran although it was denied");
    assert.ok(existsSync(join(app, 'node_modules', 'forkall', 'native', 'build', 'glibc', 'libforkall.so')), 'the install step built no libforkall.so');

    const demo = spawnSync('npx', ['--no', 'forkall', 'demo', '--json'], { cwd: app, encoding: 'utf8', timeout: 300_000 });
    assert.equal(demo.status, 0, demo.stderr + demo.stdout);
    const report = JSON.parse(demo.stdout) as { ok: boolean; clones: unknown[] };
    assert.equal(report.ok, true);
    assert.ok(report.clones.length > 0);

    // a small multi-threaded program from the installed package: 4 threads, blocked in read(0)
    const bin = join(app, 'node_modules', 'forkall', 'native', 'build', 'glibc', 'bin', 'forkall-target');
    target = spawn(bin, ['4', '4', 'idle'], { stdio: ['pipe', 'pipe', 'inherit'] });
    const ready = await new Promise<string>((res, rej) => {
      createInterface({ input: target!.stdout! }).once('line', res);
      target!.once('exit', (c) => rej(new Error(`forkall-target exited (${c}) before it was ready`)));
    });
    assert.match(ready, /^READY \d+/);
    const clone = spawnSync('npx', ['--no', 'forkall', 'clone', '-p', String(target.pid), '--json'], { cwd: app, encoding: 'utf8', timeout: 300_000 });
    const out = clone.status === 0 ? (JSON.parse(clone.stdout) as { clones: { pid: number; threads: number }[] }) : undefined;
    for (const c of out?.clones ?? []) clones.push(c.pid);
    assert.equal(clone.status, 0, clone.stderr + clone.stdout);
    assert.equal(out!.clones.length, 1);
    assert.equal(out!.clones[0].threads, 4);
  } finally {
    for (const pid of clones) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
      await waitForExit(pid); // a sibling of the target: this process reaps it
    }
    if (target && target.exitCode === null && target.signalCode === null) {
      target.kill('SIGKILL');
      await new Promise((r) => target!.once('exit', r));
    }
    rmSync(work, { recursive: true, force: true });
  }
});

test('the install step names the missing tool when make or gcc is absent', () => {
  const bin = mkdtempSync(join(tmpdir(), 'forkall-nocc-'));
  try {
    const onlyMake = spawnSync('sh', ['-c', 'command -v make'], { encoding: 'utf8' }).stdout.trim();
    if (onlyMake) symlinkSync(onlyMake, join(bin, 'make'));
    const r = spawnSync(process.execPath, [join(packageRoot, 'scripts', 'install.mjs')], { encoding: 'utf8', env: { ...process.env, PATH: bin }, timeout: 60_000 });
    assert.equal(r.status, 1, r.stdout + r.stderr);
    assert.match(r.stderr, /the C compiler gcc \('gcc'\) is not installed/);
    assert.match(r.stderr, /build-essential/);
    if (!onlyMake) assert.match(r.stderr, /make \('make'\) is not installed/);
    else assert.doesNotMatch(r.stderr, /'make'\) is not installed/);
  } finally {
    rmSync(bin, { recursive: true, force: true });
  }
});

test("import 'forkall' works on a host without libc.so.6; the first call that needs it fails naming the library", { timeout: 120_000 }, async () => {
  const sleeper = spawn('sleep', ['120'], { stdio: 'ignore' });
  try {
    const script = `
      const m = await import(${JSON.stringify(join(packageRoot, 'src', 'index.ts'))});
      console.log('imported', typeof m.cloneProcessSync);
      try { m.cloneProcessSync(${sleeper.pid}); console.log('cloned'); }
      catch (e) { console.log('error: ' + e.message); }`;
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      encoding: 'utf8',
      timeout: 90_000,
      env: { ...process.env, FORKALL_LIBC: '/nonexistent/libc.so.6' },
    });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^imported function$/m);
    assert.match(r.stdout, /^error: cannot load the C library \/nonexistent\/libc\.so\.6 \(.*\), needed for \w+\(\)/m);
    // the target was never touched: not stopped, not traced
    const status = readFileSync(`/proc/${sleeper.pid}/status`, 'utf8');
    assert.match(status, /^State:\s+S/m);
    assert.match(status, /^TracerPid:\s+0$/m);
  } finally {
    sleeper.kill('SIGKILL');
    await new Promise((r) => (sleeper.exitCode !== null || sleeper.signalCode !== null ? r(null) : sleeper.once('exit', r)));
  }
});
