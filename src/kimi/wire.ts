/**
 * Moonshot's wire format: OpenAI's chat types (type-only import from the openai package) plus the
 * fields Moonshot adds. Readers must still treat incoming JSON as untrusted and check each field.
 */
import type { ChatCompletion, ChatCompletionChunk } from 'openai/resources/chat/completions';
import type { CompletionUsage } from 'openai/resources/completions';

/** Moonshot reports cache hits as a flat `cached_tokens` next to the OpenAI fields. */
export type WireUsage = CompletionUsage & { cached_tokens?: number };

export type WireDelta = ChatCompletionChunk.Choice.Delta & { reasoning_content?: string | null };

/** Moonshot puts the stream's usage inside the last choice rather than at the top level. */
export type WireChunkChoice = Omit<ChatCompletionChunk.Choice, 'delta'> & {
  delta: WireDelta;
  usage?: WireUsage | null;
};

export type WireChunk = Omit<ChatCompletionChunk, 'choices' | 'usage'> & {
  choices: WireChunkChoice[];
  usage?: WireUsage | null;
};

export type WireCompletionChoice = Omit<ChatCompletion.Choice, 'message'> & {
  message: ChatCompletion.Choice['message'] & { reasoning_content?: string | null };
  usage?: WireUsage | null;
};

export type WireCompletion = Omit<ChatCompletion, 'choices' | 'usage'> & {
  choices: WireCompletionChoice[];
  usage?: WireUsage | null;
};

/** Moonshot's error body: `{"error":{"type":"…","message":"…"}}`. */
export interface WireErrorBody {
  error: { type?: string; message?: string };
}

export interface WireModelList {
  object: 'list';
  data: { id: string; object: 'model'; created: number; owned_by: string; context_length?: number }[];
}

export interface WireTokenEstimate {
  code?: number;
  data: { total_tokens: number };
}
