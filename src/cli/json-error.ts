// `--json` failures as data: a command that fails without printing its report
// leaves {"error":{"code","message","exitCode","pid"?}} on stdout, next to the
// usual one-line message on stderr. Done in one place (main) by watching what
// the command writes: every command reports failures as a `forkall: ...` line
// on stderr (commander's own: `error: ...`) and sets the exit code.
import { EXIT } from './exit-codes.js';

/** The error code for each exit code (docs/cli.md, "Exit codes"). */
const CODE_FOR_EXIT: Record<number, string> = {
  [EXIT.VERIFY_FAILED]: 'failed',
  [EXIT.USAGE]: 'usage',
  [EXIT.NATIVE]: 'native-missing',
  [EXIT.NO_PROCESS]: 'no-such-process',
  [EXIT.BAD_TARGET]: 'bad-target',
  [EXIT.TRACED]: 'traced',
  [EXIT.DENIED]: 'denied',
  [EXIT.CLONE_FAILED]: 'clone-failed',
  [EXIT.INTERRUPTED]: 'interrupted',
};

export interface JsonError {
  error: { code: string; message: string; exitCode: number; pid?: number };
}

/** Whether the command line asks for JSON (`--json` before any `--`). */
export function wantsJson(argv: string[]): boolean {
  const own = argv.slice(2);
  const end = own.indexOf('--');
  return (end < 0 ? own : own.slice(0, end)).includes('--json');
}

function pidArgument(argv: string[]): number | undefined {
  for (let i = 2; i < argv.length && argv[i] !== '--'; i++) {
    const a = argv[i];
    const v = a === '-p' || a === '--pid' ? argv[i + 1] : /^--pid=(.*)$/.exec(a)?.[1] ?? /^-p(\d+)$/.exec(a)?.[1];
    if (v !== undefined && /^\d+$/.test(v)) return Number(v);
  }
  return undefined;
}

/** Watches stdout and stderr while a command runs; `result` builds the error object, if one is due. */
export function watchForJsonError(argv: string[]) {
  const out = process.stdout.write.bind(process.stdout);
  const err = process.stderr.write.bind(process.stderr);
  let printed = false;
  let message = '';
  process.stdout.write = ((chunk: unknown, ...rest: unknown[]) => {
    printed = true;
    return (out as (...a: unknown[]) => boolean)(chunk, ...rest);
  }) as typeof process.stdout.write;
  process.stderr.write = ((chunk: unknown, ...rest: unknown[]) => {
    for (const line of String(chunk).split('\n')) {
      const m = /^(?:forkall|error): (.*)$/.exec(line);
      if (m) message = m[1];
    }
    return (err as (...a: unknown[]) => boolean)(chunk, ...rest);
  }) as typeof process.stderr.write;
  return {
    /** Puts stdout and stderr back. */
    stop(): void {
      process.stdout.write = out as typeof process.stdout.write;
      process.stderr.write = err as typeof process.stderr.write;
    },
    /** The error object for a failure that printed no report on stdout; undefined otherwise. */
    result(exitCode: number, code?: string): JsonError | undefined {
      if (exitCode === EXIT.OK || printed) return undefined;
      const pid = pidArgument(argv);
      return {
        error: {
          code: code ?? CODE_FOR_EXIT[exitCode] ?? 'failed',
          message: message || `exit ${exitCode}`,
          exitCode,
          ...(pid !== undefined ? { pid } : {}),
        },
      };
    },
  };
}
