// `npm run test:electron`: the same integration suite in a desktop VS Code that @vscode/test-electron
// downloads. It needs the network to reach VS Code's update server, so it is not part of `npm test`.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { runTests } from '@vscode/test-electron';

async function main(): Promise<void> {
  const root = path.resolve(__dirname, '../../..');
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'kimi-budget-electron-'));
  const workspace = path.join(scratch, 'workspace');
  fs.mkdirSync(workspace);
  try {
    await runTests({
      version: '1.96.4',
      extensionDevelopmentPath: root,
      extensionTestsPath: path.join(__dirname, 'index.js'),
      extensionTestsEnv: { MOONSHOT_API_KEY: 'sk-integration-key' },
      launchArgs: [workspace, '--disable-extensions', '--user-data-dir', path.join(scratch, 'user-data'), '--disable-workspace-trust'],
    });
  } finally {
    fs.rmSync(scratch, { recursive: true, force: true });
  }
}

main().catch((error) => {
  console.error(`Integration tests failed: ${error instanceof Error ? error.message : error}`);
  process.exit(1);
});
