// One explore session: the program started under the agent with the scheduler
// preloaded, frozen once, then cloned once per schedule.
import type { Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { nativeArtifact } from '../native/paths.js';
import { spawnTemplate, type Clone, type CloneRun, type Template, type Trigger } from '../server/template.js';
import type { CloneStdioOption } from '../server/clone-stdio.js';
import { Mailbox } from './mailbox.js';
import type { RunResult } from './outcome.js';
import { RunOutput } from './run-output.js';

export interface SessionOptions {
  cmd: string;
  args: string[];
  /**
   * when to freeze; undefined: when the program calls forkall_snapshot();
   * 'create': at the program's first pthread_create (the scheduler calls
   * forkall_snapshot() there), for programs with no snapshot call of their own
   */
  at?: Trigger | 'create';
  /** give up waiting for the snapshot after this long */
  snapshotTimeoutMs?: number;
}

export class Session {
  template!: Template;
  snapshotMs = 0;
  threads = 0;
  /** false when the template belongs to someone else (a served template): close() only disarms */
  private owned = true;

  /** the served template's PID when this session attached to one (its snapshot was taken earlier) */
  get servedPid(): number | undefined {
    return this.owned ? undefined : this.template.pid;
  }

  constructor(readonly mailbox = new Mailbox()) {}

  /**
   * A session on a template that is already frozen and whose program was
   * started with the scheduler and this mailbox (`forkall run --serve
   * --explorable`); the template outlives the session.
   */
  static attach(template: Template, mailbox: Mailbox): Session {
    const s = new Session(mailbox);
    s.owned = false;
    s.template = template;
    s.threads = template.threads;
    mailbox.arm(template.pid);
    return s;
  }

  /** output files of the job slots not running a clone now */
  private readonly idleOutputs: RunOutput[] = [];
  private readonly outputs: RunOutput[] = [];

  static async start(o: SessionOptions): Promise<Session> {
    const s = new Session();
    try {
      const t0 = performance.now();
      s.template = await spawnTemplate(o.cmd, o.args, {
        at: o.at === undefined || o.at === 'create' ? 'request' : o.at,
        preload: [nativeArtifact('libforkall-sched.so')],
        env: {
          ...process.env,
          FORKALL_EXPLORE: s.mailbox.path,
          ...(o.at === 'create' ? { FORKALL_EXPLORE_SNAPSHOT: 'create' } : {}),
          // a clone's page faults are most of its cost on a VM (tens of µs each):
          // symbols bound once in the template, not lazily in every clone (each
          // first call wrote a GOT page: a copy); clones inherit the template's
          // page-table entries for code and read-only data (docs/agent.md)
          LD_BIND_NOW: '1',
          FORKALL_PREFAULT: '1',
        },
        stdio: ['ignore', 'ignore', 'inherit'],
        timeoutMs: o.snapshotTimeoutMs ?? 60_000,
      });
      s.threads = o.at === undefined || o.at === 'create' ? await s.template.frozenState() : await s.template.snapshot();
      s.snapshotMs = performance.now() - t0;
      s.mailbox.unlink(); // the template mapped it at load time; clones inherit the mapping
      s.mailbox.arm(s.template.pid);
    } catch (e) {
      await s.close();
      throw e;
    }
    return s;
  }

  /**
   * One clone, run to its end or killed after timeoutMs. Its stdout/stderr
   * are collected through a job slot's files, or go where `stdio` says
   * ('pipe': collected through pipes).
   */
  async run(timeoutMs: number, stdio?: CloneStdioOption): Promise<RunResult> {
    if (stdio !== undefined) return this.runWithStdio(timeoutMs, stdio);
    const slot = this.idleOutputs.pop() ?? this.newOutput();
    // One reply per run (the agent's RAN, once the clone ended) and the
    // timeout kept by the agent: no CLONED message, no timer and no
    // /proc/PID/stat read here per run, and the clone does not wake the
    // template when it is whole.
    let r: CloneRun;
    try {
      r = await this.template.run({ stdio: slot.stdio, deadlineMs: timeoutMs });
    } catch (e) {
      // a clone may still come of a request that failed: it must not write into a later run's files
      this.outputs.splice(this.outputs.indexOf(slot), 1);
      slot.close();
      throw e;
    }
    try {
      const { seed, deadlock } = this.mailbox.takeSeed(r.pid);
      return {
        exitCode: r.exitCode,
        signal: r.signal,
        timedOut: !deadlock && r.killedAtDeadline && r.signal === 'SIGKILL',
        deadlock: deadlock && r.signal === 'SIGKILL',
        seed,
        ...slot.take(),
      };
    } finally {
      this.idleOutputs.push(slot);
    }
  }

  private newOutput(): RunOutput {
    const o = new RunOutput();
    this.outputs.push(o);
    return o;
  }

  private async runWithStdio(timeoutMs: number, stdio: CloneStdioOption): Promise<RunResult> {
    const c = await this.template.clone({ stdio });
    const out: Buffer[] = [], err: Buffer[] = [];
    c.stdout?.on('data', (b: Buffer) => out.push(b));
    c.stderr?.on('data', (b: Buffer) => err.push(b));
    // A short run may have ended, and a pipe that carried nothing closed, before
    // the clone was reported (the agent reports a clone once it notices it is
    // whole): finished() also resolves for a stream that is closed already.
    const ended = (s: Readable | null) => (s ? finished(s).catch(() => undefined) : Promise.resolve());
    const drained = Promise.all([ended(c.stdout), ended(c.stderr)]);
    const r = await this.finish(c, timeoutMs);
    await drained;
    return { ...r, stdout: Buffer.concat(out), stderr: Buffer.concat(err) };
  }

  /** Waits for the clone's end (killing it after timeoutMs) and reads its seed. */
  private async finish(c: Clone, timeoutMs: number): Promise<Omit<RunResult, 'stdout' | 'stderr'>> {
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      c.kill('SIGKILL');
    }, timeoutMs);
    try {
      const r = await c.exited;
      const { seed, deadlock } = this.mailbox.takeSeed(c.pid);
      return {
        exitCode: r.exitCode,
        signal: r.signal,
        timedOut: !deadlock && timedOut && r.signal === 'SIGKILL',
        deadlock: deadlock && r.signal === 'SIGKILL',
        seed,
      };
    } finally {
      clearTimeout(timer);
    }
  }

  async close(): Promise<void> {
    try {
      if (!this.owned) this.mailbox.disarm(); // a served template: it stays, as does its mailbox
      else await this.template?.close();
    } finally {
      if (this.owned) this.mailbox.close();
      for (const o of this.outputs.splice(0)) o.close();
      this.idleOutputs.length = 0;
    }
  }
}
