/**
 * The one keyspace: every key any layer writes to the store, so that the storage schema
 * (store/README.md, held to this file by tests/unit/store_keys_test.ts) has one source.
 *
 * @module
 */
import type { Key } from "./store.ts";

/** Every storage key the server writes, built in one place. */
export const keys = {
  client: (clientId: string): Key => ["client", clientId],
  clients: ["client"] as Key,
  clientMetadata: (url: string): Key => ["client_metadata", url],
  clientMetadataCopies: ["client_metadata"] as Key,
  code: (hash: string): Key => ["code", hash],
  grant: (grantId: string): Key => ["grant", grantId],
  grants: ["grant"] as Key,
  access: (hash: string): Key => ["access", hash],
  refresh: (hash: string): Key => ["refresh", hash],
  /** Keyed by H(clientId + " " + jti): a jti is unique per issuer (RFC 7519 4.1.7). */
  assertionJti: (hash: string): Key => ["jti", hash],
  ownerPassword: ["owner", "password"] as Key,
  ownerSession: (hash: string): Key => ["owner", "session", hash],
  ownerSessions: ["owner", "session"] as Key,
  ownerPasskeys: ["owner", "passkeys"] as Key,
  passkeyLink: (hash: string): Key => ["passkey_link", hash],
  passkeyChallenge: (hash: string): Key => ["passkey_challenge", hash],
  activity: ["activity"] as Key,
  activitySlot: (slot: number): Key => ["activity", String(slot)],
  /** The id of the newest revocation-log entry: what other processes watch. */
  revocationNotice: ["server", "revocation-notice"] as Key,
  /** `[..., entryId]`: the keys one write deleted (access tokens, grants, MCP sessions). */
  revocationLog: ["server", "revocation-log"] as Key,
  /** `[..., name, subject]`: a rate-limit count shared by the processes on one store. */
  limit: (name: string, subject: string): Key => ["limit", name, subject],
  signingKey: ["server", "signing-key"] as Key,
  /** A 2025-era session's record, when the store is shared: `[..., grantId, sessionId]`. */
  mcpSession: (grantId: string, sessionId: string): Key => ["mcp_session", grantId, sessionId],
  mcpSessionsOf: (grantId: string): Key => ["mcp_session", grantId],
  mcpSessions: ["mcp_session"] as Key,
  /** The owner's tool decisions for one app (client id). */
  toolPolicy: (clientId: string): Key => ["tool_policy", clientId],
  toolPolicies: ["tool_policy"] as Key,
  /** Which app's tool policies changed last: what other processes watch. */
  toolPolicyNotice: ["server", "tool-policy-notice"] as Key,
  /** One tool call's audit record, by an id that sorts by time. */
  auditRecord: (id: string): Key => ["audit", id],
  audit: ["audit"] as Key,
  /** A tool call held for the owner's confirmation (random id). */
  confirmation: (id: string): Key => ["confirmation", id],
  confirmations: ["confirmation"] as Key,
  /** A client's answer on its way to the process that asked for it. */
  mcpAnswer: (sessionId: string, id: string): Key => ["mcp_answer", sessionId, id],
} as const;
