// Running one clone request in a separate engine process (engine-process.ts):
// the Node API's way in (api.ts), so that the caller's event loop, signals and
// death never leave the target half-way through an injected call. (The forkall
// command runs the engine on its own thread instead: src/cli/held-signals.ts.)
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { packageRoot } from '../native/paths.js';
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
  // next to this module; from the bundled command (dist/cli-bundle/), tsc's copy in dist/remote/
  let entry = siblingModule('engine-process');
  if (!existsSync(entry)) entry = pathToFileURL(join(packageRoot, 'dist', 'remote', 'engine-process.js'));
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
