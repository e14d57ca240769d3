/**
 * The 2025-era sessions this process holds. The table is bounded: at most
 * {@linkcode MAX_SESSIONS}, none idle past {@linkcode SESSION_IDLE_MS}, and the ids the
 * client ended with DELETE remembered so that a later use of one is answered 404. The
 * opener brings sessions in: opened by the client's `initialize`, or built again from
 * their record in the shared store (sessions.ts) when another process (or this one,
 * before a restart) opened them.
 *
 * @module
 */
import {
  type AuthInfo,
  type McpServer,
  WebStandardStreamableHTTPServerTransport,
} from "@modelcontextprotocol/server";
import type { AnswerRelay, AttachedSession } from "./relay.ts";
import type { ServerInstances } from "./servers.ts";
import {
  MAX_SESSION_ID_LENGTH,
  SESSION_RECORD_TTL_MS,
  type SessionRecord,
  type SessionRecords,
} from "./sessions.ts";
import { replayRequest } from "./wire.ts";

/** Most 2025-era sessions kept at once; the least recently used goes first. */
export const MAX_SESSIONS = 100;
/** A session unused this long is closed, in ms. */
export const SESSION_IDLE_MS = 30 * 60 * 1000;
/** How many session ids ended by DELETE are remembered (and answered 404), newest kept. */
export const MAX_ENDED_SESSIONS = 1000;

/** One session held here. */
export interface Session {
  transport: WebStandardStreamableHTTPServerTransport;
  /** The grant that opened it: only that grant's tokens reach it. */
  grantId: unknown;
  /** The app (client id) whose grant opened it. */
  clientId: string;
  /** Its SDK server (what tells its client a list changed). */
  server: McpServer;
  lastUsed: number;
  /** Its record in the shared store, when there is one. */
  record?: SessionRecord;
  /** Its server-to-client requests and the client's answers. */
  relay?: AttachedSession;
}

/** The grant a token belongs to, as the bearer gate put it in `authInfo.extra`. */
export function grantOf(authInfo: AuthInfo): string | undefined {
  const grantId = authInfo.extra?.grantId;
  return typeof grantId === "string" ? grantId : undefined;
}

/** Adds `id` to an insertion-ordered set, dropping the oldest past `max`. */
export function remember(set: Set<string>, id: string, max: number): void {
  set.add(id);
  if (set.size > max) set.delete(set.values().next().value!);
}

/** The sessions held here. */
export interface SessionTable {
  get(id: string): Session | undefined;
  set(id: string, session: Session): void;
  /** The client ended `id` (DELETE): it is forgotten here and answered 404 from now on. */
  markEnded(id: string): void;
  isEnded(id: string): boolean;
  isIdle(session: Session): boolean;
  /** Closes a session here (its transport, its relay), without marking it ended. */
  close(id: string): Promise<void>;
  /** Drops idle sessions, then the least recently used while at the cap. */
  makeRoom(): Promise<void>;
  /** The ids of the sessions `grantId` opened. */
  idsOf(grantId: string): string[];
  /** Every session id held. */
  ids(): string[];
  /** The sessions one app (client id) holds open. */
  ofClient(clientId: string): Session[];
  /** The grants that hold a session. */
  grants(): string[];
}

/** An empty table; `now` is the clock sessions are aged by. */
export function createSessionTable(now: () => number): SessionTable {
  const sessions = new Map<string, Session>();
  // Ids the client ended with DELETE, oldest first: a later use of one is a client bug
  // worth telling it about (MCP 2025-06-18 streamable HTTP: 404 after termination).
  const ended = new Set<string>();
  const isIdle = (s: Session, t = now()) => t - s.lastUsed > SESSION_IDLE_MS;

  async function close(id: string): Promise<void> {
    const session = sessions.get(id);
    sessions.delete(id);
    session?.relay?.detach();
    await session?.transport.close().catch(() => {});
  }

  async function makeRoom(): Promise<void> {
    const t = now();
    for (const [id, s] of sessions) if (isIdle(s, t)) await close(id);
    while (sessions.size >= MAX_SESSIONS) {
      let oldest: [string, Session] | undefined;
      for (const entry of sessions) {
        if (!oldest || entry[1].lastUsed < oldest[1].lastUsed) oldest = entry;
      }
      await close(oldest![0]);
    }
  }

  return {
    get: (id) => sessions.get(id),
    set: (id, session) => void sessions.set(id, session),
    markEnded(id) {
      sessions.delete(id);
      remember(ended, id, MAX_ENDED_SESSIONS);
    },
    isEnded: (id) => ended.has(id),
    isIdle: (session) => isIdle(session),
    close,
    makeRoom,
    idsOf: (grantId) => [...sessions].filter(([, s]) => s.grantId === grantId).map(([id]) => id),
    ids: () => [...sessions.keys()],
    ofClient: (clientId) => [...sessions.values()].filter((s) => s.clientId === clientId),
    grants() {
      const grants = new Set<string>();
      for (const s of sessions.values()) if (typeof s.grantId === "string") grants.add(s.grantId);
      return [...grants];
    },
  };
}

/** Most session ids remembered as absent from the shared store (not looked up again). */
const MAX_ABSENT_SESSIONS = 1000;

/** What sessions are opened with. */
export interface SessionOpenerDeps {
  table: SessionTable;
  servers: ServerInstances;
  relay: AnswerRelay;
  /** The shared store's session records; absent when sessions live in this process only. */
  records?: SessionRecords;
  onError: (error: unknown) => void;
  now: () => number;
}

/** Opens, restores and keeps sessions. */
export interface SessionOpener {
  /** Opens a session for the client's `initialize` (parsed) and answers it. */
  open(request: Request, parsedBody: unknown, authInfo: AuthInfo): Promise<Response>;
  /** The session `id` built again from its record, or undefined when there is none. */
  restore(id: string, authInfo: AuthInfo): Promise<Session | undefined>;
  /** Writes a session's record again once half its lifetime has passed. */
  keepRecord(id: string, session: Session): void;
}

/** Builds the opener of one endpoint. */
export function createSessionOpener(deps: SessionOpenerDeps): SessionOpener {
  const { table, records, onError, now } = deps;
  // Ids with no record in the shared store, oldest first: not looked up again. A
  // record is written before its id reaches the client, so absent stays absent.
  const absent = new Set<string>();
  // Sessions being built again from their records, by grant and id.
  const restoring = new Map<string, Promise<Session | undefined>>();
  const newSession = (authInfo: AuthInfo, initialize: unknown, id?: string) =>
    createSession(deps, authInfo, initialize, id);

  /**
   * The SDK (2.4) offers no way to mark a transport as already initialized
   * (modelcontextprotocol/typescript-sdk#1658, #1882), so the client's own `initialize`
   * and `notifications/initialized` are handed to a fresh transport and server, which
   * take the session id, protocol version, capabilities and client info from them as
   * they did the first time.
   */
  async function rebuild(grant: string, id: string, authInfo: AuthInfo) {
    const record = await records!.load(grant, id);
    if (!record) {
      remember(absent, id, MAX_ABSENT_SESSIONS);
      return undefined;
    }
    const session = await newSession(authInfo, record.initialize, id);
    session.record = record;
    const initialize = { jsonrpc: "2.0", id: 0, method: "initialize", params: record.initialize };
    const answer = await session.transport.handleRequest(
      replayRequest(),
      { authInfo, parsedBody: initialize },
    );
    await answer.text();
    if (table.get(id) !== session) {
      // The SDK refused the record (it no longer supports the version): no session.
      session.relay?.detach();
      await session.transport.close().catch(() => {});
      remember(absent, id, MAX_ABSENT_SESSIONS);
      return undefined;
    }
    const initialized = await session.transport.handleRequest(
      replayRequest(id),
      { authInfo, parsedBody: { jsonrpc: "2.0", method: "notifications/initialized" } },
    );
    await initialized.body?.cancel();
    return session;
  }

  return {
    async open(request, parsedBody, authInfo) {
      const session = await newSession(authInfo, (parsedBody as { params?: unknown }).params);
      const answer = await session.transport.handleRequest(request, { authInfo, parsedBody });
      // Refused before it took an id (a wrong media type, say): nothing was opened, and
      // its server must not stay among the live ones.
      if (session.transport.sessionId === undefined) {
        await session.transport.close().catch(() => {});
      }
      return answer;
    },
    restore(id, authInfo) {
      const grant = grantOf(authInfo);
      if (!records || grant === undefined || id.length > MAX_SESSION_ID_LENGTH || absent.has(id)) {
        return Promise.resolve(undefined);
      }
      const key = `${grant} ${id}`;
      let pending = restoring.get(key);
      if (!pending) {
        pending = rebuild(grant, id, authInfo).catch((error) => {
          onError(error);
          return undefined;
        }).finally(() => restoring.delete(key));
        restoring.set(key, pending);
      }
      return pending;
    },
    keepRecord(id, session) {
      const grant = typeof session.grantId === "string" ? session.grantId : undefined;
      if (!records || !session.record || grant === undefined) return;
      if (now() - session.record.writtenAt < SESSION_RECORD_TTL_MS / 2) return;
      const record: SessionRecord = session.record;
      session.record = { ...record, writtenAt: now() };
      records.touch(grant, id, record).catch(onError);
    },
  };
}

/**
 * A session transport and its SDK server. `id` is the id of a session built again
 * from its record (undefined: a new session, whose record is written before the
 * client learns its id).
 */
async function createSession(
  deps: SessionOpenerDeps,
  authInfo: AuthInfo,
  initialize: unknown,
  id?: string,
): Promise<Session> {
  const { table, relay, records, onError } = deps;
  await table.makeRoom();
  const grantId = authInfo.extra?.grantId;
  const grant = grantOf(authInfo);
  const session: Session = {
    transport: new WebStandardStreamableHTTPServerTransport({
      sessionIdGenerator: id === undefined ? () => crypto.randomUUID() : () => id,
      onsessioninitialized: async (sid) => {
        table.set(sid, session);
        session.relay = relay.attach(sid, records ? grant : undefined, session.transport);
        if (id !== undefined || !records || grant === undefined) return;
        // Written before the answer carries the id, so every process can find it.
        session.record = await records.save(grant, sid, initialize).catch((error) => {
          onError(error);
          return undefined;
        });
      },
      onsessionclosed: (sid) => {
        table.markEnded(sid);
        session.relay?.detach();
        if (records && grant !== undefined) records.end(grant, sid).catch(onError);
      },
    }),
    grantId,
    clientId: authInfo.clientId,
    server: deps.servers.forSession(),
    lastUsed: deps.now(),
  };
  await session.server.connect(session.transport);
  return session;
}
