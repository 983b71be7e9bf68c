import { Controller, Module, Post } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { SwaggerModule } from '@nestjs/swagger';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ProblemDetailsFilter } from './problem-details.filter.js';
import { JsonBody } from './zod-validation.pipe.js';

const greetingSchema = z
  .object({
    name: z.string().min(1).max(20),
    labels: z.record(z.string().regex(/^[a-z]{1,8}$/), z.string()).optional(),
  })
  .strict();

@Controller('greetings')
class GreetingsController {
  @Post()
  greet(@JsonBody(greetingSchema) body: z.infer<typeof greetingSchema>) {
    return { greeting: `hello ${body.name}` };
  }
}

@Module({ controllers: [GreetingsController] })
class GreetingsModule {}

describe('JsonBody', () => {
  let app: NestFastifyApplication;
  beforeAll(async () => {
    app = await NestFactory.create<NestFastifyApplication>(GreetingsModule, new FastifyAdapter(), {
      logger: false,
    });
    app.useGlobalFilters(new ProblemDetailsFilter());
    await app.init();
    await app.getHttpAdapter().getInstance().ready();
  });
  afterAll(() => app.close());

  it('passes a valid body through', async () => {
    const res = await app.inject({ method: 'POST', url: '/greetings', payload: { name: 'ada' } });
    expect(res.statusCode).toBe(201);
    expect(res.json()).toEqual({ greeting: 'hello ada' });
  });

  it('answers an invalid body with a 400 problem naming the field', async () => {
    const res = await app.inject({ method: 'POST', url: '/greetings', payload: { name: '' } });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ code: 'VALIDATION_FAILED', errors: [{ field: 'name' }] });
  });

  it('echoes field names bounded: a long or numerous unknown field, a long record key', async () => {
    const long = 'k'.repeat(50_000);
    const many = Object.fromEntries(Array.from({ length: 3_000 }, (_, i) => [`extra${i}`, 1]));
    for (const payload of [
      { name: 'ada', [long]: 1 },
      { name: 'ada', ...many },
      { name: 'ada', labels: { [long]: 'x' } },
      { name: 'ada', labels: Object.fromEntries(Array.from({ length: 3_000 }, (_, i) => [`K${i}`, 'x'])) },
    ]) {
      const res = await app.inject({ method: 'POST', url: '/greetings', payload });
      expect(res.statusCode).toBe(400);
      expect(res.body.length).toBeLessThan(8_192);
      const problem = res.json() as { errors: { field: string; message: string }[] };
      expect(problem.errors.length).toBeGreaterThan(0);
      for (const e of problem.errors) expect(e.field.length + e.message.length).toBeLessThan(1_024);
    }
    const named = await app.inject({
      method: 'POST',
      url: '/greetings',
      payload: { name: 'ada', colour: 1 },
    });
    expect(named.json()).toMatchObject({ errors: [{ field: 'body', message: 'unknown field(s): colour' }] });
  });

  it('documents the body in OpenAPI with the same schema', () => {
    const document = SwaggerModule.createDocument(app, {
      openapi: '3.0.0',
      info: { title: 't', version: '1' },
    });
    const body = document.paths['/greetings']?.post?.requestBody as {
      content: Record<string, { schema: { properties?: Record<string, unknown> } }>;
    };
    expect(body.content['application/json']?.schema.properties).toHaveProperty('name');
  });
});
