// The part of playwright-core 1.64's API the harness uses, so its JavaScript type-checks before
// ./install.js has put playwright-core (with its own types) into .vscode-test/code-server.

export const chromium: BrowserType;

export interface BrowserType {
  launchPersistentContext(
    userDataDir: string,
    options?: {
      executablePath?: string;
      headless?: boolean;
      args?: string[];
      viewport?: { width: number; height: number } | null;
      timeout?: number;
      env?: NodeJS.ProcessEnv;
      handleSIGINT?: boolean;
      handleSIGTERM?: boolean;
      handleSIGHUP?: boolean;
    },
  ): Promise<BrowserContext>;
}

export interface BrowserContext {
  pages(): Page[];
  newPage(): Promise<Page>;
  close(): Promise<void>;
}

export interface Page {
  keyboard: Keyboard;
  goto(url: string, options?: { waitUntil?: 'load' | 'domcontentloaded' | 'networkidle' | 'commit'; timeout?: number }): Promise<unknown>;
  reload(): Promise<unknown>;
  /** Runs `script` in the page before its own scripts, on every load from now on. */
  addInitScript(script: () => void): Promise<void>;
  /** Runs `pageFunction` inside the page and returns what it returns. */
  evaluate<R>(pageFunction: () => R | Promise<R>): Promise<R>;
  evaluate<R, A>(pageFunction: (arg: A) => R | Promise<R>, arg: A): Promise<R>;
  waitForSelector(selector: string, options?: { timeout?: number }): Promise<unknown>;
  locator(selector: string, options?: { hasText?: string | RegExp }): Locator;
  /** Runs `pageFunction` inside the page on every element matching `selector`. */
  $$eval<R>(selector: string, pageFunction: (elements: PageElement[]) => R): Promise<R>;
  exposeFunction(name: string, callback: (...args: never[]) => unknown): Promise<unknown>;
  screenshot(options?: { path?: string }): Promise<Buffer>;
  /** The page's frames, nested ones (a webview's) included. */
  frames(): Frame[];
  on(event: 'console', listener: (message: ConsoleMessage) => void): this;
  on(event: 'pageerror', listener: (error: Error) => void): this;
  on(event: 'crash', listener: (page: Page) => void): this;
  close(): Promise<void>;
}

/** A frame of the page; its functions run inside it, on its own DOM (untyped here: the harness has no DOM types). */
export interface Frame {
  url(): string;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  $eval<R>(selector: string, pageFunction: (element: any) => R): Promise<R>;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  $eval<R, A>(selector: string, pageFunction: (element: any, arg: A) => R | Promise<R>, arg: A): Promise<R>;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  $$eval<R>(selector: string, pageFunction: (elements: any[]) => R): Promise<R>;
  click(selector: string): Promise<void>;
}

/** What the harness reads of a DOM element inside the page (the harness has no DOM types of its own). */
export interface PageElement {
  getAttribute(name: string): string | null;
  querySelector(selectors: string): PageElement | null;
}

export interface Keyboard {
  press(key: string): Promise<void>;
  type(text: string): Promise<void>;
}

export interface Locator {
  first(): Locator;
  locator(selector: string, options?: { hasText?: string | RegExp }): Locator;
  getByRole(role: string, options?: { name?: string | RegExp }): Locator;
  count(): Promise<number>;
  innerText(options?: { timeout?: number }): Promise<string>;
  inputValue(): Promise<string>;
  click(): Promise<void>;
  fill(value: string): Promise<void>;
  waitFor(options?: { state?: 'attached' | 'detached' | 'visible' | 'hidden'; timeout?: number }): Promise<void>;
  screenshot(options?: { path?: string }): Promise<Buffer>;
}

export interface ConsoleMessage {
  type(): string;
  text(): string;
}
