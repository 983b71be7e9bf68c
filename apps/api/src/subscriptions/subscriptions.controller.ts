import { Controller, Delete, Get, HttpCode, Param, Patch, Post, Query } from '@nestjs/common';
import { ApiOperation, ApiQuery, ApiTags } from '@nestjs/swagger';
import { DeliveryNotFoundError, SubscriptionNotFoundError, SubscriptionService } from '#webhooks';
import { CurrentPrincipal, type Principal, RequireScope } from '../auth/principal.js';
import { idCheck } from '../http/views.js';
import { JsonBody, ZodValidationPipe } from '../http/zod-validation.pipe.js';
import {
  type CreateSubscriptionBody,
  createSubscriptionSchema,
  DELIVERY_ID,
  type DeliveriesQuery,
  deliveriesQuerySchema,
  SUBSCRIPTION_ID,
  type UpdateSubscriptionBody,
  updateSubscriptionSchema,
} from './subscription.schemas.js';
import { deliveryView, subscriptionView } from './subscription-view.js';

const checkId = idCheck(SUBSCRIPTION_ID, (id) => new SubscriptionNotFoundError(id));
const checkDeliveryId = (id: string, deliveryId: string) =>
  idCheck(DELIVERY_ID, (d) => new DeliveryNotFoundError(id, d))(deliveryId);

/** Webhook subscriptions of the caller's namespace and their deliveries. */
@ApiTags('subscriptions')
@Controller('v1/subscriptions')
export class SubscriptionsController {
  constructor(private readonly subscriptions: SubscriptionService) {}

  @Post()
  @RequireScope('subscriptions:write')
  @ApiOperation({
    summary:
      'Subscribe a URL to events (all types and credentials unless filtered). The signing secret (whsec_…) is in this response only.',
  })
  async create(
    @CurrentPrincipal() principal: Principal,
    @JsonBody(createSubscriptionSchema) body: CreateSubscriptionBody,
  ) {
    const { subscription, secret } = await this.subscriptions.create({
      ...body,
      namespace: principal.namespace,
    });
    return { ...subscriptionView(subscription), secret };
  }

  @Get()
  @RequireScope('events:read')
  @ApiOperation({ summary: 'Subscriptions of this namespace, oldest first' })
  async list(@CurrentPrincipal() principal: Principal) {
    return { items: (await this.subscriptions.list(principal.namespace)).map(subscriptionView) };
  }

  @Get(':id')
  @RequireScope('events:read')
  @ApiOperation({ summary: 'A subscription (never its secret)' })
  async get(@CurrentPrincipal() principal: Principal, @Param('id') id: string) {
    return subscriptionView(await this.subscriptions.get(principal.namespace, checkId(id)));
  }

  @Patch(':id')
  @RequireScope('subscriptions:write')
  @ApiOperation({ summary: 'Change URL, filters, description or enabled' })
  async update(
    @CurrentPrincipal() principal: Principal,
    @Param('id') id: string,
    @JsonBody(updateSubscriptionSchema) body: UpdateSubscriptionBody,
  ) {
    return subscriptionView(await this.subscriptions.update(principal.namespace, checkId(id), body));
  }

  @Delete(':id')
  @HttpCode(204)
  @RequireScope('subscriptions:write')
  @ApiOperation({ summary: 'Remove a subscription and its delivery log; queued deliveries are dropped' })
  async remove(@CurrentPrincipal() principal: Principal, @Param('id') id: string): Promise<void> {
    await this.subscriptions.remove(principal.namespace, checkId(id));
  }

  @Get(':id/deliveries')
  @RequireScope('events:read')
  @ApiOperation({
    summary: 'Deliveries, newest first, with every attempt; status=dead lists the dead letters',
  })
  @ApiQuery({
    name: 'status',
    required: false,
    enum: ['pending', 'retrying', 'delivered', 'dead', 'dropped'],
  })
  @ApiQuery({ name: 'limit', required: false })
  async deliveries(
    @CurrentPrincipal() principal: Principal,
    @Param('id') id: string,
    @Query(new ZodValidationPipe(deliveriesQuerySchema, 'query')) q: DeliveriesQuery,
  ) {
    const items = await this.subscriptions.deliveries(principal.namespace, checkId(id), {
      limit: q.limit,
      ...(q.status ? { status: q.status } : {}),
    });
    return { items: items.map(deliveryView) };
  }

  @Get(':id/deliveries/:deliveryId')
  @RequireScope('events:read')
  @ApiOperation({ summary: 'One delivery with its attempts' })
  async delivery(
    @CurrentPrincipal() principal: Principal,
    @Param('id') id: string,
    @Param('deliveryId') deliveryId: string,
  ) {
    return deliveryView(
      await this.subscriptions.delivery(principal.namespace, checkId(id), checkDeliveryId(id, deliveryId)),
    );
  }

  @Post(':id/deliveries/:deliveryId/redrive')
  @HttpCode(202)
  @RequireScope('subscriptions:write')
  @ApiOperation({ summary: 'Send a finished (dead-lettered or delivered) delivery again, same webhook-id' })
  async redrive(
    @CurrentPrincipal() principal: Principal,
    @Param('id') id: string,
    @Param('deliveryId') deliveryId: string,
  ) {
    return deliveryView(
      await this.subscriptions.redrive(principal.namespace, checkId(id), checkDeliveryId(id, deliveryId)),
    );
  }

  @Post(':id/redrive')
  @HttpCode(202)
  @RequireScope('subscriptions:write')
  @ApiOperation({ summary: 'Re-drive every dead-lettered delivery of the subscription' })
  async redriveAll(@CurrentPrincipal() principal: Principal, @Param('id') id: string) {
    const items = await this.subscriptions.redriveDeadLetters(principal.namespace, checkId(id));
    return { items: items.map(deliveryView) };
  }
}
