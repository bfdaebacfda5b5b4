import * as fs from 'node:fs';
import * as path from 'node:path';
import { fromRoot } from '../paths';

/** A text nobody here wrote, and where it comes from. */
export interface CorpusText {
  readonly name: string;
  readonly source: string;
  readonly text: string;
}

const TYPESCRIPT_LIB = fromRoot('node_modules', 'typescript', 'lib');
const LICENSES = '/usr/share/common-licenses';

export function libDom(): CorpusText {
  const file = path.join(TYPESCRIPT_LIB, 'lib.dom.d.ts');
  return { name: 'lib.dom.d.ts', source: 'node_modules/typescript/lib/lib.dom.d.ts', text: fs.readFileSync(file, 'utf8') };
}

/** Every licence text of Debian's common-licenses, once each (several names are links to one file). */
export function licenses(): CorpusText | undefined {
  if (!fs.existsSync(LICENSES)) return undefined;
  const files = new Set<string>();
  for (const name of fs.readdirSync(LICENSES).sort()) {
    const real = fs.realpathSync(path.join(LICENSES, name));
    if (fs.statSync(real).isFile()) files.add(real);
  }
  const text = [...files].map((file) => fs.readFileSync(file, 'utf8')).join('\n\n');
  const names = [...files].map((file) => path.basename(file)).join(', ');
  return { name: 'common licences', source: `${LICENSES}/*, each file once (${files.size}: ${names})`, text };
}

/**
 * Real Chinese prose: the Simplified Chinese translation of TypeScript's compiler messages, shipped
 * in the typescript package (the translated strings only, one per line).
 */
export function chinese(): CorpusText {
  const file = path.join(TYPESCRIPT_LIB, 'zh-cn', 'diagnosticMessages.generated.json');
  const messages = Object.values(JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, string>);
  const text = messages.join('\n');
  const han = text.match(/\p{Script=Han}/gu)?.length ?? 0;
  return {
    name: 'Chinese (zh-cn)',
    source: `node_modules/typescript/lib/zh-cn/diagnosticMessages.generated.json: the ${messages.length.toLocaleString('en-US')} translated messages, one a line (${Math.round((100 * han) / text.length)}% of the characters are Han)`,
    text,
  };
}

/** typescript.js minified by esbuild (a real minifier's output), its lines joined, cut at 1 MiB. */
export function minifiedLine(): CorpusText {
  // esbuild is a dev dependency (the extension's bundler); required here so that only this case needs it.
  const esbuild = require('esbuild') as { transformSync(code: string, options: object): { code: string } };
  const source = fs.readFileSync(path.join(TYPESCRIPT_LIB, 'typescript.js'), 'utf8');
  const minified = esbuild.transformSync(source, { minify: true, loader: 'js' }).code.replace(/\n/g, ' ');
  return {
    name: '1 MiB minified line',
    source: 'node_modules/typescript/lib/typescript.js minified by esbuild, newlines joined, first 1,048,576 characters',
    text: minified.slice(0, 1 << 20),
  };
}

/** typescript.js then _tsc.js, cut at 10,000,000 bytes (both are plain ASCII). */
export function tenMegabytes(): CorpusText {
  const text = ['typescript.js', '_tsc.js'].map((name) => fs.readFileSync(path.join(TYPESCRIPT_LIB, name), 'utf8')).join('\n');
  return {
    name: '10 MB file',
    source: 'node_modules/typescript/lib/typescript.js followed by _tsc.js, cut at 10,000,000 characters',
    text: text.slice(0, 10_000_000),
  };
}
