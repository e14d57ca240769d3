/**
 * oauth4webapi, a strict client that validates every document and response to the
 * letter, against a real server process under Deno and under Bun: RFC 9728 and RFC 8414
 * discovery, RFC 7591 registration, PKCE, RFC 9207 `iss` on the authorization response,
 * the code grant, refresh rotation and RFC 7009 revocation; once as a public client
 * (`none`) and once as a confidential one (`client_secret_basic`).
 */
import assert from "node:assert/strict";
import * as oauth from "oauth4webapi";
import { callHelloAt, PASSWORD, RUNTIMES, submitConsent, withServer } from "../fixtures.ts";

// Loopback only: plain http is expected here.
const INSECURE = { [oauth.allowInsecureRequests]: true } as const;
const REDIRECT_URI = "http://127.0.0.1:49152/callback";

const CLIENT_KINDS = [
  { method: "none", auth: (_: oauth.Client) => oauth.None() },
  {
    method: "client_secret_basic",
    auth: (client: oauth.Client) => oauth.ClientSecretBasic(client.client_secret as string),
  },
] as const;

for (const runtime of RUNTIMES) {
  Deno.test(`oauth4webapi completes the whole flow strictly under ${runtime}`, async (t) => {
    await withServer(runtime, async (server) => {
      const issuer = new URL(server.baseUrl);
      const mcpUrl = new URL(`${server.baseUrl}/mcp`);
      let as!: oauth.AuthorizationServer;

      await t.step("RFC 9728 resource metadata names /mcp and this issuer", async () => {
        const res = await oauth.resourceDiscoveryRequest(mcpUrl, INSECURE);
        const rs = await oauth.processResourceDiscoveryResponse(mcpUrl, res);
        assert.equal(rs.resource, mcpUrl.href);
        assert.deepEqual(rs.authorization_servers, [server.baseUrl]);
      });

      await t.step(
        "RFC 9728 3.3: the root document names the origin, as its URL says",
        async () => {
          // A strict client fetching the root document for the origin must find the origin
          // in it (oauth4webapi throws on any other resource), and may ask tokens for it:
          // /authorize and /token take the origin to mean /mcp.
          const res = await oauth.resourceDiscoveryRequest(issuer, INSECURE);
          const rs = await oauth.processResourceDiscoveryResponse(issuer, res);
          assert.equal(new URL(rs.resource).href, issuer.href);
          assert.deepEqual(rs.authorization_servers, [server.baseUrl]);
        },
      );

      await t.step("RFC 8414 discovery passes processDiscoveryResponse", async () => {
        const res = await oauth.discoveryRequest(issuer, { algorithm: "oauth2", ...INSECURE });
        as = await oauth.processDiscoveryResponse(issuer, res);
        assert.equal(as.issuer, server.baseUrl);
        assert.deepEqual(as.code_challenge_methods_supported, ["S256"]);
        assert.equal(as.authorization_response_iss_parameter_supported, true);
        assert.ok(as.registration_endpoint && as.revocation_endpoint);
      });

      for (const kind of CLIENT_KINDS) {
        await t.step(
          `a ${kind.method} client registers, authorizes, refreshes and revokes`,
          async (t) => {
            let client!: oauth.Client;
            await t.step("dynamic registration answers the metadata asked for", async () => {
              const res = await oauth.dynamicClientRegistrationRequest(as, {
                client_name: `oauth4webapi ${kind.method}`,
                redirect_uris: [REDIRECT_URI],
                grant_types: ["authorization_code", "refresh_token"],
                response_types: ["code"],
                token_endpoint_auth_method: kind.method,
              }, INSECURE);
              client = await oauth.processDynamicClientRegistrationResponse(res);
              assert.equal(client.token_endpoint_auth_method, kind.method);
              assert.equal(typeof client.client_secret === "string", kind.method !== "none");
            });
            const clientAuth = kind.auth(client);

            const verifier = oauth.generateRandomCodeVerifier();
            const state = oauth.generateRandomState();
            const authorize = new URL(as.authorization_endpoint!);
            authorize.search = new URLSearchParams({
              response_type: "code",
              client_id: client.client_id,
              redirect_uri: REDIRECT_URI,
              code_challenge: await oauth.calculatePKCECodeChallenge(verifier),
              code_challenge_method: "S256",
              scope: "mcp offline_access",
              state,
              resource: mcpUrl.href,
            }).toString();

            let callback!: URLSearchParams;
            await t.step(
              "the authorization response passes validateAuthResponse (iss, state)",
              async () => {
                const consent = await submitConsent(authorize, PASSWORD);
                assert.ok(consent.location, consent.body);
                callback = oauth.validateAuthResponse(
                  as,
                  client,
                  new URL(consent.location!),
                  state,
                );
                assert.ok(callback.get("code"));
              },
            );

            let tokens!: oauth.TokenEndpointResponse;
            await t.step("the code grant passes processAuthorizationCodeResponse", async () => {
              const res = await oauth.authorizationCodeGrantRequest(
                as,
                client,
                clientAuth,
                callback,
                REDIRECT_URI,
                verifier,
                { additionalParameters: { resource: mcpUrl.href }, ...INSECURE },
              );
              tokens = await oauth.processAuthorizationCodeResponse(as, client, res);
              assert.equal(tokens.token_type, "bearer");
              assert.ok(tokens.refresh_token);
              assert.ok(typeof tokens.expires_in === "number" && tokens.expires_in > 0);
              assert.equal(tokens.scope, "mcp offline_access");
              const hello = await callHelloAt(mcpUrl.href, tokens.access_token, "oauth4webapi");
              assert.equal(hello.text, "Hello, oauth4webapi!");
            });

            await t.step(
              "a replayed code is refused and revokes the tokens it issued",
              async () => {
                const res = await oauth.authorizationCodeGrantRequest(
                  as,
                  client,
                  clientAuth,
                  callback,
                  REDIRECT_URI,
                  verifier,
                  INSECURE,
                );
                await assert.rejects(
                  oauth.processAuthorizationCodeResponse(as, client, res),
                  (e: unknown) =>
                    e instanceof oauth.ResponseBodyError && e.error === "invalid_grant",
                );
                // RFC 6749 4.1.2: the replay also revokes what the code had issued.
                const hello = await callHelloAt(mcpUrl.href, tokens.access_token, "replayed");
                assert.equal(hello.status, 401);
              },
            );

            let rotated!: oauth.TokenEndpointResponse;
            await t.step("refresh passes processRefreshTokenResponse and rotates", async () => {
              // The replayed code above revoked that grant (RFC 6749 4.1.2), so start a
              // fresh one for the refresh and revocation checks.
              const verifier2 = oauth.generateRandomCodeVerifier();
              const state2 = oauth.generateRandomState();
              authorize.searchParams.set(
                "code_challenge",
                await oauth.calculatePKCECodeChallenge(verifier2),
              );
              authorize.searchParams.set("state", state2);
              const consent = await submitConsent(authorize, PASSWORD);
              const params = oauth.validateAuthResponse(
                as,
                client,
                new URL(consent.location!),
                state2,
              );
              const first = await oauth.processAuthorizationCodeResponse(
                as,
                client,
                await oauth.authorizationCodeGrantRequest(
                  as,
                  client,
                  clientAuth,
                  params,
                  REDIRECT_URI,
                  verifier2,
                  INSECURE,
                ),
              );
              const res = await oauth.refreshTokenGrantRequest(
                as,
                client,
                clientAuth,
                first.refresh_token!,
                INSECURE,
              );
              rotated = await oauth.processRefreshTokenResponse(as, client, res);
              assert.ok(rotated.refresh_token);
              assert.notEqual(rotated.refresh_token, first.refresh_token);
              assert.notEqual(rotated.access_token, first.access_token);
              const hello = await callHelloAt(mcpUrl.href, rotated.access_token, "rotated");
              assert.equal(hello.text, "Hello, rotated!");
            });

            await t.step(
              "revocation passes processRevocationResponse and ends the grant",
              async () => {
                const res = await oauth.revocationRequest(
                  as,
                  client,
                  clientAuth,
                  rotated.refresh_token!,
                  { additionalParameters: { token_type_hint: "refresh_token" }, ...INSECURE },
                );
                assert.equal(await oauth.processRevocationResponse(res), undefined);
                const hello = await callHelloAt(mcpUrl.href, rotated.access_token, "revoked");
                assert.equal(hello.status, 401);
                assert.match(hello.wwwAuthenticate ?? "", /error="invalid_token"/);
                const again = await oauth.refreshTokenGrantRequest(
                  as,
                  client,
                  clientAuth,
                  rotated.refresh_token!,
                  INSECURE,
                );
                await assert.rejects(
                  oauth.processRefreshTokenResponse(as, client, again),
                  (e: unknown) =>
                    e instanceof oauth.ResponseBodyError && e.error === "invalid_grant",
                );
              },
            );

            await t.step("Deny comes back as an access_denied authorization error", async () => {
              const denyState = oauth.generateRandomState();
              authorize.searchParams.set("state", denyState);
              const consent = await submitConsent(authorize, PASSWORD, "deny");
              assert.ok(consent.location, consent.body);
              assert.throws(
                () => oauth.validateAuthResponse(as, client, new URL(consent.location!), denyState),
                (e: unknown) =>
                  e instanceof oauth.AuthorizationResponseError && e.error === "access_denied",
              );
            });
          },
        );
      }
    });
  });
}
