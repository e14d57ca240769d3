/**
 * The shapes shared by the gateway's rooms: one live upstream ({@linkcode Upstream}),
 * what it reports ({@linkcode UpstreamStatus}), and the process a stdio upstream runs in
 * ({@linkcode StdioProcess}), which the runtime's spawner provides so that this folder
 * never touches a process itself.
 *
 * @module
 */
import type { Client, ClientCapabilities } from "@modelcontextprotocol/client";
import type { PersonalMcpEvent, UpstreamState, UpstreamStatus } from "../../core/config.ts";

export type { UpstreamState, UpstreamStatus };
import type { StdioTarget, UpstreamConfig } from "./config.ts";

/** One live upstream, reconnected with backoff after it exits or breaks. */
export interface Upstream {
  /** Its name in the configuration. */
  readonly name: string;
  /** Its validated configuration. */
  readonly config: UpstreamConfig;
  /** Where it stands now. */
  status(): UpstreamStatus;
  /**
   * The connected SDK client while running; otherwise throws an
   * {@linkcode UpstreamUnavailableError} naming the server and its state.
   */
  client(): Client;
  /** Resolves when a connection is up; rejects after `timeoutMs` or when stopped. */
  ready(): Promise<void>;
  /** Calls `listener` on every change of state (and tool count); returns the unsubscribe. */
  onStateChange(listener: (status: UpstreamStatus) => void): () => void;
  /** Closes the connection and stops its process group; no restart follows. */
  stop(): Promise<void>;
}

/** What an upstream is built with. */
export interface UpstreamDeps {
  /** Starts a stdio upstream's process; absent (Deno Deploy) means stdio is refused. */
  spawn?: StdioSpawner;
  /** Called on every new Client before it connects: the relay installs its handlers here. */
  setupClient?: (client: Client, upstream: Upstream) => void;
  /** The capabilities declared to upstreams (sampling, elicitation, roots). */
  clientCapabilities?: ClientCapabilities;
  /** Where state changes and stderr lines are reported. */
  onEvent?: (event: PersonalMcpEvent) => void;
  /** The clock, in milliseconds. */
  now?: () => number;
  /** Backoff bounds, in milliseconds. @default { initialMs: 500, maxMs: 30_000, healthyMs: 60_000 } */
  backoff?: { initialMs: number; maxMs: number; healthyMs: number };
}

/** How a stdio upstream's process ended. */
export interface StdioExit {
  /** Its exit code, when it exited. */
  code: number | null;
  /** The signal that ended it, when one did. */
  signal: string | null;
  /** Why it could not be started (e.g. `spawn npx ENOENT`). */
  error?: string;
}

/** A running stdio upstream's process (its whole process group). */
export interface StdioProcess {
  /** Its process id, once started. */
  readonly pid?: number;
  /** Settles when the process has ended (never rejects). */
  readonly exit: Promise<StdioExit>;
  /** Receives stdout as it comes. */
  onStdout(listener: (chunk: Uint8Array) => void): void;
  /** Receives each stderr line (raw, at most `maxLineBytes`). */
  onStderr(listener: (line: string) => void): void;
  /** Writes to its stdin; rejects once stdin is closed. */
  write(data: string): Promise<void>;
  /** The last stderr lines kept (raw, bounded in number and bytes). */
  stderr(): string[];
  /**
   * Ends the whole process group: SIGTERM, then SIGKILL after `graceMs`; resolves
   * when the process has exited.
   */
  stop(graceMs?: number): Promise<void>;
}

/** Starts a stdio upstream's process. Throws only on a bad argument, never on a missing program. */
export type StdioSpawner = (target: StdioTarget) => StdioProcess;

/**
 * A request to an upstream that is not running, or whose connection broke, or which
 * did not answer in time. Its message names the server and its state.
 */
export class UpstreamUnavailableError extends Error {
  /**
   * @param server the upstream's name
   * @param state where it stands
   * @param detail why, when known (raw; the message is shown escaped)
   */
  constructor(readonly server: string, readonly state: UpstreamState, detail?: string) {
    super(
      `upstream server ${JSON.stringify(server)} is ${state}${detail ? `: ${detail}` : ""}`,
    );
    this.name = "UpstreamUnavailableError";
  }
}
