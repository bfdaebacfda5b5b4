import * as vscode from 'vscode';
import { SendQueue } from '../core/sendQueue';
import { BudgetSummary } from './budgetSummary';
import { duration, formatCount } from './words';
import { Notifier } from './notifier';

/** "Kimi: Show Send Queue": the budget in the title, one line per send in queue order; picking one cancels it. */
export async function showQueue(
  queue: SendQueue<unknown>,
  summary: () => BudgetSummary,
  notifier: Notifier,
  /** Whose sends share the line: other windows here, or the team's (through Redis). */
  others = 'your other windows',
): Promise<void> {
  const entries = queue.entries();
  const now = Date.now();
  type Item = vscode.QuickPickItem & { id?: number };
  const items: Item[] = entries.map((e) => ({
    id: e.id,
    label: `${e.state === 'running' ? '$(sync~spin)' : '$(clock)'} ${e.label}`,
    description: `${formatCount(e.tokens)} tokens`,
    detail:
      e.state === 'running'
        ? `Running${e.attempt > 1 ? ` (attempt ${e.attempt})` : ''} — pick to stop it; its budget stays spent`
        : `${e.eta === undefined ? 'Waits for a running send to finish' : `Goes out in ${duration(e.eta - now)}`}${
            e.ahead ? `, after ${e.ahead} send${e.ahead === 1 ? '' : 's'} of ${others}` : ''
          } — pick to cancel it; it has spent nothing`,
  }));
  if (!items.length) items.push({ label: '$(check) Nothing is waiting', detail: summary().label });
  const picked = await vscode.window.showQuickPick(items, {
    title: `Kimi send queue — ${summary().label}`,
    placeHolder: 'Pick a send to cancel it',
    matchOnDetail: true,
  });
  if (picked?.id === undefined) return;
  if (!queue.cancel(picked.id)) {
    notifier.notify('info', 'Kimi: that send had already finished.');
  }
}
