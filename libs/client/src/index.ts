export {
  ClientClosedError,
  TokenkeeperApiError,
  TokenkeeperClientError,
  TokenUnavailableError,
  type TokenUnavailableReason,
} from './errors.js';
export type { SubscribeOptions, TokenkeeperEvent } from './event-subscription.js';
export { type SseMessage, SseParser, type SseParserHandlers } from './sse-parser.js';
export {
  createTokenProvider,
  type GetTokenOptions,
  type TokenInfo,
  type TokenProvider,
  type TokenProviderOptions,
  type TokenWarning,
  type TokenWarningCode,
} from './token-provider.js';
