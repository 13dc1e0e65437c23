// Running one clone request in a separate engine process (engine-process.ts):
// the CLI's way in, so that a Ctrl-C or a killed CLI never leaves the target
// half-way through an injected call.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { RemoteCloneResult } from './clone-process.js';
import { RemoteError } from './errors.js';
import { siblingModule } from './module-path.js';
import { unwrapReply, unwrapTreeReply, type CloneReply, type CloneRequest } from './request.js';
import type { TreeCloneResult } from './tree/clone-tree.js';

export function cloneInEngineProcess(req: CloneRequest): Promise<RemoteCloneResult> {
  return replyOfEngineProcess(req).then(unwrapReply);
}

/** A tree clone (`req.tree`) in an engine process. */
export function cloneTreeInEngineProcess(req: CloneRequest): Promise<TreeCloneResult> {
  return replyOfEngineProcess({ ...req, tree: true }).then(unwrapTreeReply);
}

function replyOfEngineProcess(req: CloneRequest): Promise<CloneReply> {
  const entry = siblingModule('engine-process');
  const execArgv = entry.pathname.endsWith('.ts') ? process.execArgv : [];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...execArgv, fileURLToPath(entry), JSON.stringify(req)], {
      stdio: ['ignore', 'pipe', 'inherit'],
      env: { ...process.env, FORKALL_ENGINE_PROCESS: '1' },
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      const line = out.trim().split('\n').pop();
      if (!line) {
        reject(new RemoteError(`the engine process ended (${signal ?? `code ${code}`}) without a reply`, 'failed'));
        return;
      }
      try {
        resolve(JSON.parse(line) as CloneReply);
      } catch (e) {
        reject(e);
      }
    });
  });
}
