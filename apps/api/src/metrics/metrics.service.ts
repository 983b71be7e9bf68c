import { InjectQueue } from '@nestjs/bullmq';
import { Inject, Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import { type BatchObservableResult, metrics, type Observable } from '@opentelemetry/api';
import type { Queue } from 'bullmq';
import type { AppConfig } from '#common';
import { QueueName } from '#queues';
import { CONFIG } from '#runtime';
import { CredentialStore } from '#store';
import {
  addToScoped,
  CREDENTIALS_GAUGE,
  emptyScoped,
  emptySnapshot,
  renderNamespaceMetrics,
  type ScopedSnapshots,
  SOONEST_EXPIRY_GAUGE,
} from './fleet-gauges.js';

/** A scan of every credential costs one pipelined read per 500 ids: at most this often. */
const SCAN_EVERY_MS = 15_000;
const QUEUE_STATES = ['waiting', 'delayed', 'active', 'failed'] as const;

/**
 * Gauges computed from Redis when scraped, on the api (one place, so summing over instances of
 * the worker never double counts): jobs per queue and state (BullMQ's counters, O(1) each),
 * credentials by state and the soonest expiry. The last two come from a paged scan of the
 * credential index, reused for SCAN_EVERY_MS; at 100k credentials a scan reads ≈ 200 pages.
 */
@Injectable()
export class MetricsService implements OnModuleInit {
  private readonly logger = new Logger(MetricsService.name);
  private snapshot: { at: number; value: ScopedSnapshots } | undefined;
  private scanning: Promise<ScopedSnapshots> | undefined;

  constructor(
    private readonly store: CredentialStore,
    @Inject(CONFIG) private readonly config: AppConfig,
    @InjectQueue(QueueName.TokenRefresh) private readonly refreshQueue: Queue,
    @InjectQueue(QueueName.WebhookDelivery) private readonly deliveryQueue: Queue,
  ) {}

  onModuleInit(): void {
    const meter = metrics.getMeter('tokenkeeper');
    const credentials = meter.createObservableGauge(CREDENTIALS_GAUGE.name, {
      description: CREDENTIALS_GAUGE.description,
      unit: '{credential}',
    });
    const soonest = meter.createObservableGauge(SOONEST_EXPIRY_GAUGE.name, {
      description: SOONEST_EXPIRY_GAUGE.description,
      unit: 's',
    });
    const jobs = meter.createObservableGauge('tokenkeeper.queue.jobs', {
      description: 'Jobs per queue and state',
      unit: '{job}',
    });
    meter.addBatchObservableCallback(
      (result) => this.observe(result, { credentials, soonest, jobs }),
      [credentials, soonest, jobs],
    );
  }

  private async observe(
    result: BatchObservableResult,
    gauges: { credentials: Observable; soonest: Observable; jobs: Observable },
  ): Promise<void> {
    const queues = [
      [QueueName.TokenRefresh, this.refreshQueue],
      [QueueName.WebhookDelivery, this.deliveryQueue],
    ] as const;
    const [{ fleet }, ...counts] = await Promise.all([
      this.snapshots(),
      ...queues.map(([, q]) => q.getJobCounts(...QUEUE_STATES)),
    ]);
    for (const [i, [name]] of queues.entries()) {
      for (const state of QUEUE_STATES)
        result.observe(gauges.jobs, counts[i]?.[state] ?? 0, { queue: name, state });
    }
    for (const [state, n] of Object.entries(fleet.byState)) result.observe(gauges.credentials, n, { state });
    if (fleet.soonestExpiry !== undefined)
      result.observe(gauges.soonest, (fleet.soonestExpiry - Date.now()) / 1000);
  }

  /**
   * Prometheus text of one namespace's credential gauges (for `metrics:read` keys of namespaces
   * other than the operator's, which see the fleet-wide exposition instead).
   */
  async renderNamespace(namespace: string): Promise<string> {
    const { byNamespace } = await this.snapshots();
    return renderNamespaceMetrics(namespace, byNamespace.get(namespace) ?? emptySnapshot(), Date.now());
  }

  /** The latest scan, started again when older than SCAN_EVERY_MS; concurrent scrapes share one. */
  private async snapshots(): Promise<ScopedSnapshots> {
    if (this.snapshot && Date.now() - this.snapshot.at < SCAN_EVERY_MS) return this.snapshot.value;
    this.scanning ??= this.scan()
      .then((value) => {
        this.snapshot = { at: Date.now(), value };
        return value;
      })
      .catch((err: Error) => {
        this.logger.warn({ msg: 'credential scan for metrics failed', err });
        return this.snapshot?.value ?? emptyScoped();
      })
      .finally(() => {
        this.scanning = undefined;
      });
    return this.scanning;
  }

  private async scan(): Promise<ScopedSnapshots> {
    const scoped = emptyScoped();
    for (let partition = 0; partition < this.config.partitions; partition++) {
      for await (const ids of this.store.idsOfPartition(partition))
        addToScoped(scoped, await this.store.getMany(ids));
    }
    return scoped;
  }
}
