// Runs `npm ci` when node_modules is missing or older than package-lock.json, so that `npm start`
// and `npm test` work on a fresh clone with nothing installed first. With `--redis` (the tests),
// also installs Debian's redis-server when it is missing: the team-budget tests start their own.
// Node built-ins only.
const { execSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const lock = path.join(root, 'package-lock.json');
const installed = path.join(root, 'node_modules', '.package-lock.json');

function stale() {
  if (!fs.existsSync(installed)) return true;
  return fs.statSync(lock).mtimeMs > fs.statSync(installed).mtimeMs + 1000;
}

if (stale()) {
  console.log('Installing npm dependencies (npm ci)…');
  execSync('npm ci --no-audit --no-fund', { cwd: root, stdio: 'inherit' });
}

if (process.argv.includes('--redis') && !['/usr/bin/redis-server', '/usr/local/bin/redis-server'].some((p) => fs.existsSync(p))) {
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  if (process.getuid?.() === 0 && fs.existsSync('/usr/bin/apt-get')) {
    console.log('Installing redis-server (apt-get) for the team-budget tests…');
    execSync('apt-get update', { stdio: 'inherit', env });
    execSync('apt-get install -y --no-install-recommends redis-server', { stdio: 'inherit', env });
  } else {
    console.error('The team-budget tests need redis-server. Install it with:\n  apt-get update && apt-get install -y redis-server');
    process.exitCode = 1;
  }
}
