import { HttpException } from '@nestjs/common';
import { PROBLEM_CODES, type ProblemCode } from '#core';

/** RFC 9457 problem details. `type` is a stable URN per error code. */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail?: string;
  instance?: string;
  code: ProblemCode;
  errors?: { field: string; message: string }[];
  [extension: string]: unknown;
}

export function problem(
  status: number,
  code: ProblemCode,
  title: string,
  extra: Partial<Problem> = {},
): Problem {
  return {
    type: `urn:tokenkeeper:problem:${code.toLowerCase().replace(/_/g, '-')}`,
    title,
    status,
    code,
    ...extra,
  };
}

/** The problem of a code with the status and title of its row in PROBLEM_CODES. */
export function problemFor(code: ProblemCode, extra: Partial<Problem> = {}): Problem {
  const { status, title } = PROBLEM_CODES[code];
  return problem(status, code, title, extra);
}

/** An answer with the problem of `code`: its status and title come from its row in PROBLEM_CODES. */
export class ProblemException extends HttpException {
  constructor(code: ProblemCode, extra: Partial<Problem> = {}) {
    const body = problemFor(code, extra);
    super(body, body.status);
  }
}
