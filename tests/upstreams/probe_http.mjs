// A small streamable-HTTP MCP server (plain Node, JSON answers, no session) whose one tool,
// `headers`, answers with the Authorization and X-Lab headers of the request that called
// it: what the gateway sends upstream, seen from the upstream. Listens on $PORT (127.0.0.1).
import { createServer } from "node:http";

const TOOL = {
  name: "headers",
  description: "probe: request headers",
  inputSchema: { type: "object" },
};

createServer((req, res) => {
  if (req.method !== "POST") {
    res.writeHead(405).end();
    return;
  }
  let body = "";
  req.on("data", (chunk) => (body += chunk));
  req.on("end", () => {
    const message = JSON.parse(body);
    if (message.id === undefined) {
      res.writeHead(202).end();
      return;
    }
    const answer = (result) => {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ jsonrpc: "2.0", id: message.id, result }));
    };
    if (message.method === "initialize") {
      return answer({
        protocolVersion: message.params.protocolVersion,
        capabilities: { tools: {} },
        serverInfo: { name: "probe-http", version: "1.0.0" },
      });
    }
    if (message.method === "tools/list") return answer({ tools: [TOOL] });
    if (message.method === "tools/call") {
      const seen = {
        authorization: req.headers.authorization ?? null,
        lab: req.headers["x-lab"] ?? null,
      };
      return answer({ content: [{ type: "text", text: JSON.stringify(seen) }] });
    }
    res.writeHead(200, { "content-type": "application/json" });
    res.end(
      JSON.stringify({
        jsonrpc: "2.0",
        id: message.id,
        error: { code: -32601, message: "Method not found" },
      }),
    );
  });
}).listen(Number(process.env.PORT), "127.0.0.1");
