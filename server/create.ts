/**
 * `createPersonalMcp()`: the whole server as one `(Request) => Promise<Response>`. It
 * composes the services once (store with its token index, clients, grants, owner,
 * limits, signer, events, clock) and hands each endpoint the ones it uses. It never
 * touches a socket, so tests and Deno Deploy call `fetch` directly.
 *
 * @module
 */
import { createBearerGate } from "../auth/bearer.ts";
import { createMetadataResolver } from "../auth/client_metadata.ts";
import { createClients } from "../auth/clients.ts";
import { createAuthorizeEndpoint } from "../auth/endpoints/authorize.ts";
import {
  authorizationServerMetadata,
  protectedResourceMetadata,
} from "../auth/endpoints/metadata.ts";
import { createRegisterEndpoint } from "../auth/endpoints/register.ts";
import { createRevokeEndpoint } from "../auth/endpoints/revoke.ts";
import { createTokenEndpoint } from "../auth/endpoints/token.ts";
import { createGrants } from "../auth/grants.ts";
import {
  CONCURRENT_VERIFICATIONS,
  createConcurrencyLimit,
  createLoginThrottle,
  createRateLimiter,
  REGISTRATIONS_PER_MINUTE,
} from "../auth/limits.ts";
import { createPasswordOwner } from "../auth/owner.ts";
import { createSigner } from "../auth/signer.ts";
import { withAccessIndex } from "../auth/token_index.ts";
import { createMemoryStore } from "../store/memory.ts";
import type { Store } from "../store/store.ts";
import { createMcpEndpoint } from "../transport/mcp.ts";
import { type Tools, validateTools } from "../transport/tools.ts";
import { type PersonalMcpEvent, type PersonalMcpOptions, resolveOptions } from "./options.ts";
import { type ConnectionInfo, createRoutes } from "./routes.ts";

export type { ConnectionInfo };

/** A personal MCP server as a fetch handler. */
export interface PersonalMcp {
  /** Answers one HTTP request. */
  fetch(request: Request, info?: ConnectionInfo): Promise<Response>;
  /** The validated base URL (issuer). */
  readonly baseUrl: string;
  /** The store in use (writes through it keep the server's token index in step). */
  readonly store: Store;
  /** Ends in-flight MCP exchanges and closes the store. */
  close(): Promise<void>;
}

/**
 * Creates the server: authorization server, consent page and MCP endpoint behind one
 * fetch handler. Options are validated here, once.
 *
 * @example Calling the server without a socket
 * ```ts
 * import { createPersonalMcp, tool } from "../mod.ts";
 * import { z } from "zod";
 *
 * const app = createPersonalMcp({
 *   hello: tool({ description: "Say hello", input: { name: z.string() }, run: ({ name }) => `Hello, ${name}!` }),
 * }, { baseUrl: "http://127.0.0.1:8787", password: "correct horse battery" });
 * const res = await app.fetch(new Request("http://127.0.0.1:8787/.well-known/oauth-authorization-server"));
 * const meta = await res.json();
 * if (meta.issuer !== "http://127.0.0.1:8787") throw new Error("wrong issuer");
 * await app.close();
 * ```
 */
export function createPersonalMcp(tools: Tools, options: PersonalMcpOptions): PersonalMcp {
  const opts = resolveOptions(options);
  const checkedTools = validateTools(tools);
  const now = () => Date.now();
  const emit = (event: PersonalMcpEvent) => {
    try {
      options.onEvent?.(event);
    } catch { /* a broken hook must not break a request */ }
  };

  // Services, composed once.
  const store = withAccessIndex(
    options.store === undefined || options.store === "memory" ? createMemoryStore() : options.store,
    now,
  );
  const grants = createGrants(
    store,
    (grantId, reason) => emit({ type: "grant_revoked", grantId, reason }),
  );
  const clients = createClients({
    store,
    metadata: createMetadataResolver({
      allowInsecureLoopback: opts.insecureClientMetadata,
      allowlist: opts.allowedRedirects,
      now,
    }),
    onRefused: (clientId, reason) =>
      emit({
        type: "warning",
        message: `client metadata document ${clientId.slice(0, 200)} refused: ${reason}`,
      }),
  });
  const owner = createPasswordOwner(store, options.password);
  const mcp = createMcpEndpoint(checkedTools, {
    name: opts.name,
    version: opts.version,
    instructions: opts.instructions,
    configureServer: options.configureServer,
    bodyTimeoutSeconds: opts.mcpBodyTimeoutSeconds,
    onError: (error) => emit({ type: "mcp_rejected", error }),
  });

  const fetch = createRoutes(opts, {
    protectedResourceJson: JSON.stringify(protectedResourceMetadata(opts)),
    authorizationServerJson: JSON.stringify(authorizationServerMetadata(opts)),
    register: createRegisterEndpoint({
      opts,
      store,
      registrations: createRateLimiter(REGISTRATIONS_PER_MINUTE, 60_000, now),
      now,
    }),
    token: createTokenEndpoint({ opts, store, clients, grants, now, emit }),
    revoke: createRevokeEndpoint({ maxBodyBytes: opts.maxBodyBytes, store, clients, grants }),
    authorize: createAuthorizeEndpoint({
      opts,
      store,
      clients,
      owner,
      throttle: createLoginThrottle(now),
      verifications: createConcurrencyLimit(CONCURRENT_VERIFICATIONS),
      signer: createSigner(store),
      now,
      emit,
    }),
    gate: createBearerGate(opts, store),
    mcp,
  }, emit);

  return {
    baseUrl: opts.baseUrl,
    store,
    fetch,
    async close() {
      await mcp.close();
      await store.close();
    },
  };
}
