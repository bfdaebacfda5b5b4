import * as vscode from 'vscode';
import { BudgetSummary } from './budgetSummary';

/**
 * The status bar item that shows this minute's budget. It re-renders when told, when the next
 * spent unit comes back, and every second while something waits (so the ETA counts down).
 */
export class BudgetStatusItem implements vscode.Disposable {
  private readonly item = vscode.window.createStatusBarItem('kimiBudget.budget', vscode.StatusBarAlignment.Right, 100);
  private timer: NodeJS.Timeout | undefined;
  private shownLabel = '';

  constructor(private readonly compute: () => BudgetSummary) {
    this.item.name = 'Kimi Budget';
    this.item.command = 'kimiBudget.showQueue';
    this.refresh();
  }

  show(): void {
    this.refresh();
    this.item.show();
  }

  refresh(): void {
    clearTimeout(this.timer);
    const summary = this.compute();
    this.item.text = summary.text;
    this.item.accessibilityInformation = { label: summary.label, role: 'button' };
    this.shownLabel = summary.label;
    const tooltip = new vscode.MarkdownString(summary.tooltip);
    tooltip.supportThemeIcons = true;
    // The one link it may follow is the dashboard's: text from elsewhere in the tooltip is escaped.
    tooltip.isTrusted = { enabledCommands: ['kimiBudget.showDashboard'] };
    this.item.tooltip = tooltip;
    this.item.backgroundColor =
      summary.pressure === 'normal' ? undefined : new vscode.ThemeColor(`statusBarItem.${summary.pressure}Background`);
    if (summary.refreshInMs !== undefined) this.timer = setTimeout(() => this.refresh(), Math.max(50, summary.refreshInMs));
  }

  get label(): string {
    return this.shownLabel;
  }

  dispose(): void {
    clearTimeout(this.timer);
    this.item.dispose();
  }
}
