/// <reference lib="dom" />
/**
 * A minimal MCP Apps host, bundled for the browser by tests/e2e/notes_board_browser_test.ts:
 * the SDK client talks to the server (through the test's host backend, which holds the
 * access token, as a real host's backend does), and the `ext-apps` AppBridge runs the
 * tool's app in a sandboxed frame, relaying its tool calls to the server.
 */
import { Client, StreamableHTTPClientTransport } from "@modelcontextprotocol/client";
import { AppBridge, PostMessageTransport } from "@modelcontextprotocol/ext-apps/app-bridge";

const state: Record<string, unknown> = { phase: "starting" };
(globalThis as unknown as { hostState: typeof state }).hostState = state;

async function main(toolName: string) {
  const client = new Client({ name: "apps test host", version: "1.0.0" });
  await client.connect(new StreamableHTTPClientTransport(new URL("/mcp", location.href)));
  const listed = (await client.listTools()).tools.find((t) => t.name === toolName);
  const uri = (listed?._meta?.ui as { resourceUri?: string } | undefined)?.resourceUri;
  if (!uri) throw new Error(`${toolName} names no app`);
  const read = await client.readResource({ uri });
  const contents = read.contents[0] as { mimeType?: string; text?: string };
  state.mimeType = contents.mimeType;

  const frame = document.createElement("iframe");
  // As hosts do: scripts may run, nothing else (no same origin: no cookies, no storage).
  frame.setAttribute("sandbox", "allow-scripts allow-forms");
  frame.style.cssText = "width: 640px; height: 420px; border: 1px solid #ccc";
  document.body.append(frame);
  const bridge = new AppBridge(
    client,
    { name: "apps test host", version: "1.0.0" },
    { openLinks: {}, serverTools: {}, logging: {} },
  );
  bridge.oninitialized = async () => {
    state.phase = "initialized";
    await bridge.sendToolInput({ arguments: {} });
    await bridge.sendToolResult(await client.callTool({ name: toolName, arguments: {} }));
    state.phase = "shown";
  };
  bridge.onsizechange = ({ height }) => {
    if (height) frame.style.height = `${Math.min(Math.max(height, 120), 800)}px`;
  };
  // The bridge listens before the app's document loads, so its first message is heard.
  await bridge.connect(new PostMessageTransport(frame.contentWindow!, frame.contentWindow!));
  frame.srcdoc = contents.text ?? "";
}

main(new URL(location.href).searchParams.get("tool") ?? "").catch((error) => {
  state.phase = "failed";
  state.error = String(error?.stack ?? error);
});
