/**
 * Every code the API answers a problem with, its HTTP status and its title: the one table the API's
 * problem mapping, the CLI and the SDK read (the API imports it through `#core`). A new error the
 * API can return is a row here.
 */
export const PROBLEM_CODES = {
  VALIDATION_FAILED: { status: 400, title: 'The request is not valid' },
  INVALID_BODY: { status: 400, title: 'The request body is not valid' },
  INVALID_JSON: { status: 400, title: 'The request body is not valid JSON' },
  JSON_TOO_DEEP: { status: 400, title: 'The request body nests too deep' },
  INVALID_CURSOR: { status: 400, title: 'Invalid cursor' },
  BAD_REQUEST: { status: 400, title: 'Bad request' },
  UNAUTHENTICATED: { status: 401, title: 'An API key is needed' },
  FORBIDDEN: { status: 403, title: 'The API key may not do this' },
  TOKEN_SOURCE_FORBIDDEN: { status: 403, title: 'The API key may not use another credential’s token' },
  NOT_FOUND: { status: 404, title: 'Not found' },
  CREDENTIAL_NOT_FOUND: { status: 404, title: 'Credential not found' },
  POOL_NOT_FOUND: { status: 404, title: 'Pool not found' },
  SUBSCRIPTION_NOT_FOUND: { status: 404, title: 'Subscription not found' },
  DELIVERY_NOT_FOUND: { status: 404, title: 'Delivery not found' },
  API_KEY_NOT_FOUND: { status: 404, title: 'API key not found' },
  REVISION_CONFLICT: { status: 409, title: 'The credential changed meanwhile' },
  SUBSCRIPTION_LIMIT_REACHED: { status: 409, title: 'The namespace has as many subscriptions as it may' },
  DELIVERY_IN_PROGRESS: { status: 409, title: 'The delivery is still being attempted' },
  BODY_TOO_LARGE: { status: 413, title: 'The request body is too large' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, title: 'Unsupported content type: send application/json' },
  INVALID_CREDENTIAL_INPUT: { status: 422, title: 'The credential cannot be used as given' },
  INVALID_SUBSCRIPTION_INPUT: { status: 422, title: 'The subscription cannot be used as given' },
  OUTBOUND_URL_REFUSED: { status: 422, title: 'The URL is refused by the outbound policy' },
  RATE_LIMITED: { status: 429, title: 'Too many requests' },
  TOO_MANY_STREAMS_FOR_NAMESPACE: { status: 429, title: 'Too many event streams for this namespace' },
  INTERNAL: { status: 500, title: 'Internal error' },
  TOKEN_UNAVAILABLE: { status: 503, title: 'No valid token available' },
  SECRET_DECRYPTION_FAILED: { status: 503, title: 'The credential’s stored secrets cannot be read' },
  ENCRYPTION_KEY_MISSING: { status: 503, title: 'The credential’s stored secrets cannot be read' },
  TOO_MANY_STREAMS: { status: 503, title: 'Too many event streams' },
} as const satisfies Record<string, { status: number; title: string }>;

/** A code the API may answer with (`code` of its problem bodies). */
export type ProblemCode = keyof typeof PROBLEM_CODES;

/** Every ProblemCode, in the table's order. */
export const PROBLEM_CODE_LIST: readonly ProblemCode[] = Object.freeze(
  Object.keys(PROBLEM_CODES) as ProblemCode[],
);

/** Whether `code` is one the API answers with (a newer server may answer with codes this list lacks). */
export function isProblemCode(code: unknown): code is ProblemCode {
  return typeof code === 'string' && Object.hasOwn(PROBLEM_CODES, code);
}
