import { FieldError, TokenkeeperError } from '#core';

/** Maps to 404; also what another namespace's subscription looks like. */
export class SubscriptionNotFoundError extends TokenkeeperError {
  constructor(id: string) {
    super('SUBSCRIPTION_NOT_FOUND', `no subscription ${id}`);
  }
}

/** Maps to 404. */
export class DeliveryNotFoundError extends TokenkeeperError {
  constructor(subscriptionId: string, deliveryId: string) {
    super('DELIVERY_NOT_FOUND', `subscription ${subscriptionId} has no delivery ${deliveryId}`);
  }
}

/** A delivery that is still being attempted cannot be re-driven. Maps to 409. */
export class DeliveryInProgressError extends TokenkeeperError {
  constructor(deliveryId: string) {
    super(
      'DELIVERY_IN_PROGRESS',
      `delivery ${deliveryId} is still being attempted; re-drive it once it ended`,
    );
  }
}

/** Well-formed but unusable input; `field` names what to fix. Maps to 422. */
export class InvalidSubscriptionInputError extends FieldError {
  constructor(field: string, message: string) {
    super('INVALID_SUBSCRIPTION_INPUT', field, message);
  }
}

/** The namespace has as many subscriptions as it may. Maps to 409. */
export class SubscriptionLimitError extends TokenkeeperError {
  constructor(readonly limit: number) {
    super(
      'SUBSCRIPTION_LIMIT_REACHED',
      `a namespace may have at most ${limit} subscriptions (TK_WEBHOOK_MAX_SUBSCRIPTIONS_PER_NAMESPACE); delete one first`,
    );
  }
}
