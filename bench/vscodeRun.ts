import { fromRoot } from './paths';

interface RunTests {
  runTests(options: {
    vsix: string;
    extensionTestsPath: string;
    timeoutMs: number;
    env: Record<string, string>;
    log: (line: string) => void;
    lane?: string;
  }): Promise<number>;
}

/**
 * Runs an extension-tests module of bench/ in a fresh window of VS Code 1.96.4 (or of the `lane`
 * given, e.g. '1.106'; test/vscode installs it on first use) against a packaged .vsix, and returns the JSON the module logged after
 * `marker`, or why there is none.
 */
export async function figuresFromVsCode<T>(options: {
  vsix: string;
  /** The compiled module, e.g. out/bench/send/extensionTests.js. */
  module: string;
  marker: string;
  env?: Record<string, string>;
  log?: (line: string) => void;
  lane?: string;
}): Promise<T | string> {
  const lines: string[] = [];
  try {
    // The harness is plain CommonJS beside the tests.
    const harness = require(fromRoot('test', 'vscode', 'runTests.js')) as RunTests;
    const code = await harness.runTests({
      vsix: options.vsix,
      extensionTestsPath: options.module,
      timeoutMs: 4 * 60_000,
      env: options.env ?? {},
      lane: options.lane,
      log: (line) => {
        lines.push(line);
        options.log?.(line);
      },
    });
    const line = lines.find((l) => l.includes(options.marker));
    if (line) return JSON.parse(line.slice(line.indexOf(options.marker) + options.marker.length).trim()) as T;
    return `the extension-tests module logged no figures (exit code ${code}); last lines:\n${lines.slice(-15).join('\n')}`;
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
}
