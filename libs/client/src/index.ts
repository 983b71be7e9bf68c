export {
  type ApiClientOptions,
  type ApiResponse,
  type CredentialStatus,
  describeNetworkError,
  type Query,
  type ReceivedToken,
  type RequestOptions,
  readEventStream,
  TokenkeeperApiClient,
  TokenkeeperUnreachableError,
} from './api-client.js';
export {
  ClientClosedError,
  TokenkeeperApiError,
  TokenkeeperClientError,
  TokenUnavailableError,
  type TokenUnavailableReason,
} from './errors.js';
export type { SubscribeOptions, TokenkeeperEvent } from './event-subscription.js';
export { type SseMessage, SseParser, type SseParserHandlers } from './sse-parser.js';
export { abortableSleep, fullJitterDelay } from './timing.js';
export {
  createTokenProvider,
  type GetTokenOptions,
  type TokenInfo,
  type TokenProvider,
  type TokenProviderOptions,
  type TokenWarning,
  type TokenWarningCode,
} from './token-provider.js';
