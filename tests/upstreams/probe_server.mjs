// A small stdio MCP server (plain Node, JSON-RPC by hand) that shows what the gateway
// relays in the direction real servers rarely exercise on demand. Tools:
//   wait {ms?}     answers after `ms`, or never; a cancellation is appended to $PROBE_FILE
//   log            sends a log message (notifications/message), then answers
//   ask {ms?}      after `ms`, asks its client for sampling and answers with what came back
//                  (or with the JSON-RPC error it got, as an isError result)
//   ask-cancel {ms?}  asks for sampling, cancels its request after `ms` (200), then answers
//   log-later {ms?}   answers, then after `ms` (100) sends a log message tied to no call
import { appendFileSync } from "node:fs";
import { createInterface } from "node:readline";

const send = (message) =>
  process.stdout.write(JSON.stringify({ jsonrpc: "2.0", ...message }) + "\n");
const text = (id, value, isError = false) =>
  send({
    id,
    result: { content: [{ type: "text", text: value }], ...(isError ? { isError } : {}) },
  });
const asked = new Map();
let next = 0;

// $PROBE_EXTRA_TOOL adds a tool of that name (one a gateway may have to refuse).
const NAMES = [
  "wait",
  "log",
  "ask",
  "ask-cancel",
  "log-later",
  ...(process.env.PROBE_EXTRA_TOOL ? [process.env.PROBE_EXTRA_TOOL] : []),
];
const TOOLS = NAMES.map((name) => ({
  name,
  description: `probe: ${name}`,
  inputSchema: { type: "object", properties: { ms: { type: "number" } } },
}));

createInterface({ input: process.stdin }).on("line", (line) => {
  const message = JSON.parse(line);
  if (message.method === "notifications/cancelled") {
    if (process.env.PROBE_FILE) {
      appendFileSync(process.env.PROBE_FILE, `cancelled ${message.params.requestId}\n`);
    }
    return;
  }
  if (message.id !== undefined && message.method === undefined) {
    // The client's answer to one of our requests.
    const waiting = asked.get(message.id);
    asked.delete(message.id);
    if (!waiting) return;
    if (message.error) return text(waiting, `refused: ${message.error.message}`, true);
    return text(waiting, `sampled: ${message.result.content.text}`);
  }
  if (message.id === undefined) return;
  const { id, method, params } = message;
  if (method === "initialize") {
    return send({
      id,
      result: {
        protocolVersion: params.protocolVersion,
        capabilities: { tools: {}, logging: {} },
        serverInfo: { name: "probe", version: "1.0.0" },
      },
    });
  }
  if (method === "tools/list") return send({ id, result: { tools: TOOLS } });
  if (method === "ping") return send({ id, result: {} });
  if (method !== "tools/call") {
    return send({ id, error: { code: -32601, message: "Method not found" } });
  }
  const ms = params.arguments?.ms;
  if (params.name === "wait") {
    if (typeof ms === "number") setTimeout(() => text(id, "waited"), ms);
    return;
  }
  if (params.name === "log") {
    send({
      method: "notifications/message",
      params: { level: "info", logger: "probe", data: "from upstream" },
    });
    return text(id, "logged");
  }
  if (params.name === "ask") {
    return setTimeout(() => {
      const ask = `ask-${next++}`;
      asked.set(ask, id);
      send({
        id: ask,
        method: "sampling/createMessage",
        params: {
          messages: [{ role: "user", content: { type: "text", text: "hi" } }],
          maxTokens: 5,
        },
      });
    }, typeof ms === "number" ? ms : 0);
  }
  if (params.name === "log-later") {
    text(id, "will log");
    return setTimeout(() =>
      send({
        method: "notifications/message",
        params: { level: "warning", logger: "probe", data: { note: "later \u202e" } },
      }), typeof ms === "number" ? ms : 100);
  }
  if (params.name === "ask-cancel") {
    const ask = `ask-${next++}`;
    send({
      id: ask,
      method: "sampling/createMessage",
      params: { messages: [{ role: "user", content: { type: "text", text: "hi" } }], maxTokens: 5 },
    });
    return setTimeout(() => {
      send({
        method: "notifications/cancelled",
        params: { requestId: ask, reason: "no longer needed" },
      });
      text(id, "cancelled asking");
    }, typeof ms === "number" ? ms : 200);
  }
  send({ id, error: { code: -32602, message: `Unknown tool: ${params.name}` } });
});
