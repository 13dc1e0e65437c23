// One explore session: the program started under the agent with the scheduler
// preloaded, frozen once, then cloned once per schedule.
import { nativeArtifact } from '../native/paths.js';
import { spawnTemplate, type Template, type Trigger } from '../server/template.js';
import type { CloneStdioOption } from '../server/clone-stdio.js';
import { Mailbox } from './mailbox.js';
import type { RunResult } from './outcome.js';

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

  static async start(o: SessionOptions): Promise<Session> {
    const s = new Session();
    try {
      const t0 = performance.now();
      s.template = await spawnTemplate(o.cmd, o.args, {
        at: o.at === undefined || o.at === 'create' ? 'request' : o.at,
        preload: [nativeArtifact('libforkall-sched.so')],
        env: { ...process.env, FORKALL_EXPLORE: s.mailbox.path, ...(o.at === 'create' ? { FORKALL_EXPLORE_SNAPSHOT: 'create' } : {}) },
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

  /** One clone, run to its end or killed after timeoutMs; stdout/stderr collected unless given descriptors. */
  async run(timeoutMs: number, stdio: CloneStdioOption = ['ignore', 'pipe', 'pipe']): Promise<RunResult> {
    const c = await this.template.clone({ stdio });
    const out: Buffer[] = [], err: Buffer[] = [];
    c.stdout?.on('data', (b: Buffer) => out.push(b));
    c.stderr?.on('data', (b: Buffer) => err.push(b));
    // listen for the ends now: a short run's pipes may close before it is reported as exited
    const ended = (s: NodeJS.ReadableStream | null) => (s ? new Promise<void>((r) => (s.once('close', r), s.once('error', r))) : Promise.resolve());
    const drained = Promise.all([ended(c.stdout), ended(c.stderr)]);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      c.kill('SIGKILL');
    }, timeoutMs);
    try {
      const r = await c.exited;
      await drained;
      const { seed, deadlock } = this.mailbox.takeSeed(c.pid);
      return {
        exitCode: r.exitCode,
        signal: r.signal,
        timedOut: !deadlock && timedOut && r.signal === 'SIGKILL',
        deadlock: deadlock && r.signal === 'SIGKILL',
        stdout: Buffer.concat(out),
        stderr: Buffer.concat(err),
        seed,
      };
    } finally {
      clearTimeout(timer);
    }
  }

  async close(): Promise<void> {
    if (!this.owned) return this.mailbox.disarm();
    try {
      await this.template?.close();
    } finally {
      this.mailbox.close();
    }
  }
}
