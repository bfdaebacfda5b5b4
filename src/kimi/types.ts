/** The shapes the rest of the extension codes against; independent of Moonshot's wire format. */

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

export interface ChatRequest {
  model: string;
  messages: ChatMessage[];
  /** Sent as `max_tokens`: Moonshot charges it to TPM up front, so it is never left to the server. */
  maxTokens: number;
  /** Sent only when set: thinking models are reported to accept only 1. */
  temperature?: number;
  /** Sent as `top_p`, only when set. */
  topP?: number;
}

export interface Usage {
  promptTokens: number;
  completionTokens: number;
  totalTokens: number;
  cachedTokens?: number;
}

export interface ChatResult {
  content: string;
  /** What a thinking model streamed as `reasoning_content` before its answer ('' for others). */
  reasoning: string;
  usage?: Usage;
  finishReason?: string;
  model: string;
}

export interface StreamHandlers {
  /** The request is leaving: from here on the server may count it (before, it surely has not). */
  onRequest?(): void;
  /** The server answered (any status): by now it has admitted or refused the request. */
  onResponse?(status: number): void;
  onReasoning?(delta: string): void;
  onContent?(delta: string): void;
}
