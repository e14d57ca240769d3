/**
 * What the authorization server stores (its keys: store/keys.ts). store/README.md's storage
 * schema table documents the same; keep the two in step.
 *
 * Times are epoch milliseconds. No record holds a raw token, code or secret: they are
 * keyed by base64url(SHA-256(value)).
 *
 * @module
 */

/**
 * How a client authenticates at /token and /revoke. `private_key_jwt` is for
 * metadata-document clients only: their document names the keys.
 *
 * @see {@link https://www.rfc-editor.org/rfc/rfc7591#section-2 | RFC 7591 2}
 * @see {@link https://www.rfc-editor.org/rfc/rfc7523#section-2.2 | RFC 7523 2.2}
 */
export type ClientAuthMethod =
  | "none"
  | "client_secret_post"
  | "client_secret_basic"
  | "private_key_jwt";

/**
 * The signature algorithms a client assertion may use.
 *
 * @see {@link https://www.rfc-editor.org/rfc/rfc7518#section-3.1 | RFC 7518 3.1}
 */
export type AssertionAlg = "RS256" | "ES256";

/** A client registered through RFC 7591 Dynamic Client Registration. */
export interface ClientRecord {
  clientId: string;
  /** Hash of the client secret; absent for public clients (`none`). */
  secretHash?: string;
  /**
   * What /token and /revoke require: `private_key_jwt` means a signed assertion and
   * nothing else; `none` accepts a client with no credential (and an assertion, when
   * the client has `jwksUri`, which must then verify).
   */
  authMethod: ClientAuthMethod;
  /** Metadata-document clients offering `private_key_jwt`: where their public keys are. */
  jwksUri?: string;
  /** The algorithms their assertions may be signed with. */
  assertionAlgs?: AssertionAlg[];
  redirectUris: string[];
  grantTypes: string[];
  clientName?: string;
  clientUri?: string;
  scope?: string;
  /**
   * The registration metadata as answered (without the secret), for RFC 7591 3.2.1.
   *
   * @see {@link https://www.rfc-editor.org/rfc/rfc7591#section-3.2.1 | RFC 7591 3.2.1}
   */
  metadata: Record<string, unknown>;
  createdAt: number;
  /** Set at the first token issued: clients never used are dropped first. */
  usedAt?: number;
}

/** An authorization code, between the consent page and /token (single use). */
export interface CodeRecord {
  clientId: string;
  redirectUri: string;
  /**
   * Whether `redirect_uri` was sent to /authorize, so /token must repeat it.
   *
   * @see {@link https://www.rfc-editor.org/rfc/rfc6749#section-4.1.3 | RFC 6749 4.1.3}
   */
  redirectUriSent: boolean;
  codeChallenge: string;
  resource: string;
  scope: string;
  grantId: string;
  expiresAt: number;
  /**
   * Set when the code is redeemed; a second redemption revokes the grant.
   *
   * @see {@link https://www.rfc-editor.org/rfc/rfc6749#section-4.1.2 | RFC 6749 4.1.2}
   */
  usedAt?: number;
}

/** One refresh token of a grant. */
export interface RefreshSlot {
  hash: string;
  /** The token this one was issued for; it dies once this one is used. */
  parent?: string;
  /** First use: from then on it may be used again only within the grace period. */
  rotatedAt?: number;
  expiresAt: number;
  /** The access token issued together with it; it dies with the slot. */
  accessHash: string;
  /**
   * Access tokens minted for late copies of this token after it was rotated (another
   * process still holding it, within the reuse window); they die with the slot.
   */
  lateAccessHashes?: string[];
}

/** What the owner approved for one client: the root of its tokens. */
export interface GrantRecord {
  grantId: string;
  clientId: string;
  scope: string;
  resource: string;
  createdAt: number;
  /** Live refresh tokens (normally one; briefly more while a refresh races). */
  refresh: RefreshSlot[];
  /** The name the client gave (not vouched for), as of its last code exchange or refresh. */
  clientName?: string;
  /** Where the authorization code of this grant was sent. */
  redirectUri?: string;
  /** Last code exchange, refresh or `/mcp` use (the latter at most once a minute). */
  lastUsedAt?: number;
  /** The address of that use. */
  lastAddress?: string;
}

/** An access token, as the bearer check needs it. */
export interface AccessRecord {
  grantId: string;
  clientId: string;
  /** The name the client gave, for tools that want to know who calls. */
  clientName?: string;
  scope: string;
  resource: string;
  expiresAt: number;
}

/** A client assertion's `jti`, kept until the assertion expires so that it is used once. */
export interface AssertionJtiRecord {
  clientId: string;
  expiresAt: number;
}

/** A signed-in owner page: keyed by the hash of its cookie. */
export interface OwnerSessionRecord {
  createdAt: number;
  expiresAt: number;
  /** The address that signed in. */
  address: string;
}

/** One enrolled passkey (a WebAuthn credential of the owner). */
export interface PasskeyRecord {
  /** Short random id: what the owner page and `passkey remove` name it by. */
  id: string;
  /** The credential id the authenticator gave (base64url, W3C WebAuthn 5.1). */
  credentialId: string;
  /** The credential public key, COSE-encoded as the authenticator gave it (base64url). */
  publicKey: string;
  /** The last signature counter seen (W3C WebAuthn 6.1.1); 0 for most synced passkeys. */
  counter: number;
  /** How the browser can reach the authenticator (usb, internal, hybrid...). */
  transports?: string[];
  /** The owner's label, e.g. "Laptop". */
  name: string;
  /** Whether the authenticator says the credential is backed up (synced). */
  backedUp: boolean;
  createdAt: number;
  /** The address that enrolled it. */
  createdFrom: string;
  /** Last approval or sign-in with it. */
  lastUsedAt?: number;
  /** The address of that use. */
  lastAddress?: string;
}

/**
 * The owner's passkeys, in one record so that the rules that span them and the
 * password ("some way to approve always remains") are kept by one transaction.
 */
export interface PasskeysRecord {
  /** The WebAuthn user handle of the owner (base64url, 16 random bytes). */
  userId: string;
  passkeys: PasskeyRecord[];
}

/** A one-time passkey enrolment link, keyed by the hash of its token. */
export interface PasskeyLinkRecord {
  /** The label `passkey add --name` gave, shown (and editable) on the page. */
  name?: string;
  createdAt: number;
  expiresAt: number;
}

/** A WebAuthn challenge that was answered once; kept until its page expires (single use). */
export interface PasskeyChallengeRecord {
  usedAt: number;
  expiresAt: number;
}

/** Points a refresh token back at its grant; outlives the slot so reuse is caught. */
export interface RefreshIndex {
  grantId: string;
}

/**
 * The last good Client ID Metadata Document of a URL the owner approved, kept so the
 * client keeps working while the document's host cannot be reached.
 */
export interface ClientMetadataCopy {
  /** The document as the publisher served it (parsed JSON; at most 16 KiB as text). */
  document: unknown;
  /** When it was fetched. */
  fetchedAt: number;
}
