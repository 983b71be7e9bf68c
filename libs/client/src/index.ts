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
  CLIENT_ERROR_CODES,
  ClientClosedError,
  type ClientErrorCode,
  type ErrorCode,
  TokenkeeperApiError,
  TokenkeeperClientError,
  TokenUnavailableError,
  type TokenUnavailableReason,
} from './errors.js';
export type { SubscribeOptions, TokenkeeperEvent } from './event-subscription.js';
export { isProblemCode, PROBLEM_CODE_LIST, PROBLEM_CODES, type ProblemCode } from './problem-codes.js';
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
