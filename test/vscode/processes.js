'use strict';
// Keeps track of every process the harness starts (code-server, Chromium) and makes sure each one,
// with all its descendants, is ended: on an explicit stop, when this Node process exits, and on
// SIGINT / SIGTERM / SIGHUP. Linux only (reads /proc).

const fs = require('fs');

/** pid -> label of process-group leaders we started and must end. @type {Map<number, string>} */
const tracked = new Map();
/** Temp dirs to remove when this process exits (after the processes using them are ended). @type {Set<string>} */
const tempDirs = new Set();
let handlersInstalled = false;

/** @param {number} pid */
function alive(pid) {
  try {
    process.kill(pid, 0);
  } catch (e) {
    return /** @type {NodeJS.ErrnoException} */ (e).code === 'EPERM';
  }
  // A zombie still answers kill(0); treat it as gone.
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/** [pid, ppid, pgid] of every process, from /proc. */
function processTable() {
  const rows = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${name}/stat`, 'utf8');
      const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      // rest: state ppid pgrp ...
      rows.push([Number(name), Number(rest[1]), Number(rest[2])]);
    } catch {
      /* gone meanwhile */
    }
  }
  return rows;
}

/**
 * The pids of `rootPid`'s descendants and of every process in its process group (not rootPid itself).
 * @param {number} rootPid
 */
function descendants(rootPid) {
  const rows = processTable();
  const children = new Map();
  for (const [pid, ppid] of rows) {
    if (!children.has(ppid)) children.set(ppid, []);
    children.get(ppid).push(pid);
  }
  const out = new Set();
  const stack = [rootPid];
  while (stack.length) {
    for (const c of children.get(stack.pop()) || []) {
      if (!out.has(c)) {
        out.add(c);
        stack.push(c);
      }
    }
  }
  for (const [pid, , pgid] of rows) if (pgid === rootPid && pid !== rootPid) out.add(pid);
  // Descendants of group members whose parent chain was broken are caught by the group id above;
  // terminals (node-pty) start their own session, but stay descendants of the pty host.
  return [...out];
}

/**
 * @param {number[]} pids
 * @param {NodeJS.Signals} signal
 */
function signalAll(pids, signal) {
  for (const pid of pids) {
    try {
      process.kill(pid, signal);
    } catch {
      /* already gone */
    }
  }
}

/**
 * @param {number} rootPid
 * @param {NodeJS.Signals} signal
 */
function signalTree(rootPid, signal) {
  const pids = [rootPid, ...descendants(rootPid)];
  try {
    process.kill(-rootPid, signal); // the whole process group
  } catch {
    /* no such group */
  }
  signalAll(pids, signal);
  return pids;
}

/** @param {number} ms */
function sleepSync(ms) {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/**
 * Ends rootPid and all its descendants, synchronously: SIGTERM, then SIGKILL after graceMs.
 * @param {number} rootPid
 * @param {number} [graceMs]
 */
function killTreeSync(rootPid, graceMs = 2000) {
  let pids = signalTree(rootPid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline && pids.some(alive)) sleepSync(50);
  pids = [...new Set([...pids, ...descendants(rootPid)])].filter(alive);
  if (pids.length || alive(rootPid)) {
    signalTree(rootPid, 'SIGKILL');
    signalAll(pids, 'SIGKILL');
  }
}

/**
 * Ends rootPid and all its descendants: SIGTERM, then SIGKILL after graceMs. Resolves when all are gone.
 * @param {number} rootPid
 * @param {number} [graceMs]
 */
async function killTree(rootPid, graceMs = 5000) {
  let pids = signalTree(rootPid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline && pids.some(alive)) await new Promise((r) => setTimeout(r, 100));
  const left = [...new Set([...pids, ...descendants(rootPid)])].filter(alive);
  if (left.length) {
    signalTree(rootPid, 'SIGKILL');
    signalAll(left, 'SIGKILL');
    const hardDeadline = Date.now() + 5000;
    while (Date.now() < hardDeadline && left.some(alive)) await new Promise((r) => setTimeout(r, 50));
  }
  const still = left.filter(alive);
  if (still.length) throw new Error(`processes still alive after SIGKILL: ${still.join(' ')}`);
}

/** @param {number} graceMs */
function killAllSync(graceMs) {
  for (const pid of [...tracked.keys()]) {
    killTreeSync(pid, graceMs);
    tracked.delete(pid);
  }
  for (const dir of tempDirs) {
    try {
      fs.rmSync(dir, { recursive: true, force: true });
    } catch {
      /* best effort */
    }
  }
  tempDirs.clear();
}

/**
 * Removes `dir` when this process exits or is signalled, unless forgetTempDir(dir) is called first.
 * @param {string} dir
 */
function removeOnExit(dir) {
  installHandlers();
  tempDirs.add(dir);
}

/** @param {string} dir */
function forgetTempDir(dir) {
  tempDirs.delete(dir);
}

function installHandlers() {
  if (handlersInstalled) return;
  handlersInstalled = true;
  process.on('exit', () => killAllSync(500));
  for (const [signal, code] of /** @type {const} */ ([
    ['SIGINT', 130],
    ['SIGTERM', 143],
    ['SIGHUP', 129],
  ])) {
    process.on(signal, () => {
      process.stderr.write(`\n[vscode-harness] ${signal}: stopping ${tracked.size} started process group(s)\n`);
      killAllSync(2000);
      process.exit(code);
    });
  }
}

/**
 * Registers a process (a process-group leader we spawned, or one whose tree we own) to end for sure.
 * @param {number} pid
 * @param {string} label
 */
function track(pid, label) {
  installHandlers();
  tracked.set(pid, label);
}

/** @param {number} pid */
function untrack(pid) {
  tracked.delete(pid);
}

/**
 * pids of processes whose command line contains `needle` (e.g. a unique temp dir).
 * @param {string} needle
 */
function pidsWithCmdline(needle) {
  const out = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    try {
      if (fs.readFileSync(`/proc/${name}/cmdline`, 'utf8').includes(needle)) out.push(Number(name));
    } catch {
      /* gone */
    }
  }
  return out;
}

module.exports = {
  track,
  untrack,
  killTree,
  killTreeSync,
  descendants,
  alive,
  pidsWithCmdline,
  installHandlers,
  tracked,
  removeOnExit,
  forgetTempDir,
};
