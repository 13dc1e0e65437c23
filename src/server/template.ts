// The TypeScript client of the agent: start a program under the agent, wait
// for its snapshot, make clones, learn how they end, close.
import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import { closeSync, openSync, readFileSync, readSync } from 'node:fs';
import { constants } from 'node:os';
import type { Duplex, Readable, Writable } from 'node:stream';
import { nativeArtifact } from '../native/paths.js';
import type { NotCopied } from '../remote/private/plan.js';
import { ForkallError, type AgentErrorCode } from '../errors.js';
import type { ProcessExit } from '../process-exit.js';
import { statFields } from '../proc/tasks.js';
import { prepareStdio, type CloneStdioOption, type PreparedStdio } from './clone-stdio.js';
import { sendWithFds } from './fd-passing.js';
import {
  CLONE_DEADLINE,
  CLONE_ONE_REPLY,
  MessageReader,
  MsgType,
  cloneRequest,
  cloneStdioRequest,
  decodeWaitStatus,
  encode,
  killRequest,
  type AgentMessage,
} from './protocol.js';

export type Trigger = { threads: number } | { delayMs: number } | 'request';

export interface TemplateOptions {
  /** when to freeze: once N threads exist and settled, after a delay, or on snapshot() (default) */
  at?: Trigger;
  exactTids?: boolean;
  /** move the frozen template's anonymous memory into huge pages (MADV_COLLAPSE) */
  compact?: boolean;
  env?: NodeJS.ProcessEnv;
  /** the template's stdin/stdout/stderr; clones inherit them */
  stdio?: [StdioOptions, StdioOptions, StdioOptions] | 'inherit' | 'pipe' | 'ignore';
  /** reject waits (snapshot, clone) after this long */
  timeoutMs?: number;
  /**
   * Clones share the template's epoll instances, eventfds, timerfds, signalfds
   * and self-pipes, as after fork (default false: each clone gets private
   * copies, docs/semantics.md).
   */
  sharedFds?: boolean;
  /** more libraries to preload after the agent (forkall explore's scheduler) */
  preload?: string[];
}

/** What a clone reported about its event objects (private copies unless sharedFds). */
export interface CloneNotCopied {
  pid: number;
  /** objects made private */
  copied: number;
  /** each object left shared, copied approximately or left out, as the remote engine names them */
  objects: NotCopied[];
}

/** How a Template's clone ended: the ProcessExit, and the raw wait status the agent reaped. */
export interface CloneResult extends ProcessExit {
  /** the wait(2) status word */
  status: number;
}

/** How a clone made by Template.run went: the clone's PID and threads, how it ended, what it left shared. */
export interface CloneRun extends CloneResult {
  pid: number;
  threads: number;
  /** event objects the clone left shared or copied approximately */
  notCopied: NotCopied[];
  /** run({ deadlineMs }): the agent killed it (SIGKILL) because it was still alive then */
  killedAtDeadline: boolean;
}

export interface CloneOptions {
  /**
   * The clone's stdin/stdout/stderr (default 'inherit': the template's): one
   * value for all three or [stdin, stdout, stderr], each 'inherit', 'pipe',
   * 'ignore' or a file descriptor. They are in place before any of the
   * clone's threads runs again.
   */
  stdio?: CloneStdioOption;
}

export interface Clone {
  pid: number;
  threads: number;
  exited: Promise<CloneResult>;
  /** event objects this clone left shared or copied approximately (filled when the clone reports it; usually before the clone is returned) */
  readonly notCopied: NotCopied[];
  kill(signal?: NodeJS.Signals | number): void;
  /** our ends of the 'pipe' stdio (null for the others) */
  stdin: Writable | null;
  stdout: Readable | null;
  stderr: Readable | null;
}

/** A ForkallError of the agent (Template); `pid` is the template's, `errno` the agent's when it reported one. */
export class AgentError extends ForkallError {
  override name = 'AgentError';
  declare readonly code: AgentErrorCode;
  constructor(message: string, errno = 0, code: AgentErrorCode = 'agent-failed', pid?: number) {
    super(message, code, { errno, pid });
  }
}

export class Template {
  readonly process: ChildProcess;
  private pidSeen = 0;
  private threadsFrozen = 0;
  private compacted: number | null = 0;
  private readonly control: Duplex;
  private readonly reader = new MessageReader();
  private nextRequest = 1;
  private pendingClones = new Map<number, { resolve: (c: Clone) => void; reject: (e: Error) => void; stdio?: PreparedStdio }>();
  private pendingRuns = new Map<number, { resolve: (r: CloneRun) => void; reject: (e: Error) => void; stdio?: PreparedStdio }>();
  private exits = new Map<number, (r: CloneResult) => void>();
  private earlyExits = new Map<number, CloneResult>();
  private snapshotWaiters: Array<{ resolve: (n: number) => void; reject: (e: Error) => void }> = [];
  private failure: Error | undefined;
  private frozen = false;
  private notCopiedByPid = new Map<number, NotCopied[]>();
  /** called when a clone reports event objects it could not make private */
  onNotCopied: ((r: CloneNotCopied) => void) | undefined;
  /** clones reported and not yet reported ended: PID -> start time (to never kill a reused PID) */
  private readonly live = new Map<number, string | undefined>();

  constructor(cmd: string, args: string[], private readonly opts: TemplateOptions = {}) {
    const at = opts.at ?? 'request';
    const env: NodeJS.ProcessEnv = {
      ...(opts.env ?? process.env),
      LD_PRELOAD: [nativeArtifact('libforkall-agent.so'), ...(opts.preload ?? [])].join(' '),
      FORKALL_CONTROL_FD: '3',
      FORKALL_AT: at === 'request' ? 'request' : 'threads' in at ? `threads=${at.threads}` : `delay=${at.delayMs}`,
      ...(opts.exactTids ? { FORKALL_EXACT_TIDS: '1' } : {}),
      ...(opts.compact ? { FORKALL_COMPACT: '1' } : {}),
      ...(opts.sharedFds ? { FORKALL_SHARED_FDS: '1' } : {}),
    };
    const base = opts.stdio ?? 'inherit';
    const std = typeof base === 'string' ? [base, base, base] : base;
    this.process = spawn(cmd, args, { env, stdio: [...std, 'pipe'] as StdioOptions });
    this.control = this.process.stdio[3] as Duplex;
    this.control.on('data', (chunk: Buffer) => this.onData(chunk));
    this.control.on('error', () => {});
    this.process.on('error', (e) => this.fail(new AgentError(`cannot start ${cmd}: ${e.message}`, 0, 'template-ended')));
    this.process.on('exit', (code, signal) => {
      this.endOrphans();
      this.fail(new AgentError(`template process ${this.process.pid} ended (${signal ?? `exit ${code}`})${this.frozen ? '' : ' before its snapshot'}`, 0, 'template-ended', this.process.pid));
    });
  }

  /**
   * The template is gone: its clones must not outlive it. Each clone has a
   * parent-death signal (SIGKILL) of its own; this ends any clone still there
   * (e.g. one made a moment before the template died), checking the start
   * time so that a PID reused since is never touched.
   */
  private endOrphans(): void {
    for (const [pid, started] of this.live) {
      if (started !== undefined && startTime(pid) !== started) continue;
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    this.live.clear();
  }

  /** PID of the program under the agent (the last image that said hello; 0 until then) */
  get pid(): number {
    return this.pidSeen;
  }

  /** threads frozen at the snapshot (0 before it) */
  get threads(): number {
    return this.threadsFrozen;
  }

  /** MB moved into huge pages at the snapshot (compact), null if the kernel refused */
  get compactedMb(): number | null {
    return this.compacted;
  }

  /** PIDs of the clones this template reported and that have not been reported ended. */
  get liveClones(): number[] {
    return [...this.live.keys()];
  }

  private fail(e: Error): void {
    this.failure ??= e;
    for (const w of this.snapshotWaiters) w.reject(this.failure);
    this.snapshotWaiters = [];
    for (const p of this.pendingClones.values()) {
      p.stdio?.abandon();
      p.reject(this.failure);
    }
    this.pendingClones.clear();
    for (const p of this.pendingRuns.values()) {
      p.stdio?.abandon();
      p.reject(this.failure);
    }
    this.pendingRuns.clear();
  }

  private onData(chunk: Buffer): void {
    let msgs: AgentMessage[];
    try {
      msgs = this.reader.push(chunk);
    } catch (e) {
      this.fail(e as Error);
      return;
    }
    for (const m of msgs) this.onMessage(m);
  }

  private snapshotRequested = false;

  private onMessage(m: AgentMessage): void {
    if (m.type === 'hello') {
      // A launcher (a shell script, pyenv's shims) may exec the real program: each image says hello;
      // a request read by an image that then exec'ed is lost, so ask again.
      this.pidSeen = m.pid;
      if (this.snapshotRequested && !this.frozen) this.control.write(encode(MsgType.SNAPSHOT_NOW));
    }
    else if (m.type === 'snapshot') {
      this.frozen = true;
      this.threadsFrozen = m.threads;
      this.compacted = m.compactedMb;
      for (const w of this.snapshotWaiters) w.resolve(m.threads);
      this.snapshotWaiters = [];
    } else if (m.type === 'cloned') {
      const waiter = this.pendingClones.get(m.request);
      this.pendingClones.delete(m.request);
      let resolveExit!: (r: CloneResult) => void;
      const exited = new Promise<CloneResult>((r) => (resolveExit = r));
      const early = this.earlyExits.get(m.pid);
      if (early) {
        this.earlyExits.delete(m.pid);
        resolveExit(early);
      } else {
        this.exits.set(m.pid, resolveExit);
        this.live.set(m.pid, startTime(m.pid));
      }
      const notCopied = this.notCopiedByPid.get(m.pid) ?? [];
      this.notCopiedByPid.set(m.pid, notCopied);
      void exited.then(() => this.notCopiedByPid.delete(m.pid));
      waiter?.resolve({
        pid: m.pid,
        threads: m.threads,
        exited,
        notCopied,
        stdin: waiter.stdio?.stdin ?? null,
        stdout: waiter.stdio?.stdout ?? null,
        stderr: waiter.stdio?.stderr ?? null,
        kill: (signal: NodeJS.Signals | number = 'SIGTERM') => {
          const n = typeof signal === 'number' ? signal : (osSignal(signal) ?? 15);
          this.control.write(killRequest(m.pid, n));
        },
      });
    } else if (m.type === 'ran') {
      const waiter = this.pendingRuns.get(m.request);
      this.pendingRuns.delete(m.request);
      const notCopied = this.notCopiedByPid.get(m.pid) ?? []; // the clone sent it before it ended
      this.notCopiedByPid.delete(m.pid);
      waiter?.resolve({ ...decodeWaitStatus(m.status), status: m.status, pid: m.pid, threads: m.threads, notCopied, killedAtDeadline: m.killedAtDeadline });
    } else if (m.type === 'exited') {
      const r = { ...decodeWaitStatus(m.status), status: m.status };
      this.live.delete(m.pid);
      const done = this.exits.get(m.pid);
      if (done) {
        this.exits.delete(m.pid);
        done(r);
      } else this.earlyExits.set(m.pid, r);
    } else if (m.type === 'notCopied') {
      // sent by the clone itself: may come before or after its CLONED
      const list = this.notCopiedByPid.get(m.pid) ?? [];
      list.push(...m.objects);
      this.notCopiedByPid.set(m.pid, list);
      this.onNotCopied?.({ pid: m.pid, copied: m.copied, objects: m.objects });
    } else if (m.type === 'error') {
      const err = new AgentError(`agent: ${m.message} (errno ${m.errno})`, m.errno, 'agent-failed', this.pidSeen || this.process.pid);
      const waiter = this.pendingClones.get(m.request) ?? this.pendingRuns.get(m.request);
      if (waiter) {
        this.pendingClones.delete(m.request);
        this.pendingRuns.delete(m.request);
        waiter.stdio?.abandon();
        waiter.reject(err);
      } else if (!this.frozen) for (const w of this.snapshotWaiters.splice(0)) w.reject(err);
    }
  }

  private withTimeout<T>(p: Promise<T>, what: string): Promise<T> {
    const ms = this.opts.timeoutMs ?? 30_000;
    return new Promise<T>((resolve, reject) => {
      const t = setTimeout(() => reject(new AgentError(`timed out after ${ms} ms waiting for ${what}`, 0, 'timeout', this.pidSeen || this.process.pid)), ms);
      p.then((v) => (clearTimeout(t), resolve(v)), (e) => (clearTimeout(t), reject(e)));
    });
  }

  /** Resolves with the number of frozen threads once the template is frozen; asks for it when the trigger is 'request'. */
  snapshot(): Promise<number> {
    return (this.opts.at ?? 'request') === 'request' ? this.requestSnapshot() : this.frozenState();
  }

  /** Asks the agent to freeze now, whatever the trigger; resolves with the number of frozen threads. */
  requestSnapshot(): Promise<number> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.frozen) return Promise.resolve(this.threads);
    const p = new Promise<number>((resolve, reject) => this.snapshotWaiters.push({ resolve, reject }));
    this.snapshotRequested = true;
    if (this.pidSeen) this.control.write(encode(MsgType.SNAPSHOT_NOW));
    return this.withTimeout(p, 'the snapshot');
  }

  get isFrozen(): boolean {
    return this.frozen;
  }

  /** Waits for the snapshot (without requesting it). */
  frozenState(): Promise<number> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.frozen) return Promise.resolve(this.threads);
    return this.withTimeout(new Promise<number>((resolve, reject) => this.snapshotWaiters.push({ resolve, reject })), 'the snapshot');
  }

  /** A new clone of the frozen state: a live process with every thread. */
  async clone(opts: CloneOptions = {}): Promise<Clone> {
    await this.frozenState();
    const request = this.nextRequest++;
    const stdio = opts.stdio === undefined || opts.stdio === 'inherit' ? undefined : prepareStdio(opts.stdio);
    const p = new Promise<Clone>((resolve, reject) => this.pendingClones.set(request, { resolve, reject, stdio }));
    if (!stdio?.mask) this.control.write(cloneRequest(request));
    else {
      try {
        await this.sendDescriptors(cloneStdioRequest(request, stdio.mask), stdio.send);
      } catch (e) {
        this.pendingClones.delete(request);
        stdio.abandon();
        throw e;
      } finally {
        stdio.closeSent(); // the agent has its own copies now
      }
    }
    return this.withTimeout(p, `clone request ${request}`).catch((e: Error) => {
      if (this.pendingClones.delete(request)) stdio?.abandon(); // timed out: no reply will come for it
      throw e;
    });
  }

  /**
   * A clone that runs to its end, reported once: resolves when it ended, with
   * its PID, exit and what it left shared. Cheaper than clone() then `exited`
   * (one reply from the template instead of two, and the template is not
   * woken when the clone is whole): for loops that need neither the PID while
   * the clone runs nor kill(), such as a fuzzer or a benchmark. No timeout:
   * the clone runs as long as its program does, unless `deadlineMs` is given:
   * then the agent kills it (SIGKILL) once it is that old (counted from its
   * fork) and whole, and `killedAtDeadline` says so. stdio as for clone(), but
   * 'pipe' (there would be no Clone to hold the streams).
   */
  async run(opts: CloneOptions & { deadlineMs?: number } = {}): Promise<CloneRun> {
    const spec = opts.stdio === undefined ? [] : Array.isArray(opts.stdio) ? opts.stdio : [opts.stdio];
    if (spec.includes('pipe')) throw new TypeError("run(): stdio 'pipe' is not supported (use clone())");
    await this.frozenState();
    const request = this.nextRequest++;
    const stdio = opts.stdio === undefined || opts.stdio === 'inherit' ? undefined : prepareStdio(opts.stdio);
    const p = new Promise<CloneRun>((resolve, reject) => this.pendingRuns.set(request, { resolve, reject, stdio }));
    // deadlineMs: the agent kills the clone that long after its fork (once it is whole), so that
    // a hung run ends without a timer here or a PID to send KILL to
    const deadline = opts.deadlineMs === undefined ? 0 : Math.min(0xffffffff, Math.max(1, Math.ceil(opts.deadlineMs)));
    const flags = CLONE_ONE_REPLY | (deadline ? CLONE_DEADLINE : 0);
    if (!stdio?.mask) this.control.write(cloneRequest(request, flags, deadline));
    else {
      try {
        await this.sendDescriptors(cloneStdioRequest(request, stdio.mask, flags, deadline), stdio.send);
      } catch (e) {
        this.pendingRuns.delete(request);
        stdio.abandon();
        throw e;
      } finally {
        stdio.closeSent();
      }
    }
    return p;
  }

  /** Writes one message with descriptors attached, in order with the stream's own writes. */
  private async sendDescriptors(msg: Buffer, fds: number[]): Promise<void> {
    if (this.failure) throw this.failure;
    while (this.control.writableLength > 0) await new Promise((r) => this.control.once('drain', r));
    const fd = (this.control as unknown as { _handle?: { fd?: number } })._handle?.fd;
    if (fd === undefined || fd < 0) throw new AgentError('the control channel is closed', 0, 'closed', this.pidSeen || this.process.pid);
    sendWithFds(fd, msg, fds);
  }

  /** Closes the control channel: the template kills its live clones and exits. */
  async close(): Promise<void> {
    if (this.process.exitCode !== null || this.process.signalCode !== null) return;
    const gone = new Promise<void>((r) => this.process.once('exit', () => r()));
    this.control.end();
    this.control.destroy();
    const t = setTimeout(() => this.process.kill('SIGKILL'), 5000);
    await gone;
    clearTimeout(t);
  }
}

const statBuf = Buffer.allocUnsafe(1024);

/**
 * Field 22 of /proc/PID/stat (start time in clock ticks), undefined if the
 * process is gone. Read once per clone (forkall explore makes hundreds a
 * second): one open/read/close into a reused buffer and a scan for the one
 * field, not readFileSync and a split of the whole line (a third the cost).
 */
function startTime(pid: number): string | undefined {
  let fd: number;
  try {
    fd = openSync(`/proc/${pid}/stat`, 'r');
  } catch {
    return undefined;
  }
  try {
    const n = readSync(fd, statBuf, 0, statBuf.length, 0);
    if (n <= 0) return undefined;
    // fields after the command name, which ends at the last ')': state is field 3, start time field 22
    let at = statBuf.lastIndexOf(0x29, n - 1) + 2;
    if (at < 2 || n >= statBuf.length) return statFields(readFileSync(`/proc/${pid}/stat`, 'latin1'))[19];
    for (let field = 3; field < 22 && at > 0; field++) at = statBuf.indexOf(0x20, at) + 1;
    if (at <= 0 || at >= n) return undefined;
    let end = statBuf.indexOf(0x20, at);
    if (end < 0 || end > n) end = n;
    return statBuf.toString('latin1', at, end).trim();
  } catch {
    return undefined;
  } finally {
    closeSync(fd);
  }
}

function osSignal(name: NodeJS.Signals): number | undefined {
  return (constants.signals as Record<string, number>)[name];
}

/** Starts `cmd` under the agent; resolves once the agent answered (not yet frozen). */
export async function spawnTemplate(cmd: string, args: string[], opts: TemplateOptions = {}): Promise<Template> {
  const t = new Template(cmd, args, opts);
  return t;
}
