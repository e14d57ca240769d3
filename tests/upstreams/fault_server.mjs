// A misbehaving stdio MCP server for the gateway's fault tests (plain Node, no imports
// beyond node:). Its mode is argv[2]:
//   hang      answers initialize and tools/list, never answers tools/call
//   garbage   answers tools/call with a line that is not JSON-RPC
//   huge      answers tools/call with one 20 MiB line
//   exit      writes to stderr and exits 3 at once
//   family    starts a grandchild (same process group), prints both pids on stderr, serves
//   noisy     writes long stderr lines without end, serves
//   silent    reads stdin and never writes a byte (not even to initialize)
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";

const mode = process.argv[2] ?? "hang";
if (mode === "exit") {
  process.stderr.write("fault_server: exiting at start on purpose\n");
  // What a terminal would act on, or a reader misread, if it were shown raw.
  process.stderr.write("\u202edetaehrevo\x1b[31m red\n");
  process.exit(3);
}
if (mode === "family") {
  const grandchild = spawn(process.execPath, ["-e", "setInterval(() => {}, 1000)"], {
    stdio: "ignore",
  });
  process.stderr.write(`pids ${process.pid} ${grandchild.pid}\n`);
}
if (mode === "noisy") {
  setInterval(() => process.stderr.write("x".repeat(5000) + "\u202e\x1b[31m\n"), 5);
}
if (mode === "silent") {
  process.stdin.resume();
  setInterval(() => {}, 1000);
}
const send = (message) =>
  process.stdout.write(JSON.stringify({ jsonrpc: "2.0", ...message }) + "\n");
createInterface({ input: process.stdin }).on("line", (line) => {
  if (mode === "silent") return;
  const message = JSON.parse(line);
  if (message.id === undefined) return;
  if (message.method === "initialize") {
    return send({
      id: message.id,
      result: {
        protocolVersion: message.params.protocolVersion,
        capabilities: { tools: {} },
        serverInfo: { name: `fault-${mode}`, version: "1.0.0" },
      },
    });
  }
  if (message.method === "tools/list") {
    return send({
      id: message.id,
      result: { tools: [{ name: "poke", inputSchema: { type: "object" } }] },
    });
  }
  if (message.method === "tools/call") {
    if (mode === "garbage") return process.stdout.write("this is not JSON-RPC\n");
    if (mode === "huge") {
      return process.stdout.write(
        `{"jsonrpc":"2.0","id":${message.id},"result":{"x":"${"a".repeat(20 * 1024 * 1024)}"}}\n`,
      );
    }
    if (mode === "hang") return;
    return send({
      id: message.id,
      result: { content: [{ type: "text", text: `poked by ${mode}` }] },
    });
  }
  if (message.method === "ping") return send({ id: message.id, result: {} });
  send({ id: message.id, error: { code: -32601, message: "Method not found" } });
});
