import { FieldError, NotFoundError, type ProblemCode, TokenkeeperError } from '#core';

export class SubscriptionNotFoundError extends NotFoundError {
  static override readonly code = 'SUBSCRIPTION_NOT_FOUND' satisfies ProblemCode;
}

/** Maps to 404. */
export class DeliveryNotFoundError extends TokenkeeperError {
  static override readonly code = 'DELIVERY_NOT_FOUND' satisfies ProblemCode;
  constructor(subscriptionId: string, deliveryId: string) {
    super(`subscription ${subscriptionId} has no delivery ${deliveryId}`);
  }
}

/** A delivery that is still being attempted cannot be re-driven. Maps to 409. */
export class DeliveryInProgressError extends TokenkeeperError {
  static override readonly code = 'DELIVERY_IN_PROGRESS' satisfies ProblemCode;
  constructor(deliveryId: string) {
    super(`delivery ${deliveryId} is still being attempted; re-drive it once it ended`);
  }
}

/** Well-formed but unusable input; `field` names what to fix. Maps to 422. */
export class InvalidSubscriptionInputError extends FieldError {
  static override readonly code = 'INVALID_SUBSCRIPTION_INPUT' satisfies ProblemCode;
}

/** The namespace has as many subscriptions as it may. Maps to 409. */
export class SubscriptionLimitError extends TokenkeeperError {
  static override readonly code = 'SUBSCRIPTION_LIMIT_REACHED' satisfies ProblemCode;
  constructor(readonly limit: number) {
    super(
      `a namespace may have at most ${limit} subscriptions (TK_WEBHOOK_MAX_SUBSCRIPTIONS_PER_NAMESPACE); delete one first`,
    );
  }
}
