import * as path from 'node:path';
import * as vscode from 'vscode';
import { Conversation, dropOldest } from '../core/conversation';
import { SendQueue, SendRejected } from '../core/sendQueue';
import { ChatResult, KimiError } from '../kimi';
import { Conversations } from '../send/conversations';
import { Answered, CountedRequest, Queued, SendPipeline } from '../send/sendPipeline';
import { ApiKey } from './apiKey';
import { AnswerDocuments, PendingTurn } from './answerDocuments';
import { duration, formatCount, formatUsd, heldBy } from './words';
import { causeOf, describeFailure, FailureMessage, FixAction } from './failure';
import { Action, Notifier, openSettings, setApiKey } from './notifier';
import { PendingSends } from '../send/pendingSends';
import { SelectionCounter } from './selectionCounter';
import { SendTimeline, SendTimelines } from './sendTimeline';
import { Settings } from './settings';

export interface SenderParts {
  readonly settings: Settings;
  readonly apiKey: ApiKey;
  readonly counter: SelectionCounter;
  readonly pipeline: SendPipeline;
  /** Read for the progress notification: where a send stands in the line. */
  readonly queue: SendQueue<ChatResult>;
  readonly conversations: Conversations;
  readonly answers: AnswerDocuments;
  readonly notifier: Notifier;
  readonly pending: PendingSends;
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
 * The send commands, as the user sees them: what to send (the selection, an input box), the
 * choices a send may need (a context window that would overflow), its progress, its editor and
 * what went wrong. The sending itself is the pipeline's.
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
    const selected =
      editor && !editor.selection.isEmpty && !this.parts.answers.conversationOf(editor.document.uri)
        ? editor.document.getText(editor.selection)
        : undefined;
    const text =
      selected ?? (await this.ask('Kimi: Send Prompt', 'Nothing is selected: type a prompt (or select text in an editor first).'));
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
   * `text` (a keybinding's or a link's argument) fills the input box; it is never sent unasked, or a
   * `command:` link in any README or Markdown preview could spend the budget and resend the last
   * conversation.
   */
  async sendFollowUp(text?: string): Promise<void> {
    const timeline = this.timelines.begin();
    const active = this.parts.answers.conversationOf(vscode.window.activeTextEditor?.document.uri);
    const { conversations } = this.parts;
    await conversations.ready;
    const conversation = (active && conversations.get(active)) || conversations.latest();
    if (!conversation) {
      this.parts.notifier.notify('info', 'Kimi: there is no conversation to follow up yet. Send a prompt first ("Kimi: Send Prompt").');
      return;
    }
    const followUp = await this.ask(
      `Kimi: Follow-up to "${conversation.title}"`,
      `Sent with the ${conversation.exchanges.length - conversation.firstSent} earlier exchange(s) of this conversation.`,
      typeof text === 'string' ? text : undefined,
    );
    if (followUp !== undefined) await this.send({ conversation, prompt: followUp, typed: followUp }, timeline);
  }

  /** Offers the sends a previous window left unanswered: send them again, show them, or let them go. */
  async offerLeftover(): Promise<void> {
    const leftover = [...this.parts.pending.leftover];
    if (!leftover.length) return;
    const resume = 'Send Again';
    const show = 'Show Them';
    const many = leftover.length === 1 ? '1 prompt was' : `${leftover.length} prompts were`;
    const choice = await this.parts.notifier.ask(
      'warning',
      `Kimi: ${many} waiting or being answered when the window closed: ${leftover.map((p) => `"${firstLine(p.typed)}"`).join(', ')}.`,
      {},
      resume,
      show,
      'Discard',
    );
    if (choice === undefined) return; // dismissed: offered again next time
    this.parts.pending.decided();
    if (choice === resume) {
      const { conversations } = this.parts;
      await Promise.all(
        leftover.map((p) =>
          this.send(
            { conversation: p.conversationId ? conversations.get(p.conversationId) : undefined, prompt: p.prompt, typed: p.typed },
            this.timelines.begin(),
          ),
        ),
      );
    } else if (choice === show) {
      const text = leftover.map((p) => `# ${firstLine(p.typed)}\n\n${p.prompt}`).join('\n\n---\n\n');
      await vscode.window.showTextDocument(await vscode.workspace.openTextDocument({ content: text, language: 'markdown' }));
    }
  }

  private async send(ask: Ask, timeline: SendTimeline): Promise<void> {
    const { notifier, conversations, answers, pipeline } = this.parts;
    timeline.label = firstLine(ask.typed);
    await conversations.ready;
    timeline.mark('history');
    if (!ask.prompt.trim()) {
      notifier.notify(
        'warning',
        'Kimi: nothing to send — the selection is empty or only white space. Select the prompt, or run the command with nothing selected to type one.',
      );
      return;
    }
    if (!(await this.parts.apiKey.get())) {
      this.keep(ask.typed);
      this.tell(
        describeFailure(
          new KimiError({ kind: 'unauthorized', message: 'No Moonshot API key is set. Set one to send prompts.' }),
          this.context(1),
        ),
        this.sendAgain(ask),
      );
      return;
    }
    timeline.mark('key');
    const conversation = ask.conversation ?? conversations.start(firstLine(ask.typed), this.parts.settings.config.systemPrompt, Date.now());
    // Kept until it is answered or given up, so that a reload or a crash does not lose it.
    const pendingId = this.parts.pending.add({ conversationId: ask.conversation?.id, prompt: ask.prompt, typed: ask.typed });
    // The editor opens at once and beside the send, not on its path: the answer streams into the
    // conversation whether or not it is open yet, and VS Code's first open in a window overlaps the count.
    const turn: PendingTurn = { prompt: ask.prompt, status: 'counting tokens…', reasoning: '', content: '' };
    answers.begin(conversation, turn);
    void this.reveal(conversation, timeline);
    let attempts = 0;
    try {
      const request = await this.fitted(conversation, ask.prompt);
      if (typeof request === 'string') {
        this.giveUp(conversation, `Not sent: ${request}`);
        this.keep(ask.typed);
        return;
      }
      timeline.mark('counted');
      const summary = this.summaryOf(request);
      turn.status = `${summary} · waiting for budget`;
      answers.refresh(conversation);
      let answered: Answered;
      try {
        answered = await this.withProgress(
          summary,
          pipeline.send(request, firstLine(ask.typed), {
            admitted: (attempt) => {
              attempts = attempt;
              timeline.mark('admitted');
              turn.status = attempt > 1 ? `${summary} · attempt ${attempt}` : summary;
              turn.reasoning = '';
              turn.content = '';
              answers.begin(conversation, turn);
            },
            requestLeft: () => timeline.mark('requestLeft'),
            responded: () => timeline.mark('responded'),
            reasoning: (d) => ((turn.reasoning += d), answers.refresh(conversation)),
            content: (d) => ((turn.content += d), answers.refresh(conversation)),
          }),
        );
      } catch (error) {
        const reason = causeOf(error);
        if (attempts === 0) this.giveUp(conversation, `Not sent: ${reason}`);
        else
          answers.settle(
            conversation,
            `Not answered: ${reason}${error instanceof KimiError && error.partial ? ' — what arrived is shown below.' : ''}`,
          );
        const unanswered = !(error instanceof KimiError && error.streamed);
        if (unanswered) this.keep(ask.typed);
        // Offered again with the reason, so that no prompt of a burst is lost to a failure.
        const again = unanswered && !(error instanceof SendRejected && (error.reason === 'cancelled' || error.reason === 'impossible'));
        const continued = attempts > 0 ? conversations.get(conversation.id) : ask.conversation;
        this.tell(describeFailure(error, this.context(attempts)), again ? this.sendAgain({ ...ask, conversation: continued }) : undefined);
        return;
      }
      timeline.mark('answered');
      this.unsentInput = '';
      this.shown(conversation, answered);
      timeline.mark('recorded');
    } finally {
      this.parts.pending.remove(pendingId);
    }
  }

  /** What a counted request will cost, in one line: "≈N prompt tokens + M max output, up to $X". */
  private summaryOf(request: CountedRequest): string {
    const { messages, estimate, maxOutputTokens, maxCostUsd } = request;
    const history = messages.length > 1 ? ` (${messages.length} messages, earlier turns included)` : '';
    return `≈${formatCount(estimate.tokens)} prompt tokens${history} + ${formatCount(maxOutputTokens)} max output${maxCostUsd === undefined ? '' : `, up to ${formatUsd(maxCostUsd)}`}`;
  }

  /** A send that never went out: a conversation it began is not kept, and its editor says why. */
  private giveUp(conversation: Conversation, note: string): void {
    this.parts.conversations.discard(conversation);
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
   * oldest turns (or to summarise them with one extra, budgeted request). When it is not to be sent,
   * why not, for its editor.
   */
  private async fitted(conversation: Conversation, prompt: string): Promise<CountedRequest | string> {
    const { pipeline, counter } = this.parts;
    for (;;) {
      const characters = conversation.exchanges
        .slice(conversation.firstSent)
        .reduce((sum, e) => sum + e.prompt.length + e.answer.length, prompt.length);
      const request = await counter.withProgress(characters, (signal) => pipeline.count(conversation, prompt, signal));
      if (!request) return 'the count of its tokens was cancelled or failed.';
      if (!request.overflow) return request; // the queue refuses what cannot fit at all, with the numbers
      const { exchanges, freesTokens, total, contextWindow } = request.overflow;
      const { model, maxOutputTokens } = request;
      const some = `${exchanges} exchange${exchanges === 1 ? '' : 's'}`;
      const drop = `Let go of the oldest ${some}`;
      const summarise = `Summarise the oldest ${some} first`;
      const choice = await this.parts.notifier.ask(
        'warning',
        `Kimi: this follow-up needs ≈${formatCount(total)} tokens (history + question + ${formatCount(maxOutputTokens)} max output), more than ${model}'s context window of ${formatCount(contextWindow)}. ` +
          `Letting go of the oldest ${some} frees ≈${formatCount(freesTokens)} tokens; a summary of them frees a little less and costs one extra request of ≈${formatCount(freesTokens + maxOutputTokens)} tokens.`,
        { modal: true },
        drop,
        summarise,
      );
      if (choice === drop) dropOldest(conversation, exchanges);
      else if (choice === summarise) {
        const summary = await this.summarise(conversation, exchanges);
        if (summary === undefined) return `the summary of the oldest ${some} did not come back; the conversation is as it was.`;
        dropOldest(conversation, exchanges, summary);
      } else return `it would overflow ${model}'s context window, and nothing was let go of.`;
      this.parts.conversations.edited();
    }
  }

  /** One budgeted request that summarises the oldest `count` exchanges still in play. */
  private async summarise(conversation: Conversation, count: number): Promise<string | undefined> {
    try {
      const queued = await this.parts.pipeline.summarise(conversation, count, firstLine(`summary of "${conversation.title}"`));
      return await this.withProgress(`summarising ${count} exchange(s)`, queued);
    } catch (error) {
      this.tell(describeFailure(error, this.context(1)));
      return undefined;
    }
  }

  /** A cancellable notification that counts down while a queued request waits, until it ends. */
  private withProgress<T>(title: string, queued: Queued<T>): Promise<T> {
    return Promise.resolve(
      vscode.window.withProgress(
        { location: vscode.ProgressLocation.Notification, title: `Kimi: ${title}`, cancellable: true },
        async (progress, token) => {
          token.onCancellationRequested(() => this.parts.pipeline.cancel(queued.id));
          const tick = () => progress.report({ message: this.progressMessage(queued.id) });
          tick();
          const ticker = setInterval(tick, 1000);
          try {
            return await queued.outcome;
          } finally {
            clearInterval(ticker);
          }
        },
      ),
    );
  }

  /** The answer is in the history: its editor shows it whole, with how full the context is. */
  private shown(conversation: Conversation, { result, context }: Answered): void {
    const { notifier, answers } = this.parts;
    answers.settle(conversation);
    if (context) {
      const of = context.window
        ? ` of ${result.model}'s ${formatCount(context.window)}-token context window (${((100 * context.used) / context.window).toFixed(1)}%)`
        : '';
      answers.setContextLine(
        conversation,
        `Context: ${formatCount(context.used)} tokens${of}. "Kimi: Send Follow-up" continues this conversation.`,
      );
    }
    if (result.finishReason === 'length') {
      const { maxOutputTokens } = this.parts.settings.config;
      notifier.notify(
        'warning',
        `Kimi: the answer stopped at max_tokens (${maxOutputTokens}). Raise kimiBudget.maxOutputTokens for longer answers; each send then costs more of the minute's tokens.`,
        openSettings('kimiBudget.maxOutputTokens'),
      );
    }
  }

  private progressMessage(id: number): string {
    const entry = this.parts.queue.entries().find((e) => e.id === id);
    if (!entry) return '';
    if (entry.state === 'running') return 'sending — the answer streams into the editor beside. Cancel stops it (its budget stays spent).';
    const held = this.parts.queue.headHeldBy;
    const why = held ? ` — held by ${heldBy(held)}` : '';
    return entry.eta === undefined ? `queued${why}` : `queued, goes out in ${duration(entry.eta - Date.now())}${why}`;
  }

  /** An input box, filled with `value` or else with what last failed to go out. */
  private ask(title: string, prompt: string, value = this.unsentInput): Promise<string | undefined> {
    return Promise.resolve(vscode.window.showInputBox({ title, prompt, value, ignoreFocusOut: true }));
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
    try {
      const models = await this.parts.pipeline.models();
      const picked = await vscode.window.showQuickPick(models, {
        title: 'Kimi: models the server offers',
        placeHolder: 'Sets kimiBudget.model',
      });
      if (picked) await this.parts.settings.setModel(picked);
    } catch (error) {
      this.tell(describeFailure(error, this.context(1)));
    }
  }
}

function firstLine(text: string): string {
  const line = text.trim().split('\n')[0].trim();
  return line.length > 48 ? `${line.slice(0, 47)}…` : line || 'prompt';
}
