// Composition root: builds the pieces and wires their events; the logic lives in them.
import * as path from 'node:path';
import * as vscode from 'vscode';
import { createHash, randomBytes } from 'node:crypto';
import * as os from 'node:os';
import { AccountSwitch, DisposableStore, OpeningAccountStore } from './account/accountSwitch';
import { accountIdentity, LocalAccountStore } from './account/localAccount';
import { TeamAccountStore } from './account/teamAccount';
import type * as TeamConnectionModule from './account/teamConnection';
import { Budget, DEFAULT_BUDGET_OPTIONS } from './core/budget';
import { systemClock } from './core/clock';
import { Ledger } from './core/ledger';
import { Limits } from './core/limits';
import { SendQueue } from './core/sendQueue';
import { ChatResult } from './kimi';
import { verdictFor } from './kimi/verdict';
import { Conversations } from './send/conversations';
import { HistoryStore } from './send/historyStore';
import { SendPipeline } from './send/sendPipeline';
import { SessionCost } from './send/sessionCost';
import { Calibration, CalibrationState } from './tokens/calibration';
import { TokenCounter } from './tokens/tokenCounter';
import { AnswerDocuments } from './ui/answerDocuments';
import { ApiKey } from './ui/apiKey';
import { BudgetStatusItem } from './ui/budgetStatusItem';
import { DashboardFeed } from './ui/dashboardFeed';
import { DashboardPanel } from './ui/dashboardPanel';
import { showHistory } from './ui/historyPicker';
import { summarize } from './ui/budgetSummary';
import { KimiBudgetApi } from './ui/api';
import { Notifier } from './ui/notifier';
import { PendingSends } from './send/pendingSends';
import { PromptSender } from './ui/promptSender';
import { showQueue } from './ui/queuePicker';
import { SelectionCounter } from './ui/selectionCounter';
import { SelectionStatusItem } from './ui/selectionStatusItem';
import { Settings } from './ui/settings';
import { SpentStore } from './ui/spentStore';
import { TeamPassword } from './ui/teamPassword';
import { UsageStore } from './ui/usageStore';
import { LearnedLimitsStore, TierQuestion } from './ui/accountLimits';
import { canProvideLanguageModels, registerLanguageModelChatProvider } from './ui/chat/languageModelApi';
import { KIMI_VENDOR, KimiChatProvider } from './ui/chat/kimiChatProvider';
import { createKimiParticipant } from './ui/chat/kimiParticipant';
import { warmUpWhenIdle } from './ui/chat/warmUp';

const CALIBRATION_KEY = 'kimiBudget.calibration';
const PENDING_KEY = 'kimiBudget.pendingSends';

export function activate(context: vscode.ExtensionContext): KimiBudgetApi {
  const activationStart = performance.now();
  const notifier = new Notifier();
  const settings = new Settings(notifier, context.workspaceState);
  // The day's spends survive a reload, so the next window does not overspend the server's minute or day.
  const spent = new SpentStore(context.globalState);
  let restored: Ledger | undefined = spent.restore(systemClock.now());
  const apiKey = new ApiKey(context.secrets, notifier);
  // Every window of this machine on the same account shares its budget. Until the key is read (a few
  // tens of milliseconds), this window counts on its own from what it kept.
  const holder = randomBytes(6).toString('hex');
  const teamPassword = new TeamPassword(context.secrets, notifier);
  /** The team budgets this window may open, by identity (a hash: no password in it). */
  const teams = new Map<string, { url: string; budget: string; password: string | undefined }>();
  // Tells this machine's windows from teammates' in the tooltip; a hash, not the host's name.
  const machine = createHash('sha256').update(`${os.hostname()}\n${os.userInfo().username}`).digest('hex').slice(0, 8);
  /** Says a store's problem once when it appears, not again while it stays (across switches of account). */
  const warnOfProblem = (say: (problem: string) => string) => {
    let last: string | undefined;
    return (problem: string | undefined) => {
      if (problem && problem !== last) notifier.notify('warning', say(problem));
      last = problem;
    };
  };
  const warnOfTeamProblem = warnOfProblem(
    (problem) => `Kimi: team budget offline — ${problem}. This window uses its share of the limits until Redis is back.`,
  );
  const warnOfSharingProblem = warnOfProblem(
    (problem) =>
      `Kimi: this window could not share the account's budget with your other windows (${problem}). It keeps its own budget: windows sending at once may overspend the account.`,
  );
  const learnedLimits = new LearnedLimitsStore(context.globalState);
  let accountId = '';
  const openAccount = (identity: string, limits: Limits): DisposableStore => {
    // Until the key is read nothing is admitted; the first account starts from what was kept, and
    // from the account's own record (see SpendJournal), which a reload cannot outrun.
    if (identity === '') return new OpeningAccountStore(new Budget(limits, systemClock, restored), systemClock, holder);
    // What the server stated before this window opened still holds.
    const store = openShared(identity, limits);
    accountId = identity;
    for (const learned of learnedLimits.restore(identity, systemClock.now())) store.learnLimit(learned);
    return store;
  };
  const openShared = (identity: string, limits: Limits): DisposableStore => {
    const ledger = restored;
    restored = undefined;
    const team = teams.get(identity);
    if (team) {
      const store = new TeamAccountStore({
        connection: new (loadTeamConnection(context.extensionPath).RedisTeamConnection)(team),
        holder: `${machine}.${holder}`,
        machine,
        limits,
        clock: systemClock,
        ledger,
        log: (m) => notifier.record(`Kimi: ${m}`),
      });
      store.onDidChange(() => warnOfTeamProblem(store.snapshot().team?.problem));
      return store;
    }
    const store = new LocalAccountStore({
      identity,
      holder,
      limits,
      clock: systemClock,
      ledger,
      log: (m) => notifier.record(`Kimi: ${m}`),
      budgetOptions: { ...DEFAULT_BUDGET_OPTIONS, probeConcurrency: true },
    });
    store.onDidChange(() => warnOfSharingProblem(store.snapshot().sharingProblem));
    return store;
  };
  const account = new AccountSwitch('', settings.config.limits, openAccount);
  const followAccount = async () => {
    const key = await apiKey.get().catch(() => undefined);
    const { baseUrl, team } = settings.config;
    const identity = accountIdentity(baseUrl, key);
    if (!team.redisUrl) return account.switchTo(identity);
    const password = await teamPassword.get().catch(() => undefined);
    const budget = team.budgetName || identity;
    const teamIdentity = `team:${createHash('sha256')
      .update(`${team.redisUrl}\n${budget}\n${password ?? ''}`)
      .digest('hex')
      .slice(0, 24)}`;
    teams.set(teamIdentity, { url: team.redisUrl, budget, password });
    account.switchTo(teamIdentity);
  };
  const accountOpened = followAccount();
  const queue = new SendQueue<ChatResult>(account, systemClock, verdictFor, settings.config.queue);
  const calibration = new Calibration(context.globalState.get<CalibrationState>(CALIBRATION_KEY));
  // The tokenizer loads in a worker on the first count, never during activation.
  const tokenCounter = new TokenCounter({ workerPath: path.join(context.extensionPath, 'dist', 'tokenWorker.js') });
  const counter = new SelectionCounter(tokenCounter, calibration, settings, notifier);
  const session = new SessionCost();
  // The history loads in the background; a conversation begun before it is loaded is kept.
  const conversations = new Conversations(
    new HistoryStore(context.globalStorageUri.fsPath, (message) => notifier.notify('warning', message)),
  );
  const pipeline = new SendPipeline({
    config: () => settings.config,
    apiKey: () => apiKey.get(),
    count: (text, signal) => tokenCounter.count(text, signal),
    calibration,
    queue,
    conversations,
    session,
    now: Date.now,
  });
  const answers = new AnswerDocuments(conversations);
  // The dashboard's data is read from storage on the first send or the first look, not during activation.
  let usageStore: UsageStore | undefined;
  const usage = () => (usageStore ??= new UsageStore(context.globalState, Date.now(), -new Date().getTimezoneOffset() * 60_000));
  let dashboard: DashboardPanel | undefined;
  const showDashboard = () => {
    dashboard ??= new DashboardPanel(
      context.extensionUri,
      new DashboardFeed({
        series: usage().series,
        stats: usage().stats,
        snapshot: () => account.snapshot(),
        entries: () => queue.entries(),
        tickets: () => account.tickets,
        holder: () => account.holder,
        sameMachine: (other) => !account.snapshot().team || other.startsWith(`${machine}.`),
        heldBy: () => queue.headHeldBy,
        now: () => systemClock.now(),
      }),
    );
    dashboard.show();
  };

  const summary = () => {
    const { model } = settings.config;
    return summarize({
      snapshot: account.snapshot(),
      othersWaiting: account.tickets.filter((t) => t.holder !== account.holder).length,
      entries: queue.entries(),
      heldBy: queue.headHeldBy,
      refusal: queue.refusal,
      now: systemClock.now(),
      model,
      calibration: { ratio: calibration.ratio(model), samples: calibration.samples(model) },
      sessionCostUsd: session.usd,
      sessionCostKnown: session.known,
    });
  };
  const budgetItem = new BudgetStatusItem(summary);
  // Shown once the account's budget is known, never the placeholder's: the key read, and the windows
  // (or the team's Redis) reached — or a few seconds passed, when they are slow to answer.
  const show = () => budgetItem.show();
  void accountOpened
    .then(() => Promise.race([(account.store as Partial<{ ready(): Promise<void> }>).ready?.(), delay(5_000)]))
    .then(show, show);
  const selectionItem = new SelectionStatusItem((text, signal) => counter.count(text, signal));
  // Sends under way are kept on disk, one file per window; an older version kept them in global state.
  const inherited = context.globalState.get<unknown>(PENDING_KEY);
  const pending = new PendingSends(
    path.join(context.globalStorageUri.fsPath, 'pending'),
    (message) => notifier.notify('warning', message),
    process.pid,
    undefined,
    Array.isArray(inherited) ? inherited : [],
  );
  if (inherited !== undefined) void context.globalState.update(PENDING_KEY, undefined);
  const sender = new PromptSender({ settings, apiKey, counter, pipeline, queue, conversations, answers, notifier, pending });
  const tierQuestion = new TierQuestion(context.globalState, notifier, () => settings.config.tier);
  let { tier, baseUrl } = settings.config;
  const forgetLearned = (why: string) => {
    account.forgetLearned();
    notifier.notify(
      'info',
      `Kimi: the limits Moonshot stated in its refusals are forgotten${why}; the settings' limits apply until it states one again.`,
    );
  };

  context.subscriptions.push(
    notifier,
    apiKey,
    conversations,
    session,
    pipeline,
    settings,
    answers,
    budgetItem,
    selectionItem,
    // Before the line is emptied: the sends it gives up on the way out are the next window's to offer.
    { dispose: () => pending.close() },
    { dispose: () => queue.dispose() },
    account,
    context.secrets.onDidChange(() => (queue.resume(), void followAccount())),
    teamPassword,
    account.onDidChange(() => {
      spent.save(account.store.ledger, systemClock.now);
      if (accountId) learnedLimits.save(accountId, account.snapshot().learned ?? []);
    }),
    { dispose: () => tokenCounter.dispose() },
    queue.onDidChange(() => (budgetItem.refresh(), spent.save(account.store.ledger, systemClock.now))),
    session.onDidChange(() => budgetItem.refresh()),
    pipeline.onDidCalibrate(() => {
      void context.globalState.update(CALIBRATION_KEY, calibration.toJSON());
      selectionItem.refresh();
    }),
    spent,
    queue.onDidUse((event) => (usage().series.record(event), usage().save())),
    // The first send of someone who set neither a tier nor a limit asks for the tier (it does not wait for the answer).
    queue.onDidUse((event) => event.kind === 'admitted' && tierQuestion.maybeAsk()),
    pipeline.onDidAnswer((answer) => (usage().stats.record(answer), usage().save())),
    { dispose: () => (dashboard?.dispose(), usageStore?.dispose()) },
    settings.onDidChange((config) => {
      account.setLimits(config.limits);
      if (config.baseUrl !== baseUrl) queue.resume();
      baseUrl = config.baseUrl;
      if (config.tier !== tier && config.tier !== undefined) forgetLearned(` (the tier setting is now "${config.tier}")`);
      tier = config.tier;
      void followAccount(); // the base URL may have changed
      queue.setOptions(config.queue);
      selectionItem.refresh();
    }),
    // The send commands take the selection at once, then wait for the history themselves.
    vscode.commands.registerCommand('kimiBudget.sendPrompt', () => sender.sendPrompt()),
    vscode.commands.registerCommand('kimiBudget.sendFollowUp', (text?: unknown) =>
      sender.sendFollowUp(typeof text === 'string' ? text : undefined),
    ),
    vscode.commands.registerCommand('kimiBudget.sendWithFile', () => sender.sendWithFile()),
    vscode.commands.registerCommand('kimiBudget.showHistory', () => conversations.ready.then(() => showHistory(conversations, answers))),
    vscode.commands.registerCommand('kimiBudget.countTokens', () => counter.announce()),
    vscode.commands.registerCommand('kimiBudget.showQueue', () =>
      showQueue(queue, summary, notifier, account.snapshot().team ? "your team's other windows" : 'your other windows'),
    ),
    vscode.commands.registerCommand('kimiBudget.setTeamRedisPassword', () => teamPassword.prompt()),
    vscode.commands.registerCommand('kimiBudget.setApiKey', () => apiKey.prompt()),
    vscode.commands.registerCommand('kimiBudget.showDashboard', showDashboard),
    vscode.commands.registerCommand('kimiBudget.forgetLearnedLimits', () => forgetLearned('')),
  );

  // Kimi in VS Code's chat, where the running VS Code has the language model provider API (1.104+).
  const chat = { provider: false, participant: false };
  if (canProvideLanguageModels()) {
    const chatParts = { pipeline, queue, context: () => settings.config };
    const provider = new KimiChatProvider({ ...chatParts, settings, apiKey, counter });
    const registered = registerLanguageModelChatProvider(KIMI_VENDOR, provider);
    chat.provider = registered !== undefined;
    chat.participant = true;
    context.subscriptions.push(
      provider,
      ...(registered ? [registered] : []),
      createKimiParticipant({ ...chatParts, settings, extensionUri: context.extensionUri }),
      context.secrets.onDidChange(() => provider.refresh()),
      settings.onDidChange(() => provider.refresh()),
      // The chat counts often: the tokenizer loads once the window is quiet, not on the chat's first count.
      warmUpWhenIdle(() => void tokenCounter.count('Kimi').catch(() => undefined)),
    );
    void vscode.commands.executeCommand('setContext', 'kimiBudget.chat', true);
  }

  void conversations.ready.then(() => sender.offerLeftover());
  const activation = { ms: performance.now() - activationStart, tokenizerStarted: tokenCounter.started };
  return {
    activation,
    statusLabels: () => ({ budget: budgetItem.label, selection: selectionItem.label }),
    budgetTooltip: () => summary().tooltip,
    messages: () => notifier.messages,
    tokenizerStarted: () => tokenCounter.started,
    queue: () => queue.entries().map(({ id, label, state }) => ({ id, label, state })),
    calibration: (model) => ({ ratio: calibration.ratio(model), samples: calibration.samples(model) }),
    sendTimelines: () => sender.timelines.views(),
    chat: () => ({ ...chat }),
    countTokens: (text, model) => counter.count(text, undefined, model).then((c) => c.tokens),
  };
}

/** node-redis is half a megabyte: it is read from its own bundle the first time a team budget opens. */
function loadTeamConnection(extensionPath: string): typeof TeamConnectionModule {
  return require(path.join(extensionPath, 'dist', 'teamConnection.js')) as typeof TeamConnectionModule;
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref?.());
}

export function deactivate(): void {}
