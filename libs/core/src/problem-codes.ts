// The table of problem codes lives in the SDK, which is built without repository imports, so that the
// API, the CLI and the SDK's users read the same codes.
export { isProblemCode, PROBLEM_CODE_LIST, PROBLEM_CODES, type ProblemCode } from '#client';
