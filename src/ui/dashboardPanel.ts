import { randomBytes } from 'node:crypto';
import * as vscode from 'vscode';
import { parsePageMessage } from '../webview/protocol';
import { DashboardFeed } from './dashboardFeed';
import { DASHBOARD_WORDS } from './words';

/** How often the page is fed while it is visible. */
const UPDATE_MS = 1_000;

/**
 * The budget dashboard: a webview panel made on first use, fed about once a second while it is
 * visible and not at all while hidden. The page is the bundle in dist/webview, under a strict
 * content security policy; it reaches nothing but that folder and this extension.
 */
export class DashboardPanel implements vscode.Disposable {
  private panel: vscode.WebviewPanel | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly root: vscode.Uri;

  constructor(
    extensionUri: vscode.Uri,
    private readonly feed: DashboardFeed,
  ) {
    this.root = vscode.Uri.joinPath(extensionUri, 'dist', 'webview');
  }

  show(): void {
    if (this.panel) return this.panel.reveal();
    const panel = vscode.window.createWebviewPanel('kimiBudget.dashboard', DASHBOARD_WORDS.title, vscode.ViewColumn.Active, {
      enableScripts: true,
      localResourceRoots: [this.root],
    });
    this.panel = panel;
    panel.webview.html = this.html(panel.webview);
    panel.webview.onDidReceiveMessage((raw: unknown) => {
      // Anything but the protocol's messages is dropped; `drawn` is for the measurements (bench/dashboard).
      const message = parsePageMessage(raw);
      if (!message || message.type === 'drawn') return;
      this.feed.reset(message.type === 'range' ? message.range : undefined);
      if (message.type === 'ready') void panel.webview.postMessage(this.feed.init());
      this.post();
    });
    panel.onDidChangeViewState(() => this.follow());
    panel.onDidDispose(() => {
      this.stop();
      this.panel = undefined;
    });
    this.follow();
  }

  dispose(): void {
    this.stop();
    this.panel?.dispose();
  }

  /** Fed while visible, not while hidden (a hidden page is unloaded and says `ready` again when shown). */
  private follow(): void {
    if (this.panel?.visible) this.timer ??= setInterval(() => this.post(), UPDATE_MS);
    else this.stop();
  }

  private stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private post(): void {
    if (this.panel?.visible) void this.panel.webview.postMessage(this.feed.next());
  }

  private html(webview: vscode.Webview): string {
    const nonce = randomBytes(16).toString('base64');
    const script = webview.asWebviewUri(vscode.Uri.joinPath(this.root, 'dashboard.js'));
    const style = webview.asWebviewUri(vscode.Uri.joinPath(this.root, 'dashboard.css'));
    const csp = [
      "default-src 'none'",
      `style-src ${webview.cspSource}`,
      `script-src 'nonce-${nonce}'`,
      `img-src ${webview.cspSource} data:`,
      `font-src ${webview.cspSource}`,
    ].join('; ');
    return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<link rel="stylesheet" href="${style}">
<title>${DASHBOARD_WORDS.title}</title>
</head>
<body>
<main id="dashboard" aria-live="off"></main>
<script nonce="${nonce}" src="${script}"></script>
</body>
</html>`;
  }
}
