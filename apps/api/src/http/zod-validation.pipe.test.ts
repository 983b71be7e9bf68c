import { Controller, Module, Post } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { SwaggerModule } from '@nestjs/swagger';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ProblemDetailsFilter } from './problem-details.filter.js';
import { JsonBody } from './zod-validation.pipe.js';

const greetingSchema = z.object({ name: z.string().min(1).max(20) }).strict();

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
