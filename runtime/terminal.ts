/**
 * The owner commands' terminal: the process's standard streams, its environment, and a
 * prompt that does not echo a password.
 *
 * @module
 */
import process from "node:process";
import type { CommandIo } from "./commands/command.ts";

/** Asks on the terminal; without echo when `hidden` (raw mode). */
function askOnTerminal(question: string, hidden: boolean): Promise<string> {
  const stdin = process.stdin;
  process.stderr.write(question);
  if (hidden) stdin.setRawMode?.(true);
  stdin.resume();
  return new Promise((resolve, reject) => {
    let text = "";
    const done = () => {
      stdin.off("data", onData);
      if (hidden) {
        stdin.setRawMode?.(false);
        process.stderr.write("\n");
      }
      stdin.pause();
    };
    const onData = (chunk: unknown) => {
      for (const ch of String(chunk)) {
        if (ch === "\r" || ch === "\n") {
          done();
          return resolve(text);
        }
        if (ch === "\u0003" || ch === "\u0004") {
          done();
          return reject(new Error("cancelled; nothing was changed"));
        }
        if (ch === "\u007f" || ch === "\b") text = text.slice(0, -1);
        else text += ch;
      }
    };
    stdin.on("data", onData);
  });
}

/** The process's own standard streams and environment. */
export function processIo(): CommandIo {
  return {
    env: process.env,
    stdout: (text) => void process.stdout.write(text),
    stderr: (text) => void process.stderr.write(text),
    stdinIsTerminal: process.stdin.isTTY === true,
    async readStdin() {
      let text = "";
      for await (const chunk of process.stdin) text += String(chunk);
      return text;
    },
    ask: askOnTerminal,
  };
}
