// The ES module entry: the same objects as the CommonJS entry (one native addon, one set of classes).
import connectivly from './index.js';

export const {
  version,
  MAX_BODY_BYTES,
  HostApi,
  Provider,
  RemoteProvider,
  HttpResponse,
  ConnectivlyError,
  InvalidRequest,
  InvalidClient,
  InvalidGrant,
  UnauthorizedClient,
  UnsupportedGrantType,
  UnsupportedResponseType,
  InvalidScope,
  InvalidToken,
  InsufficientScope,
  AccessDenied,
  LoginRequired,
  Unauthorized,
  NotFound,
  Expired,
  AlreadyUsed,
  ConfigError,
  StorageError,
  ProviderClosed,
  RateLimited,
  RemoteError,
  InternalError,
  SessionNotFound,
  SessionExpired,
  SessionAlreadyUsed,
} = connectivly;

export default connectivly;
