/**
 * The owner's controls as an API (`app.owner`): who has access, and taking it back.
 * The owner page, the owner commands and anyone embedding the module use the same
 * functions, so a revocation always goes through the grants service (and so through
 * the token index) whichever way it was asked for.
 *
 * @module
 */
import type { PersonalMcpEvent, UpstreamStatus } from "../../core/config.ts";
import type { Store } from "../../store/store.ts";
import {
  type ActivityEntry,
  type ActivityLog,
  createActivityLog,
  isAuthEvent,
} from "./activity.ts";
import { isMetadataClientId } from "../clients/registry.ts";
import { hashPassword } from "../../core/crypto.ts";
import { createGrants, type Grants } from "../grants/grants.ts";
import {
  createPasskeys,
  passkeyRpId,
  type Passkeys,
  type PasskeySummary,
  type RemovalResult,
  removeOwnerPassword,
} from "./passkeys.ts";
import type { ClientRecord, GrantRecord } from "../records.ts";
import { keys } from "../../store/keys.ts";
import { withAccessIndex } from "../grants/token_index.ts";
import { PATHS } from "../../core/paths.ts";

/** One connected app: a grant, as the owner sees it. */
export interface GrantSummary {
  /** The grant id: what `revokeGrant` takes. */
  id: string;
  /** A registered client id, or a metadata-document URL. */
  clientId: string;
  /** The name the client gave itself (nobody vouches for it). */
  clientName?: string;
  /** For metadata-document clients: the host that publishes the document. */
  clientIdHost?: string;
  /** Whether the client was registered here (and so can be forgotten). */
  registered: boolean;
  /** Where its authorization code was sent. */
  redirectUri?: string;
  /** The scopes granted. */
  scopes: string[];
  /** When the owner approved it (epoch ms). */
  createdAt: number;
  /** Last code exchange, refresh or `/mcp` call (epoch ms; `/mcp` at minute precision). */
  lastUsedAt?: number;
  /** The address of that use. */
  lastAddress?: string;
  /** Whether it still holds a refresh token that has not expired. */
  liveTokens: boolean;
}

/** One registered client (RFC 7591). */
export interface ClientSummary {
  /** The id this server issued at registration. */
  clientId: string;
  /** The name the client gave itself (nobody vouches for it). */
  clientName?: string;
  /** Where its codes may be sent. */
  redirectUris: string[];
  /** When it registered (epoch ms). */
  createdAt: number;
  /** When it first obtained a token. */
  usedAt?: number;
  /** How many grants it holds. */
  grants: number;
}

/** What the owner can see and do. Every action takes `by`: who asked, for the activity log. */
export interface OwnerControls {
  /** The connected apps, most recently used first. */
  listGrants(): Promise<GrantSummary[]>;
  /** Disconnects one app: its tokens fail on their next request. False when unknown. */
  revokeGrant(id: string, by?: string): Promise<boolean>;
  /** The registered clients, newest first. */
  listClients(): Promise<ClientSummary[]>;
  /** Forgets a registered client and revokes its grants. False when not registered. */
  forgetClient(id: string, by?: string): Promise<boolean>;
  /** Disconnects every app; returns how many grants were revoked. */
  revokeAll(by?: string): Promise<number>;
  /** The activity log, newest first. */
  recentEvents(limit?: number): Promise<ActivityEntry[]>;
  /**
   * The upstream MCP servers as they stand (empty where none runs); names, errors and
   * stderr are raw: escape them where a person reads them.
   */
  listServers(): UpstreamStatus[];
  /**
   * Replaces the stored owner password (only its PBKDF2 hash is kept) and signs out
   * every owner page. A server created with `password` keeps using that one.
   */
  setPassword(password: string): Promise<void>;
  /** Whether the server's password comes from its options (so `setPassword` does not apply). */
  readonly passwordFromOptions: boolean;
  /** The enrolled passkeys, oldest first. */
  listPasskeys(): Promise<PasskeySummary[]>;
  /**
   * Removes a passkey: `"unknown"` when there is none with that id, `"last"` (nothing
   * changed) when it is the only passkey and no password is kept, since nobody could
   * approve any more.
   */
  removePasskey(id: string, by?: string): Promise<RemovalResult>;
  /**
   * Mints a one-time enrolment link, `<baseUrl>/owner/passkey?token=...`, valid 15
   * minutes for one passkey; only the token's hash is kept. Throws when the base URL is
   * unknown or its host is an IP address (WebAuthn needs a host name).
   */
  createPasskeyLink(name?: string, by?: string): Promise<{ url: string; expiresAt: number }>;
  /**
   * Removes the stored owner password, so that only a passkey approves, and signs out
   * every owner page. False (nothing changed) when no passkey is enrolled.
   */
  removePassword(by?: string): Promise<boolean>;
}

/** What the owner controls are built from. */
export interface OwnerControlsDeps {
  store: Store;
  grants: Grants;
  activity: ActivityLog;
  emit: (event: PersonalMcpEvent) => void;
  now: () => number;
  passwordFromOptions?: boolean;
  /** The owner's passkeys. */
  passkeys: Passkeys;
  /** The server's base URL, for enrolment links; unknown to a command without --base-url. */
  baseUrl?: string;
  /** The upstream MCP servers as they stand; none for a command working on the store. */
  servers?: () => UpstreamStatus[];
}

function summarize(grant: GrantRecord, client: ClientRecord | undefined, t: number): GrantSummary {
  const metadata = isMetadataClientId(grant.clientId);
  let clientIdHost: string | undefined;
  if (metadata) {
    try {
      clientIdHost = new URL(grant.clientId).host;
    } catch { /* not a URL after all */ }
  }
  const clientName = grant.clientName ?? client?.clientName;
  const redirectUri = grant.redirectUri ??
    (client?.redirectUris.length === 1 ? client.redirectUris[0] : undefined);
  return {
    id: grant.grantId,
    clientId: grant.clientId,
    ...(clientName !== undefined ? { clientName } : {}),
    ...(clientIdHost !== undefined ? { clientIdHost } : {}),
    registered: !metadata,
    ...(redirectUri !== undefined ? { redirectUri } : {}),
    scopes: grant.scope.split(" ").filter(Boolean),
    createdAt: grant.createdAt,
    ...(grant.lastUsedAt !== undefined ? { lastUsedAt: grant.lastUsedAt } : {}),
    ...(grant.lastAddress !== undefined ? { lastAddress: grant.lastAddress } : {}),
    liveTokens: grant.refresh.some((slot) => slot.expiresAt > t),
  };
}

/**
 * Builds the owner controls.
 *
 * @example Disconnecting every app of one client
 * ```ts
 * import { createPersonalMcp } from "../../mod.ts";
 *
 * const app = createPersonalMcp({}, { baseUrl: "http://127.0.0.1:8787", password: "correct horse battery" });
 * for (const grant of await app.owner.listGrants()) {
 *   if (grant.clientName === "Old laptop") await app.owner.revokeGrant(grant.id);
 * }
 * await app.close();
 * ```
 */
export function createOwnerControls(deps: OwnerControlsDeps): OwnerControls {
  const { store, grants, now } = deps;

  async function clientsById(): Promise<Map<string, ClientRecord>> {
    const clients = await store.list<ClientRecord>(keys.clients);
    return new Map(clients.map(({ value }) => [value.clientId, value]));
  }

  async function listGrants(): Promise<GrantSummary[]> {
    const [stored, clients] = await Promise.all([
      store.list<GrantRecord>(keys.grants),
      clientsById(),
    ]);
    const t = now();
    return stored
      .map(({ value }) => summarize(value, clients.get(value.clientId), t))
      .sort((a, b) => (b.lastUsedAt ?? b.createdAt) - (a.lastUsedAt ?? a.createdAt));
  }

  return {
    listGrants,
    async revokeGrant(id, by) {
      return await grants.revoke(id, "disconnected by the owner", by);
    },
    async listClients() {
      const [clients, stored] = await Promise.all([
        store.list<ClientRecord>(keys.clients),
        store.list<GrantRecord>(keys.grants),
      ]);
      const counts = new Map<string, number>();
      for (const { value } of stored) {
        counts.set(value.clientId, (counts.get(value.clientId) ?? 0) + 1);
      }
      return clients.map(({ value }): ClientSummary => ({
        clientId: value.clientId,
        ...(value.clientName !== undefined ? { clientName: value.clientName } : {}),
        redirectUris: [...value.redirectUris],
        createdAt: value.createdAt,
        ...(value.usedAt !== undefined ? { usedAt: value.usedAt } : {}),
        grants: counts.get(value.clientId) ?? 0,
      })).sort((a, b) => b.createdAt - a.createdAt);
    },
    async forgetClient(id, by) {
      if (isMetadataClientId(id)) return false;
      const existed = await store.transact(
        [keys.client(id)],
        ([value]) =>
          value === undefined
            ? { ops: [], result: false }
            : { ops: [{ op: "delete", key: keys.client(id) }], result: true },
      );
      // The client is gone first, so a code exchange racing with this cannot add a
      // grant after the list below (the token endpoint re-reads the client atomically).
      for (const { value } of await store.list<GrantRecord>(keys.grants)) {
        if (value.clientId === id) {
          await grants.revoke(value.grantId, "app forgotten by the owner", by);
        }
      }
      if (existed) deps.emit({ type: "client_forgotten", clientId: id, clientAddress: by });
      return existed;
    },
    async revokeAll(by) {
      let count = 0;
      for (const { value } of await store.list<GrantRecord>(keys.grants)) {
        if (await grants.revoke(value.grantId, "everything disconnected by the owner", by)) count++;
      }
      return count;
    },
    listServers() {
      return deps.servers?.() ?? [];
    },
    recentEvents(limit) {
      return deps.activity.recent(limit);
    },
    async setPassword(password) {
      if (typeof password !== "string" || password.length < 8) {
        throw new RangeError("the owner password must have at least 8 characters");
      }
      const hash = await hashPassword(password);
      const sessions = await store.list(keys.ownerSessions);
      await store.write([
        { op: "set", key: keys.ownerPassword, value: hash },
        ...sessions.map(({ key }) => ({ op: "delete" as const, key })),
      ]);
    },
    passwordFromOptions: deps.passwordFromOptions ?? false,
    listPasskeys() {
      return deps.passkeys.list();
    },
    async removePasskey(id, by) {
      const result = await deps.passkeys.remove(id);
      if (result === "removed") {
        deps.emit({ type: "passkey_removed", passkeyId: id, clientAddress: by });
      }
      return result;
    },
    async createPasskeyLink(name, by) {
      const { baseUrl } = deps;
      if (!baseUrl) {
        throw new TypeError("the base URL is unknown: give --base-url (the server's public URL)");
      }
      if (!passkeyRpId(baseUrl)) {
        throw new RangeError(
          `passkeys need a host name, and ${
            new URL(baseUrl).hostname
          } is an IP address (WebAuthn refuses those): use http://localhost:<port> on this machine, or the server's https name`,
        );
      }
      const { token, expiresAt } = await deps.passkeys.mintLink(name);
      deps.emit({ type: "passkey_link_created", clientAddress: by });
      return { url: `${baseUrl}${PATHS.passkey}?token=${token}`, expiresAt };
    },
    async removePassword(by) {
      const removed = await removeOwnerPassword(store);
      if (removed) deps.emit({ type: "owner_password_removed", clientAddress: by });
      return removed;
    },
  };
}

/**
 * The owner controls on a store, without a server: what the owner commands use when
 * no server holds the state. Revocations go through the token index's change notice,
 * so a server sharing the store (Deno KV) applies them within a second, and they are
 * written to the shared activity log. `close` writes the log and closes the store.
 *
 * @example Listing grants of a stopped server's state
 * ```ts
 * import { createMemoryStore } from "../../store/memory.ts";
 * import { ownerControlsOn } from "./controls.ts";
 * const { controls, close } = ownerControlsOn(createMemoryStore());
 * if ((await controls.listGrants()).length !== 0) throw new Error("a fresh store has no grants");
 * await close();
 * ```
 */
export function ownerControlsOn(
  raw: Store,
  options: {
    now?: () => number;
    onEvent?: (event: PersonalMcpEvent) => void;
    /** The server's base URL, for enrolment links. */
    baseUrl?: string;
  } = {},
): { controls: OwnerControls; close(): Promise<void> } {
  const now = options.now ?? Date.now;
  const store = withAccessIndex(raw, now);
  const activity = createActivityLog(store, now);
  const emit = (event: PersonalMcpEvent) => {
    if (isAuthEvent(event)) activity.record(event);
    options.onEvent?.(event);
  };
  const grants = createGrants(
    store,
    (grantId, reason, clientId, address) =>
      emit({ type: "grant_revoked", grantId, reason, clientId, clientAddress: address }),
  );
  return {
    controls: createOwnerControls({
      store,
      grants,
      activity,
      emit,
      now,
      passkeys: createPasskeys({ store, baseUrl: options.baseUrl, now }),
      baseUrl: options.baseUrl,
    }),
    async close() {
      await activity.flush();
      await store.close();
    },
  };
}
