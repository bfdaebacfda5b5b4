'use strict';
// One user's VS Code for a browser end-to-end file: a temporary folder whose workspace holds the
// given files, the packaged extension installed, code-server started on it, and a Chromium page on
// the folder. close() ends them all and removes the folder.
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { startCodeServer, installVsix, QUIET_SETTINGS } = require('./codeServer');
const { openWorkbench } = require('./browser');

const VSIX = path.resolve(__dirname, '../../.vscode-test/kimi-budget.vsix');
/**
 * The extension's machine-scoped settings. In code-server they hold from the remote machine's
 * settings: the user settings' machine-scoped values are dropped once VS Code writes the user
 * settings (a model picked, a value typed in the Settings editor) or a second window connects.
 */
const MACHINE_SETTING = /^kimiBudget\.(baseUrl|allowInsecureHttp|limits\.)/;

/**
 * @typedef {object} Session
 * @property {{ userDataDir: string, extensionsDir: string, workspace: string }} dirs
 * @property {import('./codeServer').CodeServer} server
 * @property {import('./browser').Workbench} workbench
 * @property {import('./playwright').Page} page
 * @property {string} userSettings the user settings file VS Code writes to
 * @property {() => Promise<void>} close
 */

/**
 * @param {{ name: string, files: Record<string, string>, settings: Record<string, unknown>, env?: NodeJS.ProcessEnv }} options
 *   `settings` go to the user settings (over QUIET_SETTINGS), the machine-scoped ones to the machine's as well.
 * @returns {Promise<Session>}
 */
async function openSession({ name, files, settings, env = {} }) {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), `kimi-budget-${name}-`));
  const workspace = path.join(tmp, 'workspace');
  fs.mkdirSync(workspace);
  for (const [file, text] of Object.entries(files)) fs.writeFileSync(path.join(workspace, file), text);
  const dirs = { userDataDir: path.join(tmp, 'user-data'), extensionsDir: path.join(tmp, 'extensions'), workspace };
  /** @type {import('./codeServer').CodeServer | undefined} */
  let server;
  /** @type {import('./browser').Workbench | undefined} */
  let workbench;
  const close = async () => {
    await workbench?.close();
    await server?.stop();
    fs.rmSync(tmp, { recursive: true, force: true });
  };
  try {
    await installVsix(VSIX, { ...dirs, env });
    const machine = Object.fromEntries(Object.entries(settings).filter(([key]) => MACHINE_SETTING.test(key)));
    fs.mkdirSync(path.join(dirs.userDataDir, 'Machine'), { recursive: true });
    fs.writeFileSync(path.join(dirs.userDataDir, 'Machine', 'settings.json'), `${JSON.stringify(machine, null, 2)}\n`);
    server = await startCodeServer({ ...dirs, env, settings: { ...QUIET_SETTINGS, ...settings } });
    workbench = await openWorkbench(server.url, { folder: workspace });
    return { dirs, server, workbench, page: workbench.page, userSettings: path.join(dirs.userDataDir, 'User', 'settings.json'), close };
  } catch (error) {
    await close();
    throw error;
  }
}

module.exports = { openSession };
