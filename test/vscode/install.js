#!/usr/bin/env node
'use strict';
// Installs a real VS Code 1.96.4 (as code-server@4.96.4 from the npm registry) and playwright-core
// into <repo>/.vscode-test/code-server, doing by hand the postinstall steps that would otherwise
// reach beyond the npm registry. Idempotent and cached: a marker
// file records a finished install, so a second run returns at once.
//
//   node test/vscode/install.js          install (or confirm the cached install)
//   node test/vscode/install.js --force  redo every step even if the marker says it is done
//
// Use from other scripts: `const { ensureInstalled, paths } = require('./install');`

const fs = require('fs');
const path = require('path');
const { spawnSync } = require('child_process');

const CODE_SERVER_VERSION = '4.96.4'; // VS Code 1.96.4, the newest code-server whose engines.node is 20
const PROXY_AGENT_VERSION = '0.27.0';
// playwright-core 1.64.x drives Chromium 156 (Debian bookworm ships 156.0.8078.x); engines.node >=20.
const PLAYWRIGHT_CORE_VERSION = '1.64.1';
const MARKER_FORMAT = 1;

const REPO_ROOT = path.resolve(__dirname, '..', '..');
const VSCODE_TEST_DIR = path.join(REPO_ROOT, '.vscode-test');
const CS_DIR = path.join(VSCODE_TEST_DIR, 'code-server');
const CS_PKG = path.join(CS_DIR, 'node_modules', 'code-server');
const VSCODE_DIR = path.join(CS_PKG, 'lib', 'vscode');

const paths = {
  repoRoot: REPO_ROOT,
  vscodeTestDir: VSCODE_TEST_DIR,
  codeServerProject: CS_DIR,
  codeServerPackage: CS_PKG,
  vscodeDir: VSCODE_DIR,
  entry: path.join(CS_PKG, 'out', 'node', 'entry.js'),
  playwrightCore: path.join(CS_DIR, 'node_modules', 'playwright-core'),
  marker: path.join(CS_DIR, '.harness-install-complete.json'),
  // A config file of our own, passed as --config, so code-server never writes ~/.config/code-server/config.yaml.
  config: path.join(CS_DIR, 'harness-config.yaml'),
  log: path.join(VSCODE_TEST_DIR, 'install.log'),
  chromium: '/usr/bin/chromium',
};

const DEBIAN_PACKAGES = [
  // [package, why]
  ['chromium', 'the browser that opens the web workbench (/usr/bin/chromium)'],
  ['ripgrep', "/usr/bin/rg, used as @vscode/ripgrep's binary (its own postinstall downloads from GitHub)"],
  ['libkrb5-dev', 'headers to rebuild the kerberos native module'],
];
// Needed to compile the native modules (node-gyp); present on the node machine image.
const BUILD_TOOLS = [
  ['make', 'make'],
  ['g++', 'g++'],
  ['python3', 'python3'],
];

class InstallError extends Error {}

/** @param {string} msg */
function log(msg) {
  process.stdout.write(`[vscode-install] ${msg}\n`);
}

/** @param {number} ms */
function fmt(ms) {
  return ms >= 1000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms)} ms`;
}

/** @param {string} text */
function appendLog(text) {
  fs.mkdirSync(VSCODE_TEST_DIR, { recursive: true });
  fs.appendFileSync(paths.log, text);
}

/** @param {string} pkg */
function dpkgInstalled(pkg) {
  const r = spawnSync('dpkg-query', ['-W', '-f=${Status}', pkg], { encoding: 'utf8' });
  if (r.error) return null; // no dpkg: cannot tell
  return r.status === 0 && /install ok installed/.test(r.stdout);
}

/** @param {string} cmd */
function onPath(cmd) {
  const r = spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' });
  return r.status === 0;
}

/** Checks for the Debian packages the harness needs. Throws with the exact apt-get line if any is missing. */
function checkSystemPackages(allowAptInstall = true) {
  const missing = [];
  for (const [pkg, why] of DEBIAN_PACKAGES) {
    const ok = dpkgInstalled(pkg);
    if (ok === false) missing.push([pkg, why]);
    else if (ok === null) {
      // Not a Debian system: fall back to looking for the files.
      const file = { chromium: paths.chromium, ripgrep: '/usr/bin/rg', 'libkrb5-dev': '/usr/include/krb5.h' }[pkg];
      if (file && !fs.existsSync(file)) missing.push([pkg, why]);
    }
  }
  for (const [cmd, pkg] of BUILD_TOOLS) {
    if (!onPath(cmd)) missing.push([pkg === 'python3' ? 'python3' : 'build-essential', `${cmd} for node-gyp`]);
  }
  if (missing.length) {
    const names = [...new Set(missing.map(([p]) => p))];
    const lines = missing.map(([p, why]) => `  - ${p}: ${why}`).join('\n');
    if (allowAptInstall && process.getuid?.() === 0 && onPath('apt-get')) {
      // As root on a fresh Debian machine, install them: the README promises no manual set-up step.
      log(`installing Debian packages: ${names.join(' ')}`);
      run('apt-get', ['update'], '/', { DEBIAN_FRONTEND: 'noninteractive' });
      run('apt-get', ['install', '-y', '--no-install-recommends', ...names], '/', { DEBIAN_FRONTEND: 'noninteractive' });
      return checkSystemPackages(false);
    }
    throw new InstallError(
      `missing Debian packages:\n${lines}\nInstall them with:\n  apt-get update && apt-get install -y ${names.join(' ')}`,
    );
  }
}

/**
 * @param {string} cmd
 * @param {string[]} args
 * @param {string} cwd
 * @param {NodeJS.ProcessEnv} [extraEnv]
 * @param {number} [timeoutMs]
 */
function run(cmd, args, cwd, extraEnv = {}, timeoutMs = 20 * 60 * 1000) {
  const line = `$ (cd ${cwd} && ${cmd} ${args.join(' ')})`;
  appendLog(`\n${line}\n`);
  /** @type {NodeJS.ProcessEnv} */
  const env = {
    ...process.env,
    npm_config_unsafe_perm: 'true',
    npm_config_audit: 'false',
    npm_config_fund: 'false',
    npm_config_update_notifier: 'false',
    ...extraEnv,
  };
  // node-gyp must find Node's headers locally (it would otherwise download them from nodejs.org).
  if (!env.npm_config_nodedir) {
    const prefix = path.dirname(path.dirname(process.execPath));
    if (fs.existsSync(path.join(prefix, 'include', 'node', 'node.h'))) env.npm_config_nodedir = prefix;
  }
  const r = spawnSync(cmd, args, { cwd, env, encoding: 'utf8', maxBuffer: 256 * 1024 * 1024, timeout: timeoutMs });
  appendLog((r.stdout || '') + (r.stderr || ''));
  if (r.error || r.status !== 0) {
    const out = ((r.stdout || '') + (r.stderr || '')).trim().split('\n').slice(-30).join('\n');
    const why = r.error ? r.error.message : `exit code ${r.status}${r.signal ? ` (signal ${r.signal})` : ''}`;
    throw new InstallError(`command failed (${why}): ${line}\n--- last output ---\n${out}\n--- full log: ${paths.log}`);
  }
  return r.stdout;
}

/**
 * @param {string[]} args
 * @param {string} cwd
 * @param {NodeJS.ProcessEnv} [extraEnv]
 */
function npm(args, cwd, extraEnv) {
  return run('npm', args, cwd, extraEnv);
}

/** @param {string} file */
function readJson(file) {
  return JSON.parse(fs.readFileSync(file, 'utf8'));
}

function registryUrl() {
  const r = spawnSync('npm', ['config', 'get', 'registry'], { encoding: 'utf8' });
  const url = r.status === 0 ? r.stdout.trim() : '';
  if (!url) throw new InstallError(`\`npm config get registry\` gave no registry: ${r.stderr || r.error}`);
  return url.endsWith('/') ? url : url + '/';
}

/** @typedef {{ version?: string, resolved?: string, integrity?: string, dependencies?: Record<string, ShrinkwrapEntry> }} ShrinkwrapEntry */

/** Points every @vscode/proxy-agent entry of lib/vscode's shrinkwrap at the registry tarball. Returns how many it changed. */
function fixShrinkwrap() {
  const file = path.join(VSCODE_DIR, 'npm-shrinkwrap.json');
  if (!fs.existsSync(file)) throw new InstallError(`not found: ${file}`);
  const sw = readJson(file);
  const tarball = `${registryUrl()}@vscode/proxy-agent/-/proxy-agent-${PROXY_AGENT_VERSION}.tgz`;
  let changed = 0;
  let seen = 0;
  /** @param {ShrinkwrapEntry} entry */
  const fix = (entry) => {
    seen++;
    if (entry.resolved !== tarball || 'integrity' in entry || entry.version !== PROXY_AGENT_VERSION) {
      entry.version = PROXY_AGENT_VERSION;
      entry.resolved = tarball;
      delete entry.integrity;
      changed++;
    }
  };
  for (const [key, entry] of Object.entries(sw.packages || {})) {
    if (key === 'node_modules/@vscode/proxy-agent' || key.endsWith('/node_modules/@vscode/proxy-agent')) fix(entry);
  }
  // lockfileVersion 1 style tree, if present.
  /** @param {Record<string, ShrinkwrapEntry> | undefined} deps */
  const walk = (deps) => {
    for (const [name, entry] of Object.entries(deps || {})) {
      if (name === '@vscode/proxy-agent') fix(entry);
      walk(entry.dependencies);
    }
  };
  walk(sw.dependencies);
  if (!seen) throw new InstallError(`no @vscode/proxy-agent entry in ${file}: code-server's layout changed`);
  if (changed) fs.writeFileSync(file, JSON.stringify(sw, null, 2) + '\n');
  return changed;
}

function placeRipgrep() {
  const dir = path.join(VSCODE_DIR, 'node_modules', '@vscode', 'ripgrep', 'bin');
  fs.mkdirSync(dir, { recursive: true });
  const dest = path.join(dir, 'rg');
  fs.rmSync(dest, { force: true });
  fs.copyFileSync('/usr/bin/rg', dest);
  fs.chmodSync(dest, 0o755);
  run(dest, ['--version'], VSCODE_DIR);
}

function linkAsar() {
  const link = path.join(VSCODE_DIR, 'node_modules.asar');
  let st = null;
  try {
    st = fs.lstatSync(link);
  } catch {
    /* absent */
  }
  if (st && st.isSymbolicLink() && fs.readlinkSync(link) === 'node_modules') return;
  if (st) fs.rmSync(link, { recursive: true, force: true });
  fs.symlinkSync('node_modules', link);
}

/** The symlinks code-server's own postinstall.sh makes (for `code` in the integrated terminal, and opening a browser). */
function linkBinScripts() {
  for (const [dir, source, dest] of [
    ['remote-cli', 'code-linux.sh', 'code-server'],
    ['helpers', 'browser-linux.sh', 'browser.sh'],
  ]) {
    const link = path.join(VSCODE_DIR, 'bin', dir, dest);
    fs.rmSync(link, { force: true });
    fs.symlinkSync(source, link);
  }
}

function writeConfig() {
  fs.writeFileSync(paths.config, 'bind-addr: 127.0.0.1:0\nauth: none\ncert: false\n');
}

function markerOk() {
  try {
    const m = readJson(paths.marker);
    return (
      m.format === MARKER_FORMAT &&
      m.codeServer === CODE_SERVER_VERSION &&
      m.playwrightCore === PLAYWRIGHT_CORE_VERSION &&
      m.node === process.versions.modules && // native modules are built for this Node ABI
      fs.existsSync(paths.entry) &&
      fs.existsSync(paths.config) &&
      fs.existsSync(path.join(paths.playwrightCore, 'package.json')) &&
      fs.existsSync(path.join(VSCODE_DIR, 'node_modules', '@vscode', 'ripgrep', 'bin', 'rg'))
    );
  } catch {
    return false;
  }
}

/** @typedef {(message: string) => void} Say */
/** Runs one named install step, saying when it starts and how long it took. @typedef {<T>(name: string, fn: () => T) => T} Step */

/**
 * Installs (or confirms the cached install of) code-server and playwright-core.
 * Returns `paths`. Throws InstallError with a clear message on failure.
 */
function ensureInstalled({ force = false, quiet = false } = {}) {
  const say = quiet ? () => {} : log;
  const t0 = Date.now();
  /** @type {Step} */
  const step = (name, fn) => {
    const s = Date.now();
    say(`${name} ...`);
    let result;
    try {
      result = fn();
    } catch (e) {
      say(`${name}: FAILED after ${fmt(Date.now() - s)}`);
      throw e;
    }
    say(`${name}: done in ${fmt(Date.now() - s)}${typeof result === 'string' ? ` (${result})` : ''}`);
    return result;
  };

  step('check Debian packages (chromium ripgrep libkrb5-dev)', checkSystemPackages);
  if (!force && markerOk()) {
    say(
      `cached install found (${path.relative(REPO_ROOT, paths.marker)}): code-server ${CODE_SERVER_VERSION}, ` +
        `playwright-core ${PLAYWRIGHT_CORE_VERSION}; total ${fmt(Date.now() - t0)}`,
    );
    return paths;
  }
  // Others may run this at the same time in the same checkout: one installs, the rest wait for it.
  const release = acquireLock(say);
  try {
    if (!force && markerOk()) {
      say(`another process finished the install meanwhile; total ${fmt(Date.now() - t0)}`);
      return paths;
    }
    return installLocked(step, say, t0);
  } finally {
    release();
  }
}

/** @param {number} ms */
function sleepSync(ms) {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** @param {number} pid */
function pidAlive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return /** @type {NodeJS.ErrnoException} */ (e).code === 'EPERM';
  }
}

/**
 * @param {Say} say
 * @param {number} [timeoutMs]
 */
function acquireLock(say, timeoutMs = 20 * 60 * 1000) {
  const lock = path.join(VSCODE_TEST_DIR, 'code-server.install.lock');
  fs.mkdirSync(VSCODE_TEST_DIR, { recursive: true });
  const deadline = Date.now() + timeoutMs;
  let told = false;
  for (;;) {
    try {
      fs.writeFileSync(lock, String(process.pid), { flag: 'wx' });
      return () => fs.rmSync(lock, { force: true });
    } catch (e) {
      if (/** @type {NodeJS.ErrnoException} */ (e).code !== 'EEXIST') throw e;
    }
    const holder = Number(fs.readFileSync(lock, 'utf8').trim() || 0);
    if (!holder || !pidAlive(holder)) {
      fs.rmSync(lock, { force: true }); // stale: its owner is gone
      continue;
    }
    if (Date.now() > deadline) throw new InstallError(`timed out waiting for the install by pid ${holder} (lock ${lock})`);
    if (!told) say(`waiting for pid ${holder}, which is installing (lock ${path.relative(REPO_ROOT, lock)}) ...`);
    told = true;
    sleepSync(1000);
  }
}

/**
 * @param {Step} step
 * @param {Say} say
 * @param {number} t0
 */
function installLocked(step, say, t0) {
  fs.rmSync(paths.marker, { force: true });
  fs.mkdirSync(CS_DIR, { recursive: true });
  appendLog(`\n===== install started ${new Date().toISOString()} (node ${process.version}) =====\n`);

  step('npm init', () => {
    if (!fs.existsSync(path.join(CS_DIR, 'package.json'))) npm(['init', '-y'], CS_DIR);
    // `npm init -y` names the project after its folder, "code-server", and npm refuses to install a
    // dependency with the project's own name.
    npm(['pkg', 'set', 'name=kimi-budget-vscode-harness', 'private=true', 'description=VS Code test harness (generated)'], CS_DIR);
  });
  step(`npm install code-server@${CODE_SERVER_VERSION} --ignore-scripts`, () => {
    npm(['install', `code-server@${CODE_SERVER_VERSION}`, '--ignore-scripts', '--save-exact', '--no-audit', '--no-fund'], CS_DIR);
  });
  step(`npm install playwright-core@${PLAYWRIGHT_CORE_VERSION}`, () => {
    npm(['install', `playwright-core@${PLAYWRIGHT_CORE_VERSION}`, '--ignore-scripts', '--save-exact', '--no-audit', '--no-fund'], CS_DIR);
  });
  step('write harness-config.yaml', writeConfig);
  step(
    'lib/vscode: point @vscode/proxy-agent at the registry tarball in npm-shrinkwrap.json',
    () => `${fixShrinkwrap()} entr(y/ies) changed`,
  );
  step('lib/vscode: npm install --omit=dev --ignore-scripts', () => {
    npm(['install', '--omit=dev', '--ignore-scripts', '--no-audit', '--no-fund'], VSCODE_DIR);
  });
  step('lib/vscode: /usr/bin/rg -> node_modules/@vscode/ripgrep/bin/rg', placeRipgrep);
  step('lib/vscode: npm rebuild node-pty @vscode/spdlog kerberos @parcel/watcher native-watchdog @vscode/deviceid', () => {
    npm(['rebuild', 'node-pty', '@vscode/spdlog', 'kerberos', '@parcel/watcher', 'native-watchdog', '@vscode/deviceid'], VSCODE_DIR);
  });
  step('lib/vscode: node_modules.asar -> node_modules', linkAsar);
  step("lib/vscode: bin/remote-cli/code-server, bin/helpers/browser.sh (as code-server's postinstall.sh)", linkBinScripts);
  step('lib/vscode/extensions: npm install --omit=dev', () => {
    npm(['install', '--omit=dev', '--no-audit', '--no-fund'], path.join(VSCODE_DIR, 'extensions'));
  });
  step('npm rebuild argon2', () => {
    npm(['rebuild', 'argon2'], CS_DIR);
  });
  step('check: code-server --version', () => {
    const out = run(process.execPath, [paths.entry, '--config', paths.config, '--version'], CS_DIR, {
      XDG_DATA_HOME: path.join(CS_DIR, 'xdg-data'),
    }); // not ~/.local/share/code-server
    const line = out.split('\n').find((l) => /^\d+\.\d+\.\d+ /.test(l)) || out.trim();
    // e.g. "4.96.4 <commit> with Code 1.96.4"
    if (!line.startsWith(CODE_SERVER_VERSION) || !/Code 1\.96\.4\b/.test(line)) {
      throw new InstallError(`unexpected code-server --version: ${line}`);
    }
    return line;
  });
  step('check: require playwright-core', () => (require(paths.playwrightCore).chromium ? 'ok' : 'no chromium export'));

  fs.writeFileSync(
    paths.marker,
    JSON.stringify(
      {
        format: MARKER_FORMAT,
        codeServer: CODE_SERVER_VERSION,
        playwrightCore: PLAYWRIGHT_CORE_VERSION,
        node: process.versions.modules,
        nodeVersion: process.version,
        finishedAt: new Date().toISOString(),
      },
      null,
      2,
    ) + '\n',
  );
  say(`install complete in ${fmt(Date.now() - t0)} (log: ${path.relative(REPO_ROOT, paths.log)})`);
  return paths;
}

/** playwright-core from the harness's own npm project. @returns {typeof import('./playwright')} */
function requirePlaywright() {
  return require(paths.playwrightCore);
}

module.exports = {
  ensureInstalled,
  requirePlaywright,
  checkSystemPackages,
  paths,
  InstallError,
  CODE_SERVER_VERSION,
  PLAYWRIGHT_CORE_VERSION,
};

if (require.main === module) {
  try {
    ensureInstalled({ force: process.argv.includes('--force') });
  } catch (e) {
    process.stderr.write(`[vscode-install] FAILED: ${e instanceof InstallError ? e.message : (e instanceof Error && e.stack) || e}\n`);
    process.exit(1);
  }
}
