/**
 * The one helper module of the tests: every test imports its fixtures from here, and
 * each lives in a focused module of `fixtures/`.
 *
 * - In process (`in_process.ts`, `oauth.ts`, `pages.ts`, `mcp.ts`): a server on a
 *   memory store the test can inspect, and the steps of the OAuth flow (register,
 *   consent, tokens, MCP call) as `app.fetch(new Request(...))`.
 * - Over sockets (`runtimes.ts`, `over_http.ts`, `sockets.ts`, `browser.ts`): real
 *   server processes under Deno and Bun, the owner's browser as a form submitter or a
 *   headless Chromium, the raw OAuth requests a client sends (`...At(baseUrl, ...)`), an
 *   OAuth client provider for the official MCP SDK client (`mcp.ts`), and child processes
 *   (Node CLIs) with bounded waits that are always stopped by their PID (`processes.ts`).
 * - Passkeys without a browser (`passkeys.ts`).
 */
export * from "./fixtures/processes.ts";
export * from "./fixtures/runtimes.ts";
export * from "./fixtures/sockets.ts";
export * from "./fixtures/browser.ts";
export * from "./fixtures/in_process.ts";
export * from "./fixtures/oauth.ts";
export * from "./fixtures/pages.ts";
export * from "./fixtures/mcp.ts";
export * from "./fixtures/over_http.ts";
export * from "./fixtures/passkeys.ts";
