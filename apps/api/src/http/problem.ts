/** RFC 9457 problem details. `type` is a stable URN per error code. */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail?: string;
  instance?: string;
  code: string;
  errors?: { field: string; message: string }[];
  [extension: string]: unknown;
}

export function problem(status: number, code: string, title: string, extra: Partial<Problem> = {}): Problem {
  return {
    type: `urn:tokenkeeper:problem:${code.toLowerCase().replace(/_/g, '-')}`,
    title,
    status,
    code,
    ...extra,
  };
}
