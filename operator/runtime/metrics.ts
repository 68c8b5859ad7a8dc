// The operator's Prometheus metrics, one registry per operator instance (so
// two instances in one test process do not share counters).
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";

export class OperatorMetrics {
  readonly registry = new Registry();
  readonly reconcileTotal: Counter<"controller" | "result">;
  readonly reconcileErrors: Counter<"controller">;
  readonly reconcileDuration: Histogram<"controller">;
  readonly queueDepth: Gauge<"controller">;
  readonly queueRetries: Counter<"controller">;
  readonly leader: Gauge;
  readonly #depthSources = new Map<string, () => number>();

  constructor(options: { defaultMetrics?: boolean } = {}) {
    if (options.defaultMetrics ?? false) collectDefaultMetrics({ register: this.registry });
    const registers = [this.registry];
    this.reconcileTotal = new Counter({
      name: "chronoverse_operator_reconcile_total",
      help: "Reconciles run, by controller and result (success, requeue, conflict, error).",
      labelNames: ["controller", "result"],
      registers,
    });
    this.reconcileErrors = new Counter({
      name: "chronoverse_operator_reconcile_errors_total",
      help: "Reconciles that failed and were retried with back-off.",
      labelNames: ["controller"],
      registers,
    });
    this.reconcileDuration = new Histogram({
      name: "chronoverse_operator_reconcile_duration_seconds",
      help: "Time one reconcile of one object took.",
      labelNames: ["controller"],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    });
    this.queueRetries = new Counter({
      name: "chronoverse_operator_workqueue_retries_total",
      help: "Keys put back into a work queue after a failure.",
      labelNames: ["controller"],
      registers,
    });
    const depthSources = this.#depthSources;
    this.queueDepth = new Gauge({
      name: "chronoverse_operator_workqueue_depth",
      help: "Keys waiting in a controller's work queue.",
      labelNames: ["controller"],
      registers,
      collect() {
        for (const [controller, depth] of depthSources) this.set({ controller }, depth());
      },
    });
    this.leader = new Gauge({
      name: "chronoverse_operator_leader",
      help: "1 while this replica holds the leader lease, else 0.",
      registers,
    });
    this.leader.set(0);
  }

  /** Reports the depth of a controller's queue on every scrape. */
  watchQueue(controller: string, depth: () => number): void {
    this.#depthSources.set(controller, depth);
  }
}
