/** Messages between TokenCounter (extension host) and the tokenizer worker thread. */

/** A token count; `exact: false` marks a bounded estimate (an over-long piece was counted in chunks). */
export interface TokenCount {
  tokens: number;
  exact: boolean;
}

export type WorkerRequest =
  /** The first slices of a long text, ahead of the `count` that carries its last slice. */
  { type: 'part'; id: number; text: string } | { type: 'count'; id: number; text: string } | { type: 'cancel'; id: number };

export type WorkerReply = ({ id: number } & TokenCount) | { id: number; error: string };
