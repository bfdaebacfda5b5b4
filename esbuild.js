// Builds dist/extension.js (the extension host bundle), dist/tokenWorker.js (the tokenizer, loaded
// in a worker thread on first use) and dist/webview/ (the budget dashboard's page, with uPlot, for
// the browser). `--production` minifies, `--watch` rebuilds on change.
const fs = require('node:fs');
const esbuild = require('esbuild');

const production = process.argv.includes('--production');
const watch = process.argv.includes('--watch');

/**
 * Prints build errors as file:line:column, the form VS Code's problem matchers read.
 * @type {esbuild.Plugin}
 */
const problemMatcher = {
  name: 'problem-matcher',
  setup(build) {
    build.onStart(() => console.log('[watch] build started'));
    build.onEnd((result) => {
      for (const { text, location } of result.errors) {
        console.error(`✘ [ERROR] ${text}`);
        if (location) console.error(`    ${location.file}:${location.line}:${location.column}:`);
      }
      console.log('[watch] build finished');
    });
  },
};

async function main() {
  if (!watch) fs.rmSync('dist', { recursive: true, force: true });
  const host = await esbuild.context({
    entryPoints: {
      extension: 'src/extension.ts',
      tokenWorker: 'src/tokens/worker.ts',
      // The Redis client, loaded only by a window with a team budget: activation stays small.
      teamConnection: 'src/account/teamConnection.ts',
    },
    bundle: true,
    format: 'cjs',
    platform: 'node',
    target: 'node20',
    outdir: 'dist',
    external: ['vscode'],
    minify: production,
    sourcemap: !production,
    sourcesContent: false,
    logLevel: 'silent',
    plugins: watch ? [problemMatcher] : [],
  });
  const page = await esbuild.context({
    entryPoints: ['src/webview/dashboard.ts', 'src/webview/dashboard.css'],
    bundle: true,
    format: 'iife',
    platform: 'browser',
    target: 'chrome120',
    outdir: 'dist/webview',
    entryNames: '[name]',
    minify: production,
    sourcemap: false,
    logLevel: 'silent',
    plugins: watch ? [problemMatcher] : [],
  });
  const contexts = [host, page];
  if (watch) {
    await Promise.all(contexts.map((ctx) => ctx.watch()));
  } else {
    const results = await Promise.all(contexts.map((ctx) => ctx.rebuild()));
    await Promise.all(contexts.map((ctx) => ctx.dispose()));
    if (results.some((result) => result.errors.length)) process.exit(1);
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
