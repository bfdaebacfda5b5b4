// @ts-check
// The linter: promises that are awaited or handed on, no unused values, and the layering of src/
// (imports only point downwards), said here once.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/** Which layers each layer of src/ may import; `vscode` only in the adapters (ui). The webview is the dashboard's page: it runs in a browser and shares only its message types with ui. */
export const LAYERS = {
  core: [],
  webview: [],
  tokens: ['core'],
  kimi: ['core'],
  account: ['core'],
  send: ['kimi', 'tokens', 'core'],
  ui: ['send', 'account', 'kimi', 'tokens', 'core', 'webview'],
};

/** One block per layer: the layers above it and, below ui, `vscode` are out of reach. */
const layering = Object.entries(LAYERS).map(([layer, may]) => {
  const forbidden = Object.keys(LAYERS).filter((other) => other !== layer && !may.includes(other));
  return {
    files: [`src/${layer}/**/*.ts`],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: layer === 'ui' ? [] : [{ name: 'vscode', message: `src/${layer} runs without VS Code: only src/ui adapts to it.` }],
          patterns: forbidden.length
            ? [
                {
                  group: forbidden.flatMap((other) => [`../${other}`, `../${other}/*`]),
                  message: `src/${layer} may import only ${[layer, ...may].join(', ')}: imports point downwards.`,
                },
              ]
            : [],
        },
      ],
    },
  };
});

export default tseslint.config(
  { ignores: ['out/', 'dist/', 'node_modules/', '.vscode-test/', 'artifacts/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: { arguments: false } }],
      '@typescript-eslint/await-thenable': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', caughtErrors: 'none' }],
      '@typescript-eslint/no-require-imports': 'off', // the tokenizer's ranks and the harness are loaded with require on purpose
    },
  },
  ...layering,
  {
    files: ['**/*.js', '**/*.mjs'],
    extends: [tseslint.configs.disableTypeChecked],
    languageOptions: {
      sourceType: 'commonjs',
      globals: {
        require: 'readonly',
        module: 'writable',
        __dirname: 'readonly',
        process: 'readonly',
        console: 'readonly',
        Buffer: 'readonly',
        setTimeout: 'readonly',
        clearTimeout: 'readonly',
        setInterval: 'readonly',
        clearInterval: 'readonly',
        URL: 'readonly',
        performance: 'readonly',
        fetch: 'readonly',
        window: 'readonly',
        document: 'readonly',
      },
    },
  },
  { files: ['**/*.mjs'], languageOptions: { sourceType: 'module' } },
);
