import { randomUUID } from 'node:crypto';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { Conversation, dropOldest, fitContext, requestMessages, summaryRequest } from '../core/conversation';
import { actualCost, formatUsd, maxCost, priceOf } from '../core/cost';
import { History } from '../core/history';
import { SendQueue, SendRejected } from '../core/sendQueue';
import { ChatMessage, ChatResult, KimiClient, KimiError } from '../kimi';
import { contextWindowOf } from '../kimi/models';
import { Calibration } from '../tokens/calibration';
import { estimateRequest, RequestEstimate } from '../tokens/requestEstimate';
import { TokenCounter } from '../tokens/tokenCounter';
import { ApiKey } from './apiKey';
import { AnswerDocuments, PendingTurn } from './answerDocuments';
import { duration, formatCount, HELD_BY } from './budgetSummary';
import { describeFailure, FailureMessage, FixAction } from './failure';
import { Action, Notifier, openSettings, setApiKey } from './notifier';
import { PendingSends } from './pendingSends';
import { SelectionCounter } from './selectionCounter';
import { SendTimeline, SendTimelines } from './sendTimeline';
import { Settings } from './settings';

/** Session totals shown in the budget tooltip. */
export interface SessionCost {
  usd: number;
  /** False once an answer came from a model without a known price. */
  known: boolean;
}

export interface SenderParts {
  readonly settings: Settings;
  readonly apiKey: ApiKey;
  readonly tokenCounter: TokenCounter;
  readonly counter: SelectionCounter;
  readonly calibration: Calibration;
  readonly queue: SendQueue<ChatResult>;
  readonly answers: AnswerDocuments;
  readonly history: () => History;
  readonly historyChanged: () => void;
  readonly session: SessionCost;
  readonly notifier: Notifier;
  readonly pending: PendingSends;
  readonly calibrated: () => void;
  /** Resolves once the history has loaded: a send waits for it, after taking what it sends. */
  readonly ready: Promise<void>;
}

/** What the user asked to send, before it is counted. */
interface Ask {
  /** The conversation it continues; undefined starts a new one. */
  readonly conversation?: Conversation;
  /** The user message as sent. */
  readonly prompt: string;
  /** What the user typed or selected (the title of a new conversation). */
  readonly typed: string;
}

/**
 * The send commands: count the whole request the server will charge, queue it, stream the answer
 * into the conversation's document beside the prompt, keep it in the history, say what went wrong.
 */
export class PromptSender {
  private unsentInput = '';
  /** Where the time of the last sends went. */
  readonly timelines = new SendTimelines();

  constructor(private readonly parts: SenderParts) {}

  /** "Kimi: Send Prompt": the selection, or a typed prompt, as a new conversation. */
  async sendPrompt(): Promise<void> {
    const timeline = this.timelines.begin();
    // Taken at once: by the time anything is awaited, the user may have selected the next prompt.
    const editor = vscode.window.activeTextEditor;
    const selected = editor && !editor.selection.isEmpty && !this.parts.answers.conversationOf(editor.document.uri) ? editor.document.getText(editor.selection) : undefined;
    const text = selected ?? (await this.ask('Kimi: Send Prompt', 'Nothing is selected: type a prompt (or select text in an editor first).'));
    if (text !== undefined) await this.send({ prompt: text, typed: text }, timeline);
  }

  /** "Kimi: Send Selection with File as Context": the active file goes along with the selection. */
  async sendWithFile(): Promise<void> {
    const editor = vscode.window.activeTextEditor;
    if (!editor || editor.selection.isEmpty || this.parts.answers.conversationOf(editor.document.uri)) {
      this.parts.notifier.notify('warning', 'Kimi: select the question in a file first; the whole file is sent along with it as context.');
      return;
    }
    const timeline = this.timelines.begin();
    const { document, selection } = editor;
    const question = document.getText(selection);
    const name = vscode.workspace.asRelativePath(document.uri, false) || path.basename(document.fileName);
    const prompt = `Here is the file ${name}:\n\n\`\`\`${document.languageId}\n${document.getText()}\n\`\`\`\n\n${question}`;
    await this.send({ prompt, typed: question }, timeline);
  }

  /**
   * "Kimi: Send Follow-up": continues the conversation of the active answer editor, or the last one.
   * `text` (from a keybinding's args, say) skips the input box.
   */
  async sendFollowUp(text?: string): Promise<void> {
    const timeline = this.timelines.begin();
    const active = this.parts.answers.conversationOf(vscode.window.activeTextEditor?.document.uri);
    await this.parts.ready;
    const history = this.parts.history();
    const conversation = (active && history.get(active)) || history.list().find((c) => c.exchanges.length > 0);
    if (!conversation) {
      this.parts.notifier.notify('info', 'Kimi: there is no conversation to follow up yet. Send a prompt first ("Kimi: Send Prompt").');
      return;
    }
    const followUp = typeof text === 'string' ? text : await this.ask(`Kimi: Follow-up to "${conversation.title}"`, `Sent with the ${conversation.exchanges.length - conversation.firstSent} earlier exchange(s) of this conversation.`);
    if (followUp !== undefined) await this.send({ conversation, prompt: followUp, typed: followUp }, timeline);
  }

  /** Offers the sends a previous window left unanswered: send them again, show them, or let them go. */
  async offerLeftover(): Promise<void> {
    const leftover = [...this.parts.pending.leftover];
    if (!leftover.length) return;
    const resume = 'Send Again';
    const show = 'Show Them';
    const many = leftover.length === 1 ? '1 prompt was' : `${leftover.length} prompts were`;
    const choice = await vscode.window.showWarningMessage(`Kimi: ${many} waiting or being answered when the window closed: ${leftover.map((p) => `"${firstLine(p.typed)}"`).join(', ')}.`, resume, show, 'Discard');
    if (choice === undefined) return; // dismissed: offered again next time
    this.parts.pending.decided();
    if (choice === resume) {
      const history = this.parts.history();
      await Promise.all(leftover.map((p) => this.send({ conversation: p.conversationId ? history.get(p.conversationId) : undefined, prompt: p.prompt, typed: p.typed }, this.timelines.begin())));
    } else if (choice === show) {
      const text = leftover.map((p) => `# ${firstLine(p.typed)}\n\n${p.prompt}`).join('\n\n---\n\n');
      await vscode.window.showTextDocument(await vscode.workspace.openTextDocument({ content: text, language: 'markdown' }));
    }
  }

  private async send(ask: Ask, timeline: SendTimeline): Promise<void> {
    const { notifier } = this.parts;
    timeline.label = firstLine(ask.typed);
    await this.parts.ready;
    timeline.mark('history');
    if (!ask.prompt.trim()) {
      notifier.notify('warning', 'Kimi: nothing to send — the selection is empty or only white space. Select the prompt, or run the command with nothing selected to type one.');
      return;
    }
    if (!(await this.parts.apiKey.get())) {
      this.keep(ask.typed);
      this.tell(describeFailure(new KimiError({ kind: 'unauthorized', message: 'No Moonshot API key is set. Set one to send prompts.' }), this.context(1)), this.sendAgain(ask));
      return;
    }
    timeline.mark('key');
    const { answers } = this.parts;
    const config = this.parts.settings.config;
    const conversation = ask.conversation ?? this.parts.history().start(randomUUID(), firstLine(ask.typed), config.systemPrompt, Date.now());
    // Kept until it is answered or given up, so that a reload or a crash does not lose it.
    const pendingId = this.parts.pending.add({ conversationId: ask.conversation?.id, prompt: ask.prompt, typed: ask.typed });
    // The editor opens at once and beside the send, not on its path: the answer streams into the
    // conversation whether or not it is open yet, and VS Code's first open in a window overlaps the count.
    const turn: PendingTurn = { prompt: ask.prompt, status: 'counting tokens…', reasoning: '', content: '' };
    answers.begin(conversation, turn);
    void this.reveal(conversation, timeline);
    let attempts = 0;
    try {
      const estimate = await this.fitted(conversation, ask.prompt);
      if (!estimate) {
        this.giveUp(conversation, 'Not sent: cancelled, or its tokens could not be counted.');
        this.keep(ask.typed);
        return;
      }
      timeline.mark('counted');
      const messages = requestMessages(conversation, ask.prompt);
      const price = priceOf(config.model, config.prices);
      const history = messages.length > 1 ? ` (${messages.length} messages, earlier turns included)` : '';
      const summary = `≈${formatCount(estimate.tokens)} prompt tokens${history} + ${formatCount(config.maxOutputTokens)} max output${price ? `, up to ${formatUsd(maxCost(price, estimate.tokens, config.maxOutputTokens))}` : ''}`;
      turn.status = `${summary} · waiting for budget`;
      answers.refresh(conversation);
      let result: ChatResult;
      try {
        result = await this.queued(summary, ask.typed, estimate.tokens, messages, timeline, (attempt) => {
          attempts = attempt;
          turn.status = attempt > 1 ? `${summary} · attempt ${attempt}` : summary;
          turn.reasoning = '';
          turn.content = '';
          answers.begin(conversation, turn);
          return {
            onReasoning: (d: string) => ((turn.reasoning += d), answers.refresh(conversation)),
            onContent: (d: string) => ((turn.content += d), answers.refresh(conversation)),
          };
        });
      } catch (error) {
        const reason = error instanceof Error ? error.message : String(error);
        if (attempts === 0) this.giveUp(conversation, `Not sent: ${reason}`);
        else answers.settle(conversation, `Not answered: ${reason}${error instanceof KimiError && error.partial ? ' — what arrived is shown below.' : ''}`);
        const unanswered = !(error instanceof KimiError && error.streamed);
        if (unanswered) this.keep(ask.typed);
        // Offered again with the reason, so that no prompt of a burst is lost to a failure.
        const again = unanswered && !(error instanceof SendRejected && (error.reason === 'cancelled' || error.reason === 'impossible'));
        const continued = attempts > 0 ? this.parts.history().get(conversation.id) : ask.conversation;
        this.tell(describeFailure(error, this.context(attempts)), again ? this.sendAgain({ ...ask, conversation: continued }) : undefined);
        return;
      }
      this.unsentInput = '';
      this.record(conversation, ask.prompt, result, estimate, messages.length, attempts);
      timeline.mark('recorded');
    } finally {
      this.parts.pending.remove(pendingId);
    }
  }

  /** A send that never went out: a conversation it began is not kept, and its editor says why. */
  private giveUp(conversation: Conversation, note: string): void {
    this.parts.history().discard(conversation);
    this.parts.answers.settle(conversation, note);
  }

  /** Opens the answer's editor; when it cannot, says so and offers to open it later. The send goes on either way. */
  private async reveal(conversation: Conversation, timeline?: SendTimeline): Promise<void> {
    try {
      await this.parts.answers.show(conversation);
      timeline?.mark('shown');
    } catch (error) {
      this.parts.notifier.notify(
        'warning',
        `Kimi: the editor for the answer to "${conversation.title}" could not be opened (${error instanceof Error ? error.message : String(error)}). The answer still arrives and is kept in the history.`,
        { title: 'Show Answer', run: () => this.reveal(conversation) },
      );
    }
  }

  private sendAgain(ask: Ask): Action {
    return { title: 'Send Again', run: () => this.send(ask, this.timelines.begin()) };
  }

  /**
   * Counts the request; when it would overflow the model's context window, offers to let go of the
   * oldest turns (or to summarise them with one extra, budgeted request). Undefined when the user
   * backs out or counting fails.
   */
  private async fitted(conversation: Conversation, prompt: string): Promise<RequestEstimate | undefined> {
    const { model, maxOutputTokens } = this.parts.settings.config;
    for (;;) {
      const messages = requestMessages(conversation, prompt);
      const characters = messages.reduce((sum, m) => sum + m.content.length, 0);
      const estimate = await this.parts.counter.withProgress(characters, (signal) =>
        estimateRequest((text) => this.parts.tokenCounter.count(text, signal), this.parts.calibration, model, messages));
      if (!estimate) return undefined;
      const leading = messages.length - 1 - 2 * (conversation.exchanges.length - conversation.firstSent);
      const fit = fitContext(estimate.perMessage, leading, maxOutputTokens, contextWindowOf(model));
      if (fit.fits || !fit.dropOldest) return estimate; // the queue refuses what cannot fit at all, with the numbers
      const { exchanges, freesTokens } = fit.dropOldest;
      const window = contextWindowOf(model)!;
      const drop = `Let go of the oldest ${exchanges} exchange${exchanges === 1 ? '' : 's'}`;
      const summarise = `Summarise the oldest ${exchanges} exchange${exchanges === 1 ? '' : 's'} first`;
      const choice = await vscode.window.showWarningMessage(
        `Kimi: this follow-up needs ≈${formatCount(fit.total)} tokens (history + question + ${formatCount(maxOutputTokens)} max output), more than ${model}'s context window of ${formatCount(window)}. ` +
          `Letting go of the oldest ${exchanges} exchange${exchanges === 1 ? '' : 's'} frees ≈${formatCount(freesTokens)} tokens; a summary of them frees a little less and costs one extra request of ≈${formatCount(freesTokens + maxOutputTokens)} tokens.`,
        { modal: true },
        drop,
        summarise,
      );
      if (choice === drop) dropOldest(conversation, exchanges);
      else if (choice === summarise) {
        const summary = await this.summarise(conversation, exchanges);
        if (summary === undefined) return undefined;
        dropOldest(conversation, exchanges, summary);
      } else return undefined;
      this.parts.historyChanged();
    }
  }

  /** One budgeted request that summarises the oldest `count` exchanges still in play. */
  private async summarise(conversation: Conversation, count: number): Promise<string | undefined> {
    const { model } = this.parts.settings.config;
    const messages = summaryRequest(conversation, count);
    const estimate = await estimateRequest((text) => this.parts.tokenCounter.count(text), this.parts.calibration, model, messages);
    try {
      const result = await this.queued(`summarising ${count} exchange(s): ≈${formatCount(estimate.tokens)} prompt tokens`, `summary of "${conversation.title}"`, estimate.tokens, messages, undefined, () => ({}));
      return result.content.trim() || undefined;
    } catch (error) {
      this.tell(describeFailure(error, this.context(1)));
      return undefined;
    }
  }

  /** Queues one request with a cancellable notification that counts down while it waits. */
  private async queued(
    title: string,
    label: string,
    promptTokens: number,
    messages: ChatMessage[],
    timeline: SendTimeline | undefined,
    starting: (attempt: number) => { onReasoning?(d: string): void; onContent?(d: string): void },
  ): Promise<ChatResult> {
    const { baseUrl, model, maxOutputTokens, temperature, topP } = this.parts.settings.config;
    const client = new KimiClient({ baseUrl, apiKey: () => this.parts.apiKey.get() });
    const ticket = this.parts.queue.enqueue({
      label: firstLine(label),
      promptTokens,
      maxTokens: maxOutputTokens,
      contextWindow: contextWindowOf(model),
      run: async ({ signal, number, sending, serverAnswered }) => {
        timeline?.mark('admitted');
        const handlers = starting(number);
        const result = await client.streamChat({ model, messages, maxTokens: maxOutputTokens, temperature, topP }, {
          ...handlers,
          onRequest: () => (sending(), timeline?.mark('requestLeft')),
          onResponse: () => (serverAnswered(), timeline?.mark('responded')),
        }, signal);
        timeline?.mark('answered');
        return { value: result, promptTokens: result.usage?.promptTokens };
      },
    });
    return vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: `Kimi: ${title}`, cancellable: true },
      async (progress, token) => {
        token.onCancellationRequested(() => this.parts.queue.cancel(ticket.id));
        const tick = () => progress.report({ message: this.progressMessage(ticket.id) });
        tick();
        const ticker = setInterval(tick, 1000);
        try {
          return await ticket.result;
        } finally {
          clearInterval(ticker);
        }
      },
    );
  }

  /** Keeps an answered exchange, learns from the server's count, and says how full the context is. */
  private record(conversation: Conversation, prompt: string, result: ChatResult, estimate: RequestEstimate, messageCount: number, attempts: number): void {
    const { settings, calibration, session, notifier, answers } = this.parts;
    const { maxOutputTokens, prices } = settings.config;
    const { usage, model, finishReason } = result;
    const price = priceOf(model, prices);
    const costUsd = usage && price ? actualCost(price, usage) : undefined;
    if (usage) {
      calibration.record(model, estimate.contentTokens, messageCount, usage.promptTokens);
      this.parts.calibrated();
      if (costUsd !== undefined) session.usd += costUsd;
      else session.known = false;
    }
    this.parts.history().add(conversation, {
      prompt, answer: result.content, reasoning: result.reasoning, at: Date.now(), model, finishReason, costUsd, attempts,
      usage: usage && { promptTokens: usage.promptTokens, completionTokens: usage.completionTokens, cachedTokens: usage.cachedTokens },
    });
    this.parts.historyChanged();
    answers.settle(conversation);
    const window = contextWindowOf(model);
    if (usage) {
      const used = usage.promptTokens + usage.completionTokens;
      const of = window ? ` of ${model}'s ${formatCount(window)}-token context window (${((100 * used) / window).toFixed(1)}%)` : '';
      answers.setContextLine(conversation, `Context: ${formatCount(used)} tokens${of}. "Kimi: Send Follow-up" continues this conversation.`);
    }
    if (finishReason === 'length') {
      notifier.notify('warning', `Kimi: the answer stopped at max_tokens (${maxOutputTokens}). Raise kimiBudget.maxOutputTokens for longer answers; each send then costs more of the minute's tokens.`, openSettings('kimiBudget.maxOutputTokens'));
    }
  }

  private progressMessage(id: number): string {
    const entry = this.parts.queue.entries().find((e) => e.id === id);
    if (!entry) return '';
    if (entry.state === 'running') return 'sending — the answer streams into the editor beside. Cancel stops it (its budget stays spent).';
    const held = this.parts.queue.headHeldBy;
    const why = held ? ` — held by ${HELD_BY[held]}` : '';
    return entry.eta === undefined ? `queued${why}` : `queued, goes out in ${duration(entry.eta - Date.now())}${why}`;
  }

  private ask(title: string, prompt: string): Promise<string | undefined> {
    return Promise.resolve(vscode.window.showInputBox({ title, prompt, value: this.unsentInput, ignoreFocusOut: true }));
  }

  /** Keeps a typed prompt that did not go out, so the next input box offers it again. */
  private keep(text: string): void {
    this.unsentInput = text;
  }

  private context(attempts: number) {
    const { model, baseUrl } = this.parts.settings.config;
    return { model, baseUrl, attempts };
  }

  private tell(failure: FailureMessage, again?: Action): void {
    const actions: Record<FixAction, Action> = {
      'Set API Key': setApiKey,
      'Open Settings': openSettings('kimiBudget'),
      'Pick a Model': { title: 'Pick a Model', run: () => this.pickModel() },
    };
    this.parts.notifier.notify(failure.severity, failure.message, ...failure.actions.map((a) => actions[a]), ...(again ? [again] : []));
  }

  private async pickModel(): Promise<void> {
    const { baseUrl } = this.parts.settings.config;
    try {
      const models = await new KimiClient({ baseUrl, apiKey: () => this.parts.apiKey.get() }).listModels();
      const picked = await vscode.window.showQuickPick(models, { title: 'Kimi: models the server offers', placeHolder: 'Sets kimiBudget.model' });
      if (picked) await vscode.workspace.getConfiguration('kimiBudget').update('model', picked, vscode.ConfigurationTarget.Global);
    } catch (error) {
      this.tell(describeFailure(error, this.context(1)));
    }
  }
}

function firstLine(text: string): string {
  const line = text.trim().split('\n')[0].trim();
  return line.length > 48 ? `${line.slice(0, 47)}…` : line || 'prompt';
}

