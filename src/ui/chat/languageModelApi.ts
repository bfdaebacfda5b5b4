// VS Code's language model chat provider API (finalized in 1.104), declared here: the extension keeps
// `engines.vscode` ^1.96 and @types/vscode 1.96, and registers its provider only where the running
// VS Code has `vscode.lm.registerLanguageModelChatProvider`. The shapes follow @types/vscode 1.106.
import * as vscode from 'vscode';

export interface LanguageModelChatInformation {
  readonly id: string;
  readonly name: string;
  readonly family: string;
  readonly version: string;
  readonly tooltip?: string;
  readonly detail?: string;
  readonly maxInputTokens: number;
  readonly maxOutputTokens: number;
  readonly capabilities: { readonly imageInput?: boolean; readonly toolCalling?: boolean | number };
}

export interface LanguageModelChatRequestMessage {
  readonly role: vscode.LanguageModelChatMessageRole;
  readonly content: ReadonlyArray<unknown>;
  readonly name: string | undefined;
}

export interface ProvideLanguageModelChatResponseOptions {
  readonly modelOptions?: { readonly [name: string]: unknown };
  readonly tools?: readonly vscode.LanguageModelChatTool[];
  readonly toolMode: vscode.LanguageModelChatToolMode;
}

/** `vscode.LanguageModelResponsePart`: a text, tool-call or (1.104+) data part. */
export type LanguageModelResponsePart = vscode.LanguageModelTextPart | vscode.LanguageModelToolCallPart | object;

export interface LanguageModelChatProvider<T extends LanguageModelChatInformation = LanguageModelChatInformation> {
  readonly onDidChangeLanguageModelChatInformation?: vscode.Event<void>;
  provideLanguageModelChatInformation(options: { readonly silent: boolean }, token: vscode.CancellationToken): vscode.ProviderResult<T[]>;
  provideLanguageModelChatResponse(
    model: T,
    messages: readonly LanguageModelChatRequestMessage[],
    options: ProvideLanguageModelChatResponseOptions,
    progress: vscode.Progress<LanguageModelResponsePart>,
    token: vscode.CancellationToken,
  ): Thenable<void>;
  provideTokenCount(model: T, text: string | LanguageModelChatRequestMessage, token: vscode.CancellationToken): Thenable<number>;
}

interface NewerLm {
  registerLanguageModelChatProvider?(vendor: string, provider: LanguageModelChatProvider): vscode.Disposable;
}

/** `vscode.LanguageModelDataPart` (1.104+), where the running VS Code has it. */
interface DataPartClass {
  json(value: unknown, mime?: string): object;
}

/** Whether this VS Code can take a language model chat provider (1.104 and later). */
export function canProvideLanguageModels(): boolean {
  return typeof (vscode.lm as NewerLm | undefined)?.registerLanguageModelChatProvider === 'function';
}

/** Registers the provider where the API exists; undefined on an older VS Code. */
export function registerLanguageModelChatProvider(vendor: string, provider: LanguageModelChatProvider): vscode.Disposable | undefined {
  const lm = vscode.lm as NewerLm | undefined;
  return typeof lm?.registerLanguageModelChatProvider === 'function' ? lm.registerLanguageModelChatProvider(vendor, provider) : undefined;
}

/** A JSON data part for the chat, where the running VS Code has data parts. */
export function jsonDataPart(value: unknown, mime: string): object | undefined {
  const DataPart = (vscode as unknown as { LanguageModelDataPart?: DataPartClass }).LanguageModelDataPart;
  return DataPart?.json(value, mime);
}
