// VS Code's chat messages and tools (by their shape) to Kimi's, and Kimi's tool calls back: a
// conversation with tools round-trips to the wire format Moonshot takes.
import * as assert from 'node:assert/strict';
import { wireMessage, wireTool } from '../../src/kimi/kimiClient';
import { CHAT_ROLES, messageText, toKimiMessages, toKimiTools, toToolCallShape } from '../../src/send/chatMessages';

// The shapes of vscode.LanguageModelTextPart, ToolCallPart, ToolResultPart and DataPart.
const text = (value: string) => ({ value });
const call = (callId: string, name: string, input: object) => ({ callId, name, input });
const result = (callId: string, ...content: unknown[]) => ({ callId, content });
const data = (value: string, mimeType: string) => ({ mimeType, data: new TextEncoder().encode(value) });

describe('chat messages to Kimi and back', () => {
  it('text parts join into one message per turn; roles map; a system message stays one', () => {
    const messages = toKimiMessages([
      { role: CHAT_ROLES.system, content: [text('Be brief.')] },
      { role: CHAT_ROLES.user, content: [text('Hello, '), text('Kimi.')] },
      { role: CHAT_ROLES.assistant, content: 'Hi.' },
    ]);
    assert.deepEqual(messages, [
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'Hello, Kimi.' },
      { role: 'assistant', content: 'Hi.' },
    ]);
  });

  it("an assistant's tool calls become tool_calls, their results role: tool messages before the user's text", () => {
    const messages = toKimiMessages([
      { role: CHAT_ROLES.user, content: [text('Weather in Paris?')] },
      { role: CHAT_ROLES.assistant, content: [text('Checking.'), call('functions.get_weather:0', 'get_weather', { city: 'Paris' })] },
      {
        role: CHAT_ROLES.user,
        content: [result('functions.get_weather:0', text('18 °C, '), data('{"sky":"clear"}', 'application/json')), text('And tomorrow?')],
      },
    ]);
    assert.deepEqual(messages, [
      { role: 'user', content: 'Weather in Paris?' },
      {
        role: 'assistant',
        content: 'Checking.',
        toolCalls: [{ id: 'functions.get_weather:0', name: 'get_weather', input: { city: 'Paris' } }],
      },
      { role: 'tool', toolCallId: 'functions.get_weather:0', content: '18 °C, {"sky":"clear"}' },
      { role: 'user', content: 'And tomorrow?' },
    ]);
    assert.deepEqual(messages.map(wireMessage).slice(1, 3), [
      {
        role: 'assistant',
        content: 'Checking.',
        tool_calls: [{ id: 'functions.get_weather:0', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }],
      },
      { role: 'tool', tool_call_id: 'functions.get_weather:0', content: '18 °C, {"sky":"clear"}' },
    ]);
  });

  it('a user message that only carries tool results adds no empty user message; images and markers are left out', () => {
    const messages = toKimiMessages([
      { role: CHAT_ROLES.assistant, content: [call('c1', 'list', {})] },
      { role: CHAT_ROLES.user, content: [result('c1', text('a.ts b.ts')), data('\x89PNG', 'image/png'), data('x', 'cache_control')] },
    ]);
    assert.deepEqual(messages, [
      { role: 'assistant', content: '', toolCalls: [{ id: 'c1', name: 'list', input: {} }] },
      { role: 'tool', toolCallId: 'c1', content: 'a.ts b.ts' },
    ]);
  });

  it('a tool call from Kimi, reported as a part and sent back in the next request, reaches the wire as it came', () => {
    const fromKimi = { id: 'functions.read_file:0', name: 'read_file', input: { path: 'src/a.ts', lines: [1, 20] } };
    const part = toToolCallShape(fromKimi);
    assert.deepEqual(part, { callId: 'functions.read_file:0', name: 'read_file', input: fromKimi.input });
    const [assistant] = toKimiMessages([{ role: CHAT_ROLES.assistant, content: [part] }]);
    const wire = wireMessage(assistant) as { tool_calls: { id: string; function: { name: string; arguments: string } }[] };
    assert.equal(wire.tool_calls[0].id, fromKimi.id);
    assert.deepEqual(JSON.parse(wire.tool_calls[0].function.arguments), fromKimi.input);
  });

  it('tools become OpenAI function tools; one without a schema takes an empty object', () => {
    const tools = toKimiTools([
      {
        name: 'read_file',
        description: 'Reads a file',
        inputSchema: { type: 'object', properties: { path: { type: 'string' } }, required: ['path'] },
      },
      { name: 'now', description: 'The time', inputSchema: {} },
    ]);
    assert.deepEqual(tools.map(wireTool), [
      {
        type: 'function',
        function: {
          name: 'read_file',
          description: 'Reads a file',
          parameters: { type: 'object', properties: { path: { type: 'string' } }, required: ['path'] },
        },
      },
      { type: 'function', function: { name: 'now', description: 'The time', parameters: { type: 'object', properties: {} } } },
    ]);
  });

  it("a message's text for counting holds its tool calls' names and arguments", () => {
    assert.equal(
      messageText({ role: CHAT_ROLES.assistant, content: [text('Reading.'), call('c', 'read', { path: 'a' })] }),
      'Reading.\nread{"path":"a"}',
    );
  });
});
