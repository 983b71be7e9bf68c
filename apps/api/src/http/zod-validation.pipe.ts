import { Body, type PipeTransform } from '@nestjs/common';
import { ApiBody } from '@nestjs/swagger';
import { z } from 'zod';
import { ProblemException } from './problem.js';

/** Validates a body or query with a zod schema; failures become a 400 problem listing each field. */
export class ZodValidationPipe<S extends z.ZodType> implements PipeTransform<unknown, z.infer<S>> {
  constructor(
    private readonly schema: S,
    private readonly where: 'body' | 'query',
  ) {}

  transform(value: unknown): z.infer<S> {
    if (
      this.where === 'body' &&
      (value === undefined || value === null || typeof value !== 'object' || Array.isArray(value))
    ) {
      throw new ProblemException('INVALID_BODY', {
        detail:
          'the request body must be a JSON object: send Content-Type: application/json with a JSON object body',
      });
    }
    const result = this.schema.safeParse(value ?? {});
    if (result.success) return result.data;
    const errors = result.error.issues.map((i) => ({
      field: i.path.length ? i.path.map(String).join('.') : this.where,
      message: i.code === 'unrecognized_keys' ? `unknown field(s): ${i.keys.join(', ')}` : i.message,
    }));
    throw new ProblemException('VALIDATION_FAILED', {
      detail: `invalid request ${this.where}: ${errors.map((e) => `${e.field}: ${e.message}`).join('; ')}`,
      errors,
    });
  }
}

/**
 * The route's JSON body, validated by `schema` (a 400 problem naming each field otherwise) and
 * documented in OpenAPI with the same schema.
 */
export function JsonBody(schema: z.ZodType): ParameterDecorator {
  const document = ApiBody({
    schema: z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>,
  });
  return (target, key, index) => {
    Body(new ZodValidationPipe(schema, 'body'))(target, key, index);
    if (key !== undefined) document(target, key, Object.getOwnPropertyDescriptor(target, key)!);
  };
}
