import * as vscode from 'vscode';
import { isLearnedLimit, LEARNED_FOR_MS, LearnedLimit, LIMIT_NAMES, TIERS, TierChoice, TierName } from '../core/limits';
import { Notifier } from './notifier';
import { formatCount } from './words';

const LEARNED_KEY = 'kimiBudget.learnedLimits';
const ASKED_KEY = 'kimiBudget.tierAsked';
/** Accounts whose learned limits are kept; the oldest are let go beyond this. */
const MOST_ACCOUNTS = 20;

/**
 * Keeps the limits the server stated in refusals across reloads, per account (a hash: no key in
 * it). Every window of the account learns them at once through the shared budget; this copy is for
 * the next window after all were closed, and for a team member's next session.
 */
export class LearnedLimitsStore {
  private saved = '';

  constructor(private readonly state: vscode.Memento) {}

  restore(identity: string, now: number): LearnedLimit[] {
    const all = this.state.get<Record<string, unknown>>(LEARNED_KEY) ?? {};
    const kept = Object.hasOwn(all, identity) && Array.isArray(all[identity]) ? (all[identity] as unknown[]) : [];
    return kept.filter(isLearnedLimit).filter((l) => l.at > now - LEARNED_FOR_MS && l.at <= now);
  }

  /** Saves what the account has learned now, when it changed. */
  save(identity: string, learned: readonly LearnedLimit[]): void {
    const text = JSON.stringify(learned);
    if (`${identity}\n${text}` === this.saved) return;
    this.saved = `${identity}\n${text}`;
    const all = { ...(this.state.get<Record<string, unknown>>(LEARNED_KEY) ?? {}) };
    delete all[identity];
    if (learned.length) all[identity] = learned;
    const kept = Object.entries(all).slice(-MOST_ACCOUNTS);
    void this.state.update(LEARNED_KEY, Object.fromEntries(kept));
  }
}

const TIER_LABELS: Record<TierName, string> = {
  tier0: 'Tier0 — $1 topped up (¥0 on the China platform)',
  tier1: 'Tier1 — $10 (¥50)',
  tier2: 'Tier2 — $20 (¥100)',
  tier3: 'Tier3 — $100 (¥500)',
  tier4: 'Tier4 — $1,000 (¥5,000)',
  tier5: 'Tier5 — $3,000 (¥20,000)',
};

/** The tier's limits in a line. */
export function describeTier(tier: TierName): string {
  const l = TIERS[tier];
  return `${formatCount(l.requestsPerMinute)} requests and ${formatCount(l.tokensPerMinute)} tokens a minute, ${formatCount(l.concurrency)} at once${l.tokensPerDay ? `, ${formatCount(l.tokensPerDay)} tokens a day` : ''}`;
}

/**
 * Asks once which tier Moonshot's console shows, at the first send of someone who has set neither a
 * tier nor a limit. The send does not wait for the answer: until one comes, the defaults apply,
 * lowered to what the server states when it refuses.
 */
export class TierQuestion {
  private asking = false;

  constructor(
    private readonly state: vscode.Memento,
    private readonly notifier: Notifier,
    private readonly tier: () => TierChoice | undefined,
  ) {}

  maybeAsk(): void {
    if (this.asking || this.tier() !== undefined || this.state.get<boolean>(ASKED_KEY)) return;
    const section = vscode.workspace.getConfiguration('kimiBudget');
    if (LIMIT_NAMES.some((name) => section.inspect(`limits.${name}`)?.globalValue !== undefined)) return;
    this.asking = true;
    void this.state.update(ASKED_KEY, true);
    void this.ask().finally(() => (this.asking = false));
  }

  private async ask(): Promise<void> {
    const choose = 'Choose Tier…';
    const learn = "I Don't Know: Learn From Moonshot";
    const answer = await this.notifier.ask(
      'info',
      "Kimi: which tier does Moonshot's console show for your account (Limits page)? With its limits, sends go as fast as the account allows and never get refused. Until you say, the budget uses its defaults and adopts any limit Moonshot states when it refuses a request.",
      {},
      choose,
      learn,
    );
    if (answer === learn) return this.set('learn');
    if (answer !== choose) return;
    const picked = await vscode.window.showQuickPick(
      (Object.keys(TIERS) as TierName[]).map((tier) => ({ label: TIER_LABELS[tier], description: describeTier(tier), tier })),
      { title: "Your account's tier (Moonshot console → Limits)", placeHolder: 'The tier sets every limit you have not set yourself' },
    );
    if (picked) await this.set(picked.tier);
  }

  private async set(tier: TierChoice): Promise<void> {
    await vscode.workspace.getConfiguration('kimiBudget').update('limits.tier', tier, vscode.ConfigurationTarget.Global);
  }
}
