// Runs one of the native programs (demo, bench driver) and collects its output,
// forwarding stderr chunks to a callback (progress) as they arrive.
import { spawn } from 'node:child_process';

export interface ToolResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export function runTool(
  path: string,
  args: string[],
  opts: { onStderr?: (chunk: string) => void; timeoutMs?: number; env?: NodeJS.ProcessEnv } = {},
): Promise<ToolResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(path, args, { stdio: ['ignore', 'pipe', 'pipe'], env: opts.env ?? process.env });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
      opts.onStderr?.(d);
    });
    const timer = opts.timeoutMs ? setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs) : undefined;
    child.on('error', (err) => reject(new Error(`cannot run ${path}: ${err.message}`)));
    // 'close', not 'exit': only then has all of its output been read (under load
    // 'exit' can come first, leaving stdout empty). A descendant that outlives the
    // tool (a clone of a killed demo) would hold the pipes open: 5 s after the
    // exit they are closed from this end.
    child.on('exit', () => setTimeout(() => (child.stdout.destroy(), child.stderr.destroy()), 5000).unref());
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}
