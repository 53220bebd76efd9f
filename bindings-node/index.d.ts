// Types of the `connectivly` package (hand-written for the wrapper in index.js; the data types come from
// native.d.ts, which @napi-rs/cli generates from the Rust sources).

import type { RequestHandler, Router } from 'express';

import type {
  ApproveOptions,
  AuthSession,
  Client,
  ClientUpdateOptions,
  ConnectOptions,
  CreatedClient,
  DenyOptions,
  Grant,
  Introspection,
  KeyInfo,
  NewClientOptions,
  ProviderOptions,
  ScopeInfo,
  SessionClient,
  TokenInfo,
} from './native';

export type {
  ApproveOptions,
  AuthSession,
  Client,
  ClientUpdateOptions,
  ConnectOptions,
  CreatedClient,
  DenyOptions,
  Grant,
  Introspection,
  KeyInfo,
  NewClientOptions,
  ProviderOptions,
  ScopeInfo,
  SessionClient,
  TokenInfo,
};

/** The version of the native core. */
export declare const version: string;
/** Largest request body handed to the provider, in bytes (64 KiB). */
export declare const MAX_BODY_BYTES: number;

// ---- errors -----------------------------------------------------------------------------------------------

/** Base class of every Connectivly error; `code` is the core's stable error code. */
export declare class ConnectivlyError extends Error {
  /** The code of this class's kind (`"not_found"`, ...); `"error"` on the base class. */
  static readonly code: string;
  /** The core's error code: `"not_found"`, `"already_used"`, `"invalid_request"`, `"closed"`, ... */
  readonly code: string;
  constructor(message?: string, options?: { code?: string; cause?: unknown });
}
/** The request or arguments are invalid (`invalid_request`; also `method_not_allowed`, `payload_too_large`). */
export declare class InvalidRequest extends ConnectivlyError {}
/** Client authentication failed (`invalid_client`). */
export declare class InvalidClient extends ConnectivlyError {}
/** The grant (code, token) is invalid (`invalid_grant`). */
export declare class InvalidGrant extends ConnectivlyError {}
/** The client may not use this grant (`unauthorized_client`). */
export declare class UnauthorizedClient extends ConnectivlyError {}
/** The grant type is not supported (`unsupported_grant_type`). */
export declare class UnsupportedGrantType extends ConnectivlyError {}
/** The response type is not supported (`unsupported_response_type`). */
export declare class UnsupportedResponseType extends ConnectivlyError {}
/** A scope is unknown or not allowed (`invalid_scope`). */
export declare class InvalidScope extends ConnectivlyError {}
/** The token is missing, invalid, expired or revoked (`invalid_token`). */
export declare class InvalidToken extends ConnectivlyError {}
/** The token lacks a required scope (`insufficient_scope`). */
export declare class InsufficientScope extends ConnectivlyError {}
/** The authorization was refused (`access_denied`). */
export declare class AccessDenied extends ConnectivlyError {}
/** The client asked for a fresh sign-in (`prompt=login`, `max_age`): re-authenticate, then approve with `authTime` (`login_required`). */
export declare class LoginRequired extends ConnectivlyError {}
/** The host-API key is missing or wrong (`unauthorized`). */
export declare class Unauthorized extends ConnectivlyError {}
/** No such auth session or client (`not_found`). */
export declare class NotFound extends ConnectivlyError {}
/** The auth session has expired (`expired`). */
export declare class Expired extends ConnectivlyError {}
/** The auth session was already approved or denied (`already_used`). */
export declare class AlreadyUsed extends ConnectivlyError {}
/** The configuration is invalid (`config_error`). */
export declare class ConfigError extends ConnectivlyError {}
/** The store is unavailable; try again (`temporarily_unavailable`). */
export declare class StorageError extends ConnectivlyError {}
/** The provider was closed (`closed`). */
export declare class ProviderClosed extends ConnectivlyError {}
/** Too many failed attempts from this client or address; retry later. */
export declare class RateLimited extends ConnectivlyError {}
/** The Connectivly server could not be reached or answered unexpectedly (`remote_error`). */
export declare class RemoteError extends ConnectivlyError {}
/** An unexpected internal error (`server_error`). */
export declare class InternalError extends ConnectivlyError {}

/** `NotFound`, named for auth sessions. */
export declare const SessionNotFound: typeof NotFound;
export type SessionNotFound = NotFound;
/** `Expired`, named for auth sessions. */
export declare const SessionExpired: typeof Expired;
export type SessionExpired = Expired;
/** `AlreadyUsed`, named for auth sessions. */
export declare const SessionAlreadyUsed: typeof AlreadyUsed;
export type SessionAlreadyUsed = AlreadyUsed;

// ---- HTTP -------------------------------------------------------------------------------------------------

/** Request headers: `[name, value]` pairs (a name may repeat) or an object such as Node's `req.headers`. */
export type Headers =
  | ReadonlyArray<readonly [string, string]>
  | Readonly<Record<string, string | number | readonly string[] | undefined>>;

/** A request body: bytes, or text sent as UTF-8. */
export type Body = Uint8Array | string;

/** One request for `Provider.handle`. */
export interface HandleRequest {
  method: string;
  /** Below the issuer, starting with `/` (e.g. `/oauth2/token`), percent-encoded as received. */
  path: string;
  /** The raw query string without `?`. */
  query?: string | null;
  headers?: Headers | null;
  body?: Body | null;
  /** The peer's address, for per-address rate limits. */
  remoteAddr?: string | null;
}

/** An HTTP response from the provider, for a web framework to send. */
export declare class HttpResponse {
  private constructor();
  readonly status: number;
  /** Name/value pairs in order; a name may repeat (`set-cookie`). */
  readonly headers: Array<[string, string]>;
  readonly body: Buffer;
}

// ---- providers --------------------------------------------------------------------------------------------

/** The operations an embedded `Provider` and a `RemoteProvider` share, with the same names. */
export declare abstract class HostApi {
  protected constructor();
  /** What the host needs to decide: the app, the requested scopes, prompt, max_age, login_hint. */
  authSession(sessionId: string): Promise<AuthSession>;
  /** Approves the session for `approval.user`; resolves to the URL to redirect the browser to. */
  approve(sessionId: string, approval: ApproveOptions): Promise<string>;
  /** Refuses the session; resolves to the URL that brings `error` (default `access_denied`) to the client. */
  deny(sessionId: string, denial?: DenyOptions | null): Promise<string>;
  /** Verifies an access token (signature, expiry, issuer, audience, revocation) and that it has `scopes`. */
  verifyAccessToken(token: string, scopes?: string[] | null): Promise<TokenInfo>;
  /** RFC 7662 introspection: `active` plus the token's claims, or only `active: false`. */
  introspect(token: string): Promise<Introspection>;
  /**
   * Guards a resource request: resolves to the `TokenInfo`, or to the 401/403 `HttpResponse` (with
   * `WWW-Authenticate`) to send. `body` is the request's form body, if any (RFC 6750 §2.2).
   */
  protect(method: string, headers: Headers, body?: Body | null, scopes?: string[] | null): Promise<TokenInfo | HttpResponse>;
  /** Registers a client; the secret (confidential clients) is in the result and nowhere else, ever. */
  createClient(client: NewClientOptions): Promise<CreatedClient>;
  /** The registered clients, optionally only those of one owner. */
  listClients(owner?: string | null): Promise<Client[]>;
  getClient(clientId: string): Promise<Client>;
  /** Changes the given fields; absent ones stay as they are. */
  updateClient(clientId: string, update?: ClientUpdateOptions | null): Promise<Client>;
  /** Issues a new secret (shown once); the old one stops working at once. */
  rotateClientSecret(clientId: string): Promise<CreatedClient>;
  /** Deletes a client and revokes everything issued to it. */
  deleteClient(clientId: string): Promise<void>;
  /** Revokes a token: an access token by itself, a refresh token with its whole family. */
  revoke(token: string): Promise<void>;
  /** Revokes every token of a user, with every client; resolves to how many sign-ins were revoked. */
  revokeUser(user: string): Promise<number>;
  /** Revokes every token issued to a client. */
  revokeClient(clientId: string): Promise<void>;
  /** The clients a user has remembered consent for. */
  listGrants(user: string): Promise<Grant[]>;
  /** Forgets a user's consent for a client and revokes its tokens for that user. */
  revokeGrant(user: string, clientId: string): Promise<void>;
  /** Replaces the active signing keys; resolves to the new ones. */
  rotateKeys(): Promise<KeyInfo[]>;
  /** Releases the provider; later calls reject with `ProviderClosed`. Closing twice is fine. */
  close(): Promise<void>;
  /**
   * Express middleware: the request needs a valid bearer token carrying every one of `scopes`. Sets
   * `req.token` and continues, or answers 401 (no or bad token) / 403 (missing scope).
   */
  requireToken(...scopes: string[]): RequestHandler;
}

/** An OAuth 2.1 / OpenID Connect provider embedded in this process. */
export declare class Provider extends HostApi {
  private constructor();
  /** Opens the store (default `sqlite://connectivly.db`), running migrations; loads or creates the keys. */
  static open(options: ProviderOptions): Promise<Provider>;
  /** The issuer URL (the base of every endpoint and the `iss` of every token). */
  readonly issuer: string;
  /** Serves one OAuth request; `path` is relative to the issuer (e.g. `/oauth2/token`). */
  handle(request: HandleRequest): Promise<HttpResponse>;
  /** The discovery document (OpenID Connect Discovery / RFC 8414). */
  discovery(): Record<string, unknown>;
  /** Creates the stored host-API key if none exists; resolves to it (shown once) or to `null`. */
  ensureApiKey(): Promise<string | null>;
  /** The published signing keys. */
  signingKeys(): KeyInfo[];
  /** Replaces the stored host-API key; resolves to the new one (shown once). */
  rotateApiKey(): Promise<string>;
  /**
   * A router serving every OAuth endpoint and the discovery document. Mount it at the issuer's path
   * (`app.use('/oauth', provider.express())` for `http://localhost:5000/oauth`), before any body parser.
   */
  express(): Router;
  /**
   * Root-relative paths where clients also look for the metadata of an issuer with a path:
   * `['/.well-known/oauth-authorization-server/oauth', '/.well-known/openid-configuration/oauth']` for
   * `http://localhost:5000/oauth` (RFC 8414 §3.1); `[]` for an issuer at the root. `handle` answers them
   * when given the full path.
   */
  rootMetadataPaths(): string[];
  /**
   * A router for the app's root (`app.use(provider.wellKnown())`) that serves the paths of
   * `rootMetadataPaths()`, which a router mounted at the issuer's path cannot see; every other request
   * passes through. Mounted anywhere but the root, it fails each request with a `ConfigError`.
   */
  wellKnown(): Router;
}

/** A client of a standalone Connectivly server's host API: the same methods as `Provider`'s. */
export declare class RemoteProvider extends HostApi {
  private constructor();
  /** `url` is the server's issuer URL (e.g. `http://localhost:3000`); `options.apiKey` its host-API key. */
  static connect(url: string, options: ConnectOptions): Promise<RemoteProvider>;
  /** The server's URL. */
  readonly url: string;
}

declare global {
  namespace Express {
    interface Request {
      /** The verified access token, set by `provider.requireToken(...)`. */
      token?: TokenInfo;
    }
  }
}
