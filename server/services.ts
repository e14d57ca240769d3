/**
 * The services `createPersonalMcp()` composes once, each a named step that takes only
 * what it uses: clients (registered and metadata documents), the owner's services, and
 * the endpoints the routes serve.
 *
 * @module
 */
import type { ActivityLog } from "../auth/owner/activity.ts";
import { createBearerGate } from "../auth/grants/bearer.ts";
import { createAssertionVerifier } from "../auth/clients/assertion.ts";
import {
  createMetadataResolver,
  type DocumentFailure,
  type DocumentSource,
  failureLine,
  printable,
} from "../auth/clients/metadata.ts";
import { type Clients, createClients } from "../auth/clients/registry.ts";
import { createAuthorizeEndpoint } from "../auth/endpoints/authorize.ts";
import {
  authorizationServerMetadata,
  protectedResourceMetadata,
} from "../auth/endpoints/metadata.ts";
import { createRegisterEndpoint } from "../auth/endpoints/register.ts";
import { createRevokeEndpoint } from "../auth/endpoints/revoke.ts";
import { createTokenEndpoint } from "../auth/endpoints/token.ts";
import { createOwnerEndpoint } from "../auth/endpoints/owner.ts";
import { createPasskeyEndpoint } from "../auth/endpoints/passkey.ts";
import type { Counters } from "../auth/limits/counters.ts";
import type { Grants } from "../auth/grants/grants.ts";
import {
  CONCURRENT_VERIFICATIONS,
  createConcurrencyLimit,
  createLoginThrottle,
  createRateLimiter,
  REGISTRATIONS_PER_MINUTE,
} from "../auth/limits/throttle.ts";
import { createPasswordOwner, type OwnerCheck } from "../auth/owner/password.ts";
import { createOwnerProof, type OwnerProof } from "../auth/owner/proof.ts";
import { createOwnerControls, type OwnerControls } from "../auth/owner/controls.ts";
import { createPasskeys, type Passkeys } from "../auth/owner/passkeys.ts";
import { createSigner, type Signer } from "../auth/owner/signer.ts";
import { keys } from "../store/keys.ts";
import type { withAccessIndex } from "../auth/grants/token_index.ts";
import { createUsageRecorder } from "../auth/grants/usage.ts";
import type { Store } from "../store/store.ts";
import type { McpEndpoint } from "../transport/mcp/endpoint.ts";
import type { ToolServices } from "./tool_services.ts";
import { createConfirmEndpoint } from "../auth/endpoints/confirm.ts";
import { quoteForLog } from "../core/log.ts";
import type { PersonalMcpOptions } from "./options.ts";
import type { PersonalMcpEvent, ResolvedOptions, UpstreamStatus } from "../core/config.ts";
import { PATHS } from "../core/paths.ts";
import type { Endpoints } from "./routes.ts";

type Emit = (event: PersonalMcpEvent) => void;
type IndexedStore = ReturnType<typeof withAccessIndex>;

/** Registered clients, client metadata documents (when enabled) and client assertions. */
export function clientsService(
  opts: ResolvedOptions,
  store: Store,
  now: () => number,
  emit: Emit,
): Clients {
  return createClients({
    store,
    metadata: opts.clientMetadataDocuments
      ? createMetadataResolver({
        allowInsecureLoopback: opts.insecureClientMetadata,
        allowlist: opts.allowedRedirects,
        now,
        store,
        copyTtlMs: opts.refreshTokenTtlSeconds * 1000,
        onFailure: (clientId, failure, fallback) =>
          emit(metadataFailed(clientId, failure, fallback)),
        onError: (error) => emit({ type: "error", where: "client metadata copy", error }),
      })
      : undefined,
    assertions: createAssertionVerifier({
      // RFC 7523 3: the audience identifies this server, by issuer or token endpoint.
      audiences: [opts.issuer, `${opts.baseUrl}/token`],
      allowInsecureLoopback: opts.insecureClientMetadata,
      store,
      now,
    }),
    onAssertionRefused: (clientId, reason) =>
      emit({
        type: "warning",
        message: `client assertion for ${quoteForLog(clientId.slice(0, 200))} refused: ${
          quoteForLog(reason)
        }`,
      }),
  });
}

/** The event of a client metadata document that could not be fetched, and what served instead. */
function metadataFailed(
  clientId: string,
  failure: DocumentFailure,
  fallback: DocumentSource | undefined,
): PersonalMcpEvent {
  return {
    type: "client_metadata_failed",
    clientId: printable(clientId),
    failure: failure.kind === "refused" ? "final" : "transport",
    reason: failure.reason,
    status: failure.status,
    cfMitigated: failure.cfMitigated,
    cfRay: failure.cfRay,
    fallback: fallback?.kind === "stored"
      ? "stored_copy"
      : fallback?.kind === "builtin"
      ? "builtin_copy"
      : "none",
    message: failureLine(clientId, failure, fallback?.kind === "publisher" ? undefined : fallback),
  };
}

/** The owner's services: who they are (password, passkeys), their controls, their proof. */
export interface OwnerServices {
  check: OwnerCheck;
  passkeys: Passkeys;
  controls: OwnerControls;
  signer: Signer;
  proof: OwnerProof;
}

export function ownerServices(deps: {
  opts: ResolvedOptions;
  options: PersonalMcpOptions;
  store: Store;
  grants: Grants;
  activity: ActivityLog;
  counters: Counters;
  now: () => number;
  emit: Emit;
  servers: () => UpstreamStatus[];
}): OwnerServices {
  const { opts, options, store, grants, activity, counters, now, emit } = deps;
  const check = createPasswordOwner(store, options.password);
  const passkeys = createPasskeys({ store, baseUrl: opts.baseUrl, serverName: opts.name, now });
  const controls = createOwnerControls({
    store,
    grants,
    activity,
    emit,
    now,
    passwordFromOptions: options.password !== undefined,
    passkeys,
    baseUrl: opts.baseUrl,
    servers: deps.servers,
  });
  const signer = createSigner(store);
  // One proof, under one throttle, for every place the owner proves who they are
  // (consent and owner page, password or passkey). The throttle counts through the
  // shared store when other processes share it, so N instances allow what one allows.
  const proof = createOwnerProof({
    owner: check,
    passkeys,
    throttle: createLoginThrottle(now, counters),
    verifications: createConcurrencyLimit(CONCURRENT_VERIFICATIONS),
    signer,
    secureCookie: opts.baseUrl.startsWith("https:"),
    now,
    emit,
  });
  return { check, passkeys, controls, signer, proof };
}

/** The endpoints, each handed the services it uses; the discovery documents built once. */
export function endpointsOf(services: {
  opts: ResolvedOptions;
  store: IndexedStore;
  counters: Counters;
  clients: Clients;
  grants: Grants;
  owner: OwnerServices;
  mcp: McpEndpoint;
  tooling: ToolServices;
  now: () => number;
  emit: Emit;
}): Endpoints {
  const { opts, store, counters, clients, grants, owner, mcp, tooling, now, emit } = services;
  const { check, passkeys, controls, signer, proof } = owner;
  const usage = createUsageRecorder(store, now);
  const registrations = createRateLimiter(
    REGISTRATIONS_PER_MINUTE,
    60_000,
    now,
    counters,
    "register",
  );
  return {
    protectedResourceJson: JSON.stringify(protectedResourceMetadata(opts)),
    rootResourceJson: JSON.stringify(protectedResourceMetadata(opts, opts.baseUrl)),
    authorizationServerJson: JSON.stringify(authorizationServerMetadata(opts)),
    register: createRegisterEndpoint({ opts, store, registrations, grants, now, emit }),
    token: createTokenEndpoint({ opts, store, clients, grants, now, emit }),
    revoke: createRevokeEndpoint({ maxBodyBytes: opts.maxBodyBytes, store, clients, grants }),
    authorize: createAuthorizeEndpoint({
      opts,
      store,
      clients,
      owner: check,
      proof,
      permissions: tooling.permissions,
      passkeys,
      signer,
      now,
      emit,
    }),
    owner: createOwnerEndpoint({
      opts,
      store,
      owner: check,
      controls,
      proof,
      permissions: tooling.permissions,
      held: tooling.confirmations,
      audit: tooling.audit,
      passkeys,
      signer,
      now,
      emit,
    }),
    passkey: createPasskeyEndpoint({ opts, passkeys, signer, now, emit }),
    confirm: createConfirmEndpoint({
      opts,
      passkeys,
      signer,
      now,
      emit,
      owner: check,
      proof,
      held: tooling.confirmations,
    }),
    gate: createBearerGate(opts, store, {
      refused: (reason, clientAddress, clientId) =>
        emit({ type: "request_refused", path: PATHS.mcp, reason, clientAddress, clientId }),
      used: usage.used,
    }),
    mcp,
    healthy: async () => {
      await store.get(keys.signingKey);
      return true;
    },
  };
}
