import { z } from 'zod';
import { EVENT_TYPES } from '#core';

const url = z
  .string()
  .max(2048)
  .refine((v) => URL.canParse(v) && /^https?:$/.test(new URL(v).protocol), 'must be an http(s) URL');
const labelSelector = z
  .record(
    z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._/-]{0,62}$/, 'label keys are 1-63 of [A-Za-z0-9._/-]'),
    z.string().max(256),
  )
  .refine((l) => Object.keys(l).length <= 32, 'at most 32 labels');
const eventTypes = z.array(z.enum(EVENT_TYPES)).max(EVENT_TYPES.length);

const fields = {
  url,
  eventTypes: eventTypes.optional(),
  labelSelector: labelSelector.optional(),
  description: z.string().max(500).optional(),
  enabled: z.boolean().optional(),
};

export const createSubscriptionSchema = z
  .object({
    ...fields,
    secret: z.string().min(1).max(200).optional(),
  })
  .strict();
export type CreateSubscriptionBody = z.infer<typeof createSubscriptionSchema>;

export const updateSubscriptionSchema = z
  .object({ ...fields, url: url.optional() })
  .strict()
  .refine((b) => Object.keys(b).length > 0, 'the body changes nothing: give at least one field');
export type UpdateSubscriptionBody = z.infer<typeof updateSubscriptionSchema>;

export const deliveriesQuerySchema = z
  .object({
    status: z.enum(['pending', 'retrying', 'delivered', 'dead', 'dropped']).optional(),
    limit: z.coerce.number().int().min(1).max(1000).default(100),
  })
  .strict();
export type DeliveriesQuery = z.infer<typeof deliveriesQuerySchema>;

/** Ids this service issues; anything else cannot exist and answers 404. */
export const SUBSCRIPTION_ID = /^sub_[A-Za-z0-9_-]{10,64}$/;
export const DELIVERY_ID = /^p\d{1,4}-\d{1,20}-\d{1,20}$/;
