// Running the forkall CLI from a test without blocking the event loop (a
// spawnSync would keep the test's own timeout from firing).
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { packageRoot } from '../../src/native/paths.js';

export const cli = join(packageRoot, 'bin', 'forkall.js');

/** `forkall ARGS...`: its exit code and output once it ends. */
export function runForkall(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const c = spawn(process.execPath, [cli, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    c.stdout.on('data', (d) => (stdout += d));
    c.stderr.on('data', (d) => (stderr += d));
    c.on('error', reject);
    c.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}
