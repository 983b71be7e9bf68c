import { z } from 'zod';
import { EVENT_TYPES } from '#core';
import { CREDENTIAL_ID } from '../credentials/credential.schemas.js';

/** A query parameter given repeatedly (`?type=a&type=b`) or comma-separated (`?type=a,b`). */
const repeated = <T extends z.ZodType<string, string>>(item: T, max: number) =>
  z
    .union([z.string(), z.array(z.string())])
    .optional()
    .transform((v) =>
      (v === undefined ? [] : Array.isArray(v) ? v : [v])
        .flatMap((s) => s.split(','))
        .map((s) => s.trim())
        .filter(Boolean),
    )
    .pipe(z.array(item).max(max, `at most ${max} values`));

const filterFields = {
  after: z.string().min(1).max(2048).optional(),
  type: repeated(z.enum(EVENT_TYPES), EVENT_TYPES.length),
  credentialId: repeated(z.string().regex(CREDENTIAL_ID, 'not a credential id (cred_…)'), 100),
};

export const eventFeedQuerySchema = z
  .object({ ...filterFields, limit: z.coerce.number().int().min(1).max(1000).default(100) })
  .strict();
export type EventFeedQuery = z.infer<typeof eventFeedQuerySchema>;

export const eventStreamQuerySchema = z.object(filterFields).strict();
export type EventStreamQuery = z.infer<typeof eventStreamQuerySchema>;
