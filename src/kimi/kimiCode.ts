/**
 * Kimi Code (api.kimi.com/coding) is Moonshot's subscription for coding agents, not its API
 * platform: its keys (`sk-kimi-…`) work only there, it serves only the coding agents it lists (it
 * reads the User-Agent; a client that pretends to be one has had its account terminated), and its
 * quota — a 5-hour window and a week, or a billing cycle — is not the platform's per-minute budget
 * this extension keeps. So a send for it is refused before anything leaves, with what to use instead.
 */
export function kimiCodeProblem(baseUrl: string, key: string): string | undefined {
  let host: string;
  try {
    host = new URL(baseUrl).hostname.toLowerCase();
  } catch {
    return undefined;
  }
  if (host === 'api.kimi.com' || host.endsWith('.kimi.com'))
    return `The base URL ${baseUrl} is Kimi Code, Moonshot's subscription for coding agents: it serves only the agents it lists (Kimi CLI, Claude Code, Roo Code, Kilo Code…), and its quota (a 5-hour window and a week) is not the API platform's budget this extension keeps. Nothing was sent. Set kimiBudget.baseUrl to https://api.moonshot.ai/v1 (or https://api.moonshot.cn/v1) with a key from the Moonshot platform console.`;
  if (key.startsWith('sk-kimi-'))
    return `The API key is a Kimi Code key (sk-kimi-…), which works only with Kimi Code, not with the Moonshot API platform at ${baseUrl}. Nothing was sent. Create a key in the Moonshot platform console and set it (Kimi: Set API Key).`;
  return undefined;
}
