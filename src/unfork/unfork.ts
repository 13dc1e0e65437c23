// The Node API of unfork: import a live process's address space into a helper
// process, lazily, and run the target's own functions there.
//   const u = await unfork(4242);
//   const r = await u.call('print_token', 'X');   // { output, returned, ... }
//   const b = await u.read('counter', 8);
//   await u.refresh(); await u.close();
// The target is only read (process_vm_readv, /proc/PID/mem): never stopped,
// traced or signalled, except with `consistent`, which first makes a held copy
// of it with the remote engine (a short ptrace stop) and imports that copy.
import { existsSync, readFileSync } from 'node:fs';
import { blamePid } from '../errors.js';
import { toolBinary } from '../native/paths.js';
import { cloneProcess } from '../remote/api.js';
import { RemoteError } from '../remote/errors.js';
import { UnforkError } from './errors.js';
import { Helper } from './helper.js';
import { mapLine, readMaps, type Mapping } from './maps.js';
import { TargetMemory } from './memory.js';
import { SymbolResolver, type ResolvedSymbol } from './resolve.js';
import { findMainThreadPointer } from './thread-pointer.js';

export interface UnforkOptions {
  /** import from a held copy made with the remote engine: one coherent instant (the target is stopped for a few ms) */
  consistent?: boolean;
  /** if userfaultfd is not permitted otherwise, use UFFD_USER_MODE_ONLY (faults taken inside system calls then fail with EFAULT) */
  userModeOnly?: boolean;
  /** how long one call may take before the helper is killed (default 30 s) */
  callTimeoutMs?: number;
  /** call the target's fflush(NULL) after each call so buffered stdout is captured (default true) */
  flush?: boolean;
}

export type CallArg = string | number | bigint;

export interface CallResult {
  symbol: string;
  address: bigint;
  /** rax after the call, as an unsigned 64-bit value */
  returned: bigint;
  /** what the function wrote to its stdout (fd 1) */
  output: Buffer;
  /** what it wrote to its stderr (fd 2) */
  stderr: Buffer;
}

const hex = (v: bigint): string => v.toString(16);
const u64 = (v: number | bigint): bigint => BigInt.asUintN(64, BigInt(v));

function setupError(words: string[]): UnforkError {
  const code = words[1] ?? 'failed';
  const msg = words.slice(2).join(' ');
  if (code === 'uffd-denied') return new UnforkError(msg, 'uffd-denied');
  if (code === 'cred-denied') return new UnforkError(msg, 'denied');
  if (code === 'collide' || code === 'place') return new UnforkError(msg, 'collide');
  return new UnforkError(`the unfork helper failed: ${code}: ${msg}`, 'failed');
}

/** A lazy copy of a live process's memory in a helper process, where the target's functions can be called (made by `unfork(pid)`). */
export class Unfork {
  private tp: bigint | undefined;
  private closed = false;
  /** set when the vdso could not be moved to the target's address: vdso calls (clock_gettime) would crash */
  readonly warnings: string[] = [];

  private constructor(
    /** the process asked for */
    readonly pid: number,
    /** the process the pages come from: `pid`, or its held copy with `consistent` */
    readonly source: number,
    /** the source's mappings at the import, as /proc/PID/maps lists them ({start, end, perms, offset, inode, path}) */
    readonly maps: Mapping[],
    private readonly mem: TargetMemory,
    private readonly syms: SymbolResolver,
    private readonly helper: Helper,
    private readonly opts: UnforkOptions,
  ) {}

  /** Imports process `pid` into a helper; a failure is an UnforkError naming `pid`. */
  static open(pid: number, opts: UnforkOptions = {}): Promise<Unfork> {
    return Unfork.importTarget(pid, opts).catch((e: unknown) => {
      throw blamePid(e, pid);
    });
  }

  private static async importTarget(pid: number, opts: UnforkOptions): Promise<Unfork> {
    if (!Number.isSafeInteger(pid) || pid < 1) throw new UnforkError(`not a process ID: ${pid}`, 'bad-pid');
    if (pid === process.pid) throw new UnforkError(`PID ${pid} is this process itself`, 'bad-pid');
    if (!existsSync(`/proc/${pid}/maps`)) throw new UnforkError(`no process with PID ${pid}`, 'no-such-process');
    let source = pid;
    if (opts.consistent) source = await heldCopy(pid);
    let mem: TargetMemory | undefined;
    let helper: Helper | undefined;
    try {
      let maps: Mapping[] = [];
      try {
        maps = readMaps(source);
      } catch {
        // unreadable maps: the memory check below says why
      }
      mem = new TargetMemory(source);
      if (maps.length === 0) throw new UnforkError(`PID ${source} has no memory to import (a zombie or a kernel thread)`, 'bad-target');
      const syms = new SymbolResolver(source, maps, mem);
      helper = new Helper(toolBinary('forkall-unfork'), !opts.consistent);
      const lines = [`pid ${source.toString(16)}`, `uffd ${opts.userModeOnly ? 1 : 0}`];
      // The target's code must not run with more privilege than the target has.
      const creds = targetCreds(source);
      if (creds && creds.uid !== process.geteuid?.()) lines.push(`cred ${creds.uid.toString(16)} ${creds.gid.toString(16)}`);
      for (const m of maps) {
        const l = mapLine(m);
        if (l) lines.push(l);
      }
      helper.send(lines);
      const a = await helper.ask('import', false, 120_000);
      if (!a.ok) throw setupError(a.words);
      const u = new Unfork(pid, source, maps, mem, syms, helper, opts);
      if (a.words[1] && a.words[1] !== '-') u.warnings.push(a.words[1]);
      return u;
    } catch (e) {
      helper?.kill();
      mem?.close();
      if (source !== pid) killCopy(source);
      throw e;
    }
  }

  /** Where `symbol` is in the target (its executable first, then its libraries; `name@lib` narrows). */
  symbol(name: string): ResolvedSymbol {
    const s = this.syms.resolve(name);
    if (!s)
      throw new UnforkError(
        `symbol '${name}' not found in PID ${this.pid} (searched the symbol tables of: ${this.syms.objectPaths.join(', ') || 'no ELF file'})`,
        'no-symbol',
      );
    return s;
  }

  private threadPointer(): bigint {
    if (this.tp === undefined) {
      const found = findMainThreadPointer(this.mem, this.maps, this.syms, [this.source, this.pid]);
      if (!found) throw new UnforkError(`cannot find the main thread's TLS of PID ${this.pid} (neither glibc's _dl_stack_user nor a musl thread descriptor)`, 'no-tls');
      this.tp = found.tp;
    }
    return this.tp;
  }

  private live(): void {
    if (this.closed) throw new UnforkError('this unfork was closed', 'closed');
  }

  /** Calls `symbol(args...)` in the copy: strings are passed as pointers to NUL-terminated copies, numbers as integers (at most 6). */
  call(symbol: string, ...args: CallArg[]): Promise<CallResult> {
    return this.callInCopy(symbol, args).catch((e: unknown) => {
      throw blamePid(e, this.pid);
    });
  }

  private async callInCopy(symbol: string, args: CallArg[]): Promise<CallResult> {
    this.live();
    const s = this.symbol(symbol);
    if (s.type === 10) throw new UnforkError(`'${symbol}' is an IFUNC (its address is a resolver); call the implementation it selects instead`, 'no-symbol');
    if (args.length > 6) throw new UnforkError('at most 6 arguments', 'failed');
    const flush = this.opts.flush === false ? 0n : (this.syms.resolve('fflush')?.address ?? 0n);
    const enc = args.map((a) => (typeof a === 'string' ? `s:${Buffer.from(a).toString('hex')}` : `i:${hex(u64(a))}`));
    const line = ['call', hex(s.address), hex(flush), hex(this.threadPointer()), ...enc].join(' ');
    const a = await this.helper.ask(line, true, this.opts.callTimeoutMs ?? 30_000);
    if (!a.ok) throw new UnforkError(`call of ${symbol} refused: ${a.words.slice(1).join(' ')}`, 'failed');
    const both = a.payload ?? Buffer.alloc(0);
    const outLen = Number.parseInt(a.words[3] ?? '0', 16);
    return { symbol, address: s.address, returned: BigInt('0x' + a.words[1]), output: both.subarray(0, outLen), stderr: both.subarray(outLen) };
  }

  /** `len` bytes at an address or a symbol, as the copy has them (faulting them in from the target). */
  read(where: string | number | bigint, len: number): Promise<Buffer> {
    return this.readInCopy(where, len).catch((e: unknown) => {
      throw blamePid(e, this.pid);
    });
  }

  private async readInCopy(where: string | number | bigint, len: number): Promise<Buffer> {
    this.live();
    const addr = typeof where === 'string' && !/^(0x[0-9a-f]+|\d+)$/i.test(where) ? this.symbol(where).address : BigInt(where);
    if (!Number.isSafeInteger(len) || len < 0) throw new UnforkError(`bad length ${len}`, 'failed');
    // every byte must be in a readable mapping the helper imported
    for (let at = addr; at < addr + BigInt(len); ) {
      const m = this.maps.find((x) => x.start <= at && at < x.end && x.perms[0] === 'r' && !x.path.startsWith('[vvar') && x.path !== '[vsyscall]');
      if (!m) throw new UnforkError(`address 0x${hex(at)} is not in a readable mapping of PID ${this.pid} (at the import)`, 'not-mapped');
      at = m.end;
    }
    const a = await this.helper.ask(`read ${hex(addr)} ${hex(BigInt(len))}`, true, this.opts.callTimeoutMs ?? 30_000);
    return a.payload ?? Buffer.alloc(0);
  }

  /** How many pages have been read from the target so far, and how many its readable mappings hold. */
  async stats(): Promise<{ pagesImported: number; pagesMapped: number }> {
    this.live();
    const a = await this.helper.ask('stats', false, 30_000);
    const pagesMapped = this.maps.filter((m) => m.perms[0] === 'r' && !m.path.startsWith('[')).reduce((n, m) => n + Number((m.end - m.start) / 4096n), 0);
    return { pagesImported: Number.parseInt(a.words[1] ?? '0', 16), pagesMapped };
  }

  /** Drops every imported page: the next touch reads it from the target again (the layout stays as imported). */
  async refresh(): Promise<void> {
    this.live();
    const a = await this.helper.ask('refresh', false, 60_000);
    if (!a.ok) throw new UnforkError(`refresh failed: ${a.words.slice(1).join(' ')}`, 'failed');
  }

  /** Synchronous last resort (a signal handler): kills the helper and the held copy. */
  abort(): void {
    this.closed = true;
    this.helper.kill();
    if (this.source !== this.pid) killCopy(this.source);
  }

  /** Ends the helper (and the held copy with `consistent`). The target is left as it was. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.helper.quit();
    this.mem.close();
    if (this.source !== this.pid) killCopy(this.source);
  }
}

/** Effective user and group of a process (/proc/PID/status). */
function targetCreds(pid: number): { uid: number; gid: number } | undefined {
  try {
    const st = readFileSync(`/proc/${pid}/status`, 'utf8');
    const uid = /^Uid:\s+\d+\s+(\d+)/m.exec(st);
    const gid = /^Gid:\s+\d+\s+(\d+)/m.exec(st);
    return uid && gid ? { uid: Number(uid[1]), gid: Number(gid[1]) } : undefined;
  } catch {
    return undefined;
  }
}

/** --consistent: a copy of `pid` made by the remote engine, left stopped (the target itself is stopped only while it is made). */
async function heldCopy(pid: number): Promise<number> {
  try {
    return (await cloneProcess(pid, { stopped: true }))[0]!.pid;
  } catch (e) {
    if (!(e instanceof RemoteError)) throw e;
    const code = e.code === 'denied' ? 'denied' : e.code === 'no-such-process' ? 'no-such-process' : 'failed';
    throw new UnforkError(`--consistent: the held copy of PID ${pid} could not be made: ${e.message}`, code);
  }
}

function killCopy(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

/** Imports process `pid` into a helper; see Unfork. */
export function unfork(pid: number, opts: UnforkOptions = {}): Promise<Unfork> {
  return Unfork.open(pid, opts);
}
