'use strict';
// Starts and stops a real VS Code server (code-server 4.96.4 for VS Code 1.96.4, or 4.106.3 for
// 1.106.3 with `lane: '1.106'`; installed by ./install.js).
//
//   const { startCodeServer, installVsix } = require('./codeServer');
//   const cs = await startCodeServer({ workspace, userDataDir, extensionsDir, settings: {...} });
//   // cs.url  -> http://127.0.0.1:PORT/ ; cs.workbenchUrl({ folder, payload }) -> URL to open
//   await cs.stop();

const fs = require('fs');
const path = require('path');
const net = require('net');
const http = require('http');
const { spawn } = require('child_process');
const { lanePaths } = require('./install');
const processes = require('./processes');

/** Settings that keep the workbench quiet and offline; spread them into `settings` if wanted. */
const QUIET_SETTINGS = Object.freeze({
  'workbench.startupEditor': 'none',
  'workbench.tips.enabled': false,
  'workbench.enableExperiments': false,
  'telemetry.telemetryLevel': 'off',
  'update.mode': 'none',
  'extensions.autoUpdate': false,
  'extensions.autoCheckUpdates': false,
  'extensions.ignoreRecommendations': true,
  'security.workspace.trust.enabled': false,
  'git.enabled': false,
  'window.commandCenter': false,
});

/** @param {string} [lane] */
function assertInstalled(lane) {
  const paths = lanePaths(lane);
  if (!fs.existsSync(paths.entry) || !fs.existsSync(paths.config) || !fs.existsSync(paths.node)) {
    throw new Error(
      `code-server is not installed at ${paths.codeServerPackage}: run \`node test/vscode/install.js${lane ? ` --lane=${lane}` : ''}\` first`,
    );
  }
  return paths;
}

/** @returns {Promise<number>} */
function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = /** @type {net.AddressInfo} */ (srv.address()); // a TCP listener's address is never a pipe name
      srv.close(() => resolve(port));
    });
  });
}

/**
 * @param {string} url
 * @param {number} [timeoutMs]
 * @returns {Promise<number | undefined>} 0 when the request failed
 */
function httpStatus(url, timeoutMs = 2000) {
  return new Promise((resolve) => {
    const req = http.get(url, { timeout: timeoutMs }, (res) => {
      res.resume();
      resolve(res.statusCode);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(0));
  });
}

/**
 * A `vscode-remote://127.0.0.1:PORT/abs/path` URI for a path on this machine, as the web workbench wants it.
 * @param {number} port
 * @param {string} absPath
 */
function remoteUri(port, absPath) {
  const p = path.resolve(absPath).split(path.sep).map(encodeURIComponent).join('/');
  return `vscode-remote://127.0.0.1:${port}${p.startsWith('/') ? '' : '/'}${p}`;
}

/**
 * The workbench URL: `?folder=...&payload=[[k,v],...]` (payload as @vscode/test-web builds it).
 * @param {string} baseUrl
 * @param {{ folder?: string, payload?: [string, string][] }} [options]
 */
function buildWorkbenchUrl(baseUrl, { folder, payload } = {}) {
  const u = new URL(baseUrl);
  if (folder) u.searchParams.set('folder', path.resolve(folder));
  if (payload && payload.length) u.searchParams.set('payload', JSON.stringify(payload));
  return u.toString();
}

/** @param {{ userDataDir: string, extensionsDir: string, paths: ReturnType<typeof lanePaths> }} dirs */
function commonArgs({ userDataDir, extensionsDir, paths }) {
  return [
    paths.entry,
    // Our own config file, so code-server neither reads nor writes ~/.config/code-server/config.yaml.
    '--config',
    paths.config,
    '--user-data-dir',
    path.resolve(userDataDir),
    '--extensions-dir',
    path.resolve(extensionsDir),
  ];
}

/**
 * @param {NodeJS.ProcessEnv | undefined} env
 * @param {string} userDataDir
 */
function childEnv(env, userDataDir) {
  // code-server keeps its own logs (coder-logs/) and a heartbeat file in $XDG_DATA_HOME/code-server
  // (default ~/.local/share/code-server): keep them with this run's user-data dir instead.
  /** @type {NodeJS.ProcessEnv} */
  const e = { ...process.env, XDG_DATA_HOME: path.join(path.resolve(userDataDir), 'xdg-data'), ...(env || {}) };
  // code-server would open the VS Code server's own CLI pipes of an outer VS Code: not ours.
  delete e.VSCODE_IPC_HOOK_CLI;
  return e;
}

/**
 * Starts code-server. Options:
 *  - workspace: folder to open (created if missing)
 *  - userDataDir, extensionsDir: created if missing; `settings` goes to <userDataDir>/User/settings.json
 *  - settings: object (written as is; see QUIET_SETTINGS)
 *  - env: extra environment for code-server and so for the extension host
 *  - extensionDevelopmentPath, extensionTestsPath (optional): code-server's CLI does not take these; the
 *    web workbench gets them through the `payload` query parameter. Given here, the returned
 *    `payload` and `workbenchUrl()` carry them (as vscode-remote:// URIs), ready for openWorkbench().
 *  - logFile: where code-server's stdout/stderr go (default <userDataDir>/code-server.log)
 *  - timeoutMs: how long to wait for it to answer HTTP (default 60 s)
 *  - lane: which installed VS Code ('1.96', the default, or '1.106')
 * Returns { url, port, pid, payload, workbenchUrl(opts?), logFile, output(), stop() }.
 * @param {{ workspace: string, userDataDir: string, extensionsDir: string, settings?: object, env?: NodeJS.ProcessEnv,
 *   extensionDevelopmentPath?: string, extensionTestsPath?: string, logFile?: string, timeoutMs?: number, lane?: string }} opts
 */
async function startCodeServer(opts) {
  const paths = assertInstalled(opts.lane);
  const {
    workspace,
    userDataDir,
    extensionsDir,
    settings = {},
    env = {},
    extensionDevelopmentPath,
    extensionTestsPath,
    timeoutMs = 60000,
  } = opts;
  if (!workspace || !userDataDir || !extensionsDir)
    throw new Error('startCodeServer: workspace, userDataDir and extensionsDir are required');
  for (const d of [workspace, userDataDir, extensionsDir]) fs.mkdirSync(d, { recursive: true });
  const userDir = path.join(userDataDir, 'User');
  fs.mkdirSync(userDir, { recursive: true });
  fs.writeFileSync(path.join(userDir, 'settings.json'), JSON.stringify(settings, null, 2) + '\n');
  const logFile = opts.logFile || path.join(userDataDir, 'code-server.log');

  let lastError;
  for (let attempt = 1; attempt <= 3; attempt++) {
    const port = await freePort();
    try {
      return await launch({
        port,
        workspace,
        userDataDir,
        extensionsDir,
        env,
        extensionDevelopmentPath,
        extensionTestsPath,
        timeoutMs,
        logFile,
        paths,
      });
    } catch (e) {
      lastError = e;
      if (!/EADDRINUSE/.test(/** @type {Error} */ (e).message)) throw e; // another process took the port meanwhile: retry
    }
  }
  throw lastError;
}

/**
 * @param {{ port: number, workspace: string, userDataDir: string, extensionsDir: string, env: NodeJS.ProcessEnv,
 *   extensionDevelopmentPath?: string, extensionTestsPath?: string, timeoutMs: number, logFile: string,
 *   paths: ReturnType<typeof lanePaths> }} options
 */
async function launch({
  port,
  workspace,
  userDataDir,
  extensionsDir,
  env,
  extensionDevelopmentPath,
  extensionTestsPath,
  timeoutMs,
  logFile,
  paths,
}) {
  const args = [
    ...commonArgs({ userDataDir, extensionsDir, paths }),
    '--auth',
    'none',
    '--bind-addr',
    `127.0.0.1:${port}`,
    '--disable-telemetry',
    '--disable-update-check',
    '--disable-workspace-trust',
    '--disable-getting-started-override',
    path.resolve(workspace),
  ];
  const logStream = fs.createWriteStream(logFile, { flags: 'a' });
  logStream.write(`\n===== ${new Date().toISOString()} ${paths.node} ${args.join(' ')}\n`);
  let output = '';
  const child = spawn(paths.node, args, {
    cwd: path.resolve(workspace),
    env: childEnv(env, userDataDir),
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true, // its own process group, so stop() ends the extension host, pty host, watchers too
  });
  const { pid } = child;
  if (pid === undefined) {
    // It never started: its 'error' event says why (unheard, that event would end this process).
    logStream.end();
    throw await new Promise((resolve) => child.once('error', resolve));
  }
  processes.track(pid, `code-server :${port}`);
  /** @param {Buffer} d */
  const onData = (d) => {
    logStream.write(d);
    output = (output + d.toString()).slice(-64 * 1024);
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  let exited = /** @type {{ code: number | null, signal: NodeJS.Signals | null } | null} */ (null); // set by the 'exit' listener
  const exitPromise = new Promise((resolve) =>
    child.on('exit', (code, signal) => {
      exited = { code, signal };
      resolve(exited);
    }),
  );

  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    try {
      await processes.killTree(pid, 5000);
    } finally {
      processes.untrack(pid);
      await Promise.race([exitPromise, new Promise((r) => setTimeout(r, 2000))]);
      await new Promise((r) => logStream.end(r));
    }
  };

  const url = `http://127.0.0.1:${port}/`;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (exited) {
      await stop();
      throw new Error(
        `code-server exited before answering (code ${exited.code}, signal ${exited.signal}); log ${logFile}:\n${output.slice(-4000)}`,
      );
    }
    if ((await httpStatus(`${url}healthz`)) === 200) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`code-server did not answer on ${url} within ${timeoutMs} ms; log ${logFile}:\n${output.slice(-4000)}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }

  /** @type {[string, string][]} */
  const payload = [];
  if (extensionDevelopmentPath) payload.push(['extensionDevelopmentPath', remoteUri(port, extensionDevelopmentPath)]);
  if (extensionTestsPath) payload.push(['extensionTestsPath', remoteUri(port, extensionTestsPath)]);
  return {
    url,
    port,
    pid,
    logFile,
    payload,
    /**
     * URL of the workbench on `folder` (default: the workspace) with this server's payload (or `payload`).
     * @param {{ folder?: string, payload?: [string, string][] }} [options]
     */
    workbenchUrl: ({ folder = workspace, payload: p = payload } = {}) => buildWorkbenchUrl(url, { folder, payload: p }),
    remoteUri: (/** @type {string} */ p) => remoteUri(port, p),
    output: () => output,
    exited: () => exited,
    stop,
  };
}

/** @typedef {Awaited<ReturnType<typeof launch>>} CodeServer */

/**
 * Installs a .vsix into extensionsDir with code-server's --install-extension. Resolves with its output;
 * rejects (with the output) if it fails.
 * @param {string} vsixPath
 * @param {{ userDataDir: string, extensionsDir: string, env?: NodeJS.ProcessEnv, timeoutMs?: number, lane?: string }} options
 * @returns {Promise<string>}
 */
function installVsix(vsixPath, { userDataDir, extensionsDir, env, timeoutMs = 120000, lane }) {
  const paths = assertInstalled(lane);
  if (!userDataDir || !extensionsDir) return Promise.reject(new Error('installVsix: userDataDir and extensionsDir are required'));
  if (!fs.existsSync(vsixPath)) return Promise.reject(new Error(`installVsix: no such file: ${vsixPath}`));
  fs.mkdirSync(userDataDir, { recursive: true });
  fs.mkdirSync(extensionsDir, { recursive: true });
  const args = [...commonArgs({ userDataDir, extensionsDir, paths }), '--install-extension', path.resolve(vsixPath), '--force'];
  return new Promise((resolve, reject) => {
    const child = spawn(paths.node, args, { env: childEnv(env, userDataDir), stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    const { pid } = child;
    if (pid === undefined) {
      child.once('error', reject); // it never started: 'error' says why
      return;
    }
    processes.track(pid, 'code-server --install-extension');
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const timer = setTimeout(() => {
      processes.killTree(pid, 2000).catch(() => {});
      reject(new Error(`installVsix timed out after ${timeoutMs} ms:\n${out}`));
    }, timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      processes.untrack(pid);
      reject(e);
    });
    child.on('exit', async (code) => {
      clearTimeout(timer);
      // Anything it left behind (it should leave nothing) goes too.
      await processes.killTree(pid, 1000).catch(() => {});
      processes.untrack(pid);
      if (code === 0 && /successfully installed/i.test(out)) resolve(out);
      else reject(new Error(`installVsix failed (exit ${code}) for ${vsixPath}:\n${out}`));
    });
  });
}

module.exports = { startCodeServer, installVsix, buildWorkbenchUrl, remoteUri, freePort, QUIET_SETTINGS };
