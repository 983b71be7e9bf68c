import { Body, type PipeTransform } from '@nestjs/common';
import { ApiBody } from '@nestjs/swagger';
import { z } from 'zod';
import { boundText } from '#core';
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
    const issues = result.error.issues;
    const errors = issues.slice(0, MAX_LISTED).map((i) => ({
      field: i.path.length ? i.path.map((p) => boundName(String(p))).join('.') : this.where,
      message: i.code === 'unrecognized_keys' ? `unknown field(s): ${listNames(i.keys)}` : i.message,
    }));
    if (issues.length > MAX_LISTED)
      errors.push({ field: this.where, message: `and ${issues.length - MAX_LISTED} more problem(s)` });
    throw new ProblemException('VALIDATION_FAILED', {
      detail: `invalid request ${this.where}: ${errors.map((e) => `${e.field}: ${e.message}`).join('; ')}`,
      errors,
    });
  }
}

/** Field names come from the caller: the problem lists at most this many, each this long. */
const MAX_LISTED = 10;
const MAX_NAME = 64;

const boundName = (name: string) => boundText(name, MAX_NAME);

function listNames(names: readonly string[]): string {
  const listed = names.slice(0, MAX_LISTED).map(boundName).join(', ');
  return names.length > MAX_LISTED ? `${listed} and ${names.length - MAX_LISTED} more` : listed;
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
