// The `forkall` command. Each subcommand lives in ./commands/<name>.ts and exports
// `register(program)`; this file only wires them together. A command's module
// (and what it imports: the remote engine, koffi, tables) is loaded only when
// that command runs: `forkall clone -p` must not pay for `forkall explore`.
import { Command, CommanderError } from 'commander';
import { EXIT } from './exit-codes.js';
import { UsageError } from './usage-error.js';
import { wantsJson, watchForJsonError } from './json-error.js';
import { version } from '../version.js';

type Registrar = (parent: Command) => unknown;

/** Each top-level command, in the order `forkall --help` lists them, and how to load it. */
const COMMANDS: Record<string, () => Promise<Registrar>> = {
  demo: async () => (await import('./commands/demo.js')).register,
  bench: async () => {
    const [bench, server, remote, explore, cli, tree] = await Promise.all([
      import('./commands/bench.js'),
      import('./commands/bench-server.js'),
      import('./commands/bench-remote.js'),
      import('./commands/bench-explore.js'),
      import('./commands/bench-cli.js'),
      import('./commands/bench-tree.js'),
    ]);
    return (program) => {
      const b = bench.register(program);
      server.register(b);
      remote.register(b);
      explore.register(b);
      cli.register(b);
      tree.register(b);
    };
  },
  threads: async () => (await import('./commands/threads.js')).register,
  lib: async () => (await import('./commands/lib.js')).register,
  run: async () => (await import('./commands/run.js')).register,
  clone: async () => (await import('./commands/clone.js')).register,
  snapshot: async () => (await import('./commands/snapshot.js')).register,
  unfork: async () => (await import('./commands/unfork.js')).register,
  explore: async () => (await import('./commands/explore.js')).register,
  doctor: async () => (await import('./commands/doctor.js')).register,
};

/**
 * The commands a command line needs: the one it names (`forkall help X`: X),
 * none for a bare `--version`, and every one otherwise (help, a typo, which
 * commander answers with the list or a suggestion).
 */
export function commandsFor(argv: string[]): string[] {
  const words = argv.slice(2).filter((a) => !a.startsWith('-'));
  const named = words[0] === 'help' ? words[1] : words[0];
  if (named !== undefined && named in COMMANDS) return [named];
  const own = argv.slice(2);
  if (words.length === 0 && own.length > 0 && own.every((a) => a === '--version' || a === '-V')) return [];
  return Object.keys(COMMANDS);
}

/** The program with the commands named (default: all of them) registered. */
export async function buildProgram(names: string[] = Object.keys(COMMANDS)): Promise<Command> {
  const program = new Command();
  program
    .name('forkall')
    .description('fork(2) for multi-threaded Linux processes: clones in which every thread resumes where it was')
    .version(version)
    .showHelpAfterError('(run with --help for usage)')
    .enablePositionalOptions()
    .exitOverride();
  const registrars = await Promise.all(names.map((n) => COMMANDS[n]!()));
  for (const register of registrars) register(program);
  return program;
}

/** Runs the CLI; resolves to the process exit code. */
export async function main(argv: string[]): Promise<number> {
  const json = wantsJson(argv) ? watchForJsonError(argv) : undefined;
  let code: number;
  let errorCode: string | undefined;
  try {
    code = await run(argv);
  } catch (err) {
    // not one of the failures a command reports: still one line, exit 1
    process.stderr.write(`forkall: ${err instanceof Error ? err.message : String(err)}\n`);
    code = EXIT.VERIFY_FAILED;
    errorCode = 'internal';
  } finally {
    json?.stop();
  }
  const failure = json?.result(code, errorCode);
  if (failure) process.stdout.write(JSON.stringify(failure) + '\n');
  return code;
}

async function run(argv: string[]): Promise<number> {
  const program = await buildProgram(commandsFor(argv));
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`forkall: ${err.message}\n`);
      return EXIT.USAGE;
    }
    if (err instanceof Error && err.message.startsWith('native artifact missing')) {
      process.stderr.write(`forkall: ${err.message}\n`);
      return EXIT.NATIVE;
    }
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') return EXIT.OK;
      return EXIT.USAGE;
    }
    throw err;
  }
  // Commands report their outcome by setting process.exitCode (see exit-codes.ts).
  return typeof process.exitCode === 'number' ? process.exitCode : EXIT.OK;
}
