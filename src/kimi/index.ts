/** The Moonshot client's public surface: import from 'src/kimi', not from its files. */
export type { ChatMessage, ChatRequest, ChatResult, StreamHandlers, ToolCall, ToolDefinition, Usage } from './types';
export { KimiError, type KimiErrorKind } from './kimiError';
export { KimiClient, apiKeyProblem, type KimiClientOptions } from './kimiClient';
