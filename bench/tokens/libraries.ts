/** The three tokenizer libraries the extension's counter is compared with, all on o200k_base. */
export const LIBRARY_NAMES = ['js-tiktoken', 'gpt-tokenizer', 'tiktoken (WASM)'] as const;
export type LibraryName = (typeof LIBRARY_NAMES)[number];

export interface Library {
  /** Counts with special-token strings taken as plain text, as the extension does. */
  count(text: string): number;
  /** Forgets what a cache learnt, so that the next count is a first pass. */
  reset(): void;
}

// The packages' `exports` maps serve these paths, which the tsconfig's node10 resolution cannot see:
// they are required and typed by hand.
export function loadLibrary(name: LibraryName): Library {
  switch (name) {
    case 'js-tiktoken': {
      const { Tiktoken } = require('js-tiktoken/lite') as {
        Tiktoken: new (ranks: unknown) => { encode(text: string, allowed: string[], disallowed: string[]): number[] };
      };
      const encoding = new Tiktoken(require('js-tiktoken/ranks/o200k_base'));
      return { count: (text) => encoding.encode(text, [], []).length, reset: () => {} };
    }
    case 'gpt-tokenizer': {
      const o200k = require('gpt-tokenizer/encoding/o200k_base') as {
        countTokens(text: string, options: { disallowedSpecial: Set<string> }): number;
        clearMergeCache(): void;
      };
      return { count: (text) => o200k.countTokens(text, { disallowedSpecial: new Set() }), reset: () => o200k.clearMergeCache() };
    }
    case 'tiktoken (WASM)': {
      const tiktoken = require('tiktoken') as { get_encoding(name: string): { encode_ordinary(text: string): Uint32Array } };
      const encoding = tiktoken.get_encoding('o200k_base');
      return { count: (text) => encoding.encode_ordinary(text).length, reset: () => {} };
    }
  }
}
