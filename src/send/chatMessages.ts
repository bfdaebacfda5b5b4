/**
 * VS Code's language-model chat messages and tools, by their shape (this layer runs without VS
 * Code), to Kimi's messages and function tools, and Kimi's tool calls back to the shape of VS Code's
 * tool-call parts. Earlier tool calls become an assistant message's `tool_calls`, their results
 * `role: tool` messages, so a conversation with tools round-trips.
 */
import type { ChatMessage, ToolCall, ToolDefinition } from '../kimi';
import { countedText } from '../tokens/requestEstimate';

/** `vscode.LanguageModelChatMessageRole`: User 1, Assistant 2, and System 3 where VS Code has it. */
export const CHAT_ROLES = { user: 1, assistant: 2, system: 3 } as const;

export interface ChatMessageShape {
  readonly role: number;
  readonly content: readonly unknown[] | string;
}

export interface ChatToolShape {
  readonly name: string;
  readonly description: string;
  readonly inputSchema?: object | undefined;
}

/** `vscode.LanguageModelToolCallPart`'s fields. */
export interface ToolCallShape {
  readonly callId: string;
  readonly name: string;
  readonly input: object;
}

/** The messages as Kimi takes them; parts it cannot read (images, markers) are left out. */
export function toKimiMessages(messages: readonly ChatMessageShape[]): ChatMessage[] {
  const out: ChatMessage[] = [];
  for (const message of messages) {
    const parts = typeof message.content === 'string' ? [{ value: message.content }] : message.content;
    const text: string[] = [];
    const calls: ToolCall[] = [];
    const results: ChatMessage[] = [];
    for (const part of parts) {
      if (isToolCall(part)) calls.push({ id: part.callId, name: part.name, input: { ...part.input } as Record<string, unknown> });
      else if (isToolResult(part)) results.push({ role: 'tool', toolCallId: part.callId, content: resultText(part.content) });
      else {
        const value = partText(part);
        if (value !== undefined) text.push(value);
      }
    }
    // A tool's result answers the call just before it: it comes first, then what the user added.
    out.push(...results);
    const content = text.join('');
    const role = message.role === CHAT_ROLES.assistant ? 'assistant' : message.role === CHAT_ROLES.system ? 'system' : 'user';
    if (role === 'assistant' && calls.length) out.push({ role, content, toolCalls: calls });
    else if (content !== '' || results.length === 0) out.push({ role, content });
  }
  return out;
}

/** The tools as Kimi's function tools; a tool without a schema takes no arguments. */
export function toKimiTools(tools: readonly ChatToolShape[]): ToolDefinition[] {
  return tools.map((tool) => ({
    name: tool.name,
    description: tool.description,
    parameters: tool.inputSchema && Object.keys(tool.inputSchema).length ? tool.inputSchema : { type: 'object', properties: {} },
  }));
}

/** A tool call from Kimi as VS Code's tool-call part wants it. */
export function toToolCallShape(call: ToolCall): ToolCallShape {
  return { callId: call.id, name: call.name, input: call.input };
}

/** The text of one message (a string, or its text parts), as the token count sees it. */
export function messageText(message: ChatMessageShape): string {
  return toKimiMessages([message]).map(countedText).join('\n');
}

function isToolCall(part: unknown): part is ToolCallShape {
  return isRecord(part) && typeof part.callId === 'string' && typeof part.name === 'string' && isRecord(part.input);
}

function isToolResult(part: unknown): part is { callId: string; content: readonly unknown[] } {
  return isRecord(part) && typeof part.callId === 'string' && Array.isArray(part.content);
}

/** A text part's value, or a text or JSON data part decoded; undefined for anything else. */
function partText(part: unknown): string | undefined {
  if (!isRecord(part)) return undefined;
  if (typeof part.value === 'string') return part.value;
  if (typeof part.mimeType === 'string' && part.data instanceof Uint8Array && /^text\/|^application\/json\b/.test(part.mimeType)) {
    return new TextDecoder().decode(part.data);
  }
  return undefined;
}

/** A tool result's content as one text: its text parts, and anything else as JSON. */
function resultText(content: readonly unknown[]): string {
  return content
    .map((part) => {
      const text = partText(part);
      if (text !== undefined) return text;
      if (isRecord(part) && 'value' in part) return JSON.stringify(part.value);
      return '';
    })
    .join('');
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
