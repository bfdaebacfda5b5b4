/** The shapes the rest of the extension codes against; independent of Moonshot's wire format. */

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant' | 'tool';
  content: string;
  /** An assistant's calls of tools, sent back with the conversation (`tool_calls`). */
  toolCalls?: ToolCall[];
  /** A `tool` message's answer to this call (`tool_call_id`). */
  toolCallId?: string;
}

/** A tool the model may call: sent to Kimi as an OpenAI function tool. */
export interface ToolDefinition {
  name: string;
  description: string;
  /** A JSON schema of the arguments; an empty object schema when the tool takes none. */
  parameters?: object;
}

/** A call of a tool by the model, its arguments parsed. */
export interface ToolCall {
  id: string;
  name: string;
  input: Record<string, unknown>;
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
  /** Offered as function tools; none: no `tools` field. */
  tools?: ToolDefinition[];
  /** `required`: the model must call a tool. */
  toolChoice?: 'auto' | 'required';
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
  /** The tools the model called, in order. */
  toolCalls: ToolCall[];
}

export interface StreamHandlers {
  /** The request is leaving: from here on the server may count it (before, it surely has not). */
  onRequest?(): void;
  /** The server answered (any status): by now it has admitted or refused the request. */
  onResponse?(status: number): void;
  onReasoning?(delta: string): void;
  onContent?(delta: string): void;
  /** A tool call, once its arguments parse (whether it came as deltas or as Kimi's inline markup). */
  onToolCall?(call: ToolCall): void;
}
