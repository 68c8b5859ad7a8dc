// Leader election on a coordination.k8s.io/v1 Lease, following client-go's
// leaderelection package: a candidate takes the Lease when it is free or when
// its holder has not renewed it for a lease duration (measured on this
// replica's own clock from when it last saw the record change, so clock skew
// between replicas does not matter); the leader renews every retry period and
// steps down when it cannot renew within the renew deadline; on a clean stop
// it releases the Lease so that another replica takes over at once.
// Writes use the Lease's resourceVersion, so two candidates never both win.
import { hostname } from "node:os";
import { setTimeout as sleep } from "node:timers/promises";
import * as k8s from "@kubernetes/client-node";
import type { Logger } from "pino";
import { describeError, isConflict, isNotFound } from "./kube-errors.ts";

export interface LeaseTimings {
  /** How long a Lease stays valid after its last renewal (non-leaders wait this long). */
  leaseDurationMs: number;
  /** The leader steps down when it could not renew for this long. Must be below the lease duration. */
  renewDeadlineMs: number;
  /** Time between tries to acquire or renew. */
  retryPeriodMs: number;
}

export const defaultLeaseTimings: LeaseTimings = {
  leaseDurationMs: 15_000,
  renewDeadlineMs: 10_000,
  retryPeriodMs: 2_000,
};

export interface LeaderElectionOptions {
  kc: k8s.KubeConfig;
  namespace: string;
  leaseName: string;
  identity: string;
  timings?: LeaseTimings;
  logger: Logger;
  /** Called when this replica becomes leader. */
  onStartedLeading: () => Promise<void> | void;
  /** Called when this replica stops leading (lost the Lease or is stopping); awaited before a new try. */
  onStoppedLeading: () => Promise<void> | void;
}

export function defaultIdentity(): string {
  return process.env.POD_NAME ?? `${hostname()}-${process.pid}`;
}

export function validateTimings({ leaseDurationMs, renewDeadlineMs, retryPeriodMs }: LeaseTimings): void {
  if (!(retryPeriodMs > 0 && renewDeadlineMs > retryPeriodMs && leaseDurationMs > renewDeadlineMs)) {
    throw new Error(
      `lease timings must satisfy 0 < retry period (${retryPeriodMs} ms) < renew deadline (${renewDeadlineMs} ms) < lease duration (${leaseDurationMs} ms)`,
    );
  }
}

/** metav1.MicroTime wire form; the client passes unknown types through as given. */
function microTime(date: Date): Date {
  return `${date.toISOString().slice(0, 23)}000Z` as unknown as Date;
}

interface Observed {
  holder: string;
  renewTime: string;
  transitions: number;
}

export class LeaderElector {
  readonly #options: LeaderElectionOptions;
  readonly #timings: LeaseTimings;
  readonly #leases: k8s.CoordinationV1Api;
  readonly #abort = new AbortController();
  #observed: Observed | undefined;
  #observedAt = 0;
  #leader = false;
  #lastContact = 0;
  #running: Promise<void> | undefined;

  constructor(options: LeaderElectionOptions) {
    this.#options = options;
    this.#timings = options.timings ?? defaultLeaseTimings;
    validateTimings(this.#timings);
    this.#leases = options.kc.makeApiClient(k8s.CoordinationV1Api);
  }

  get isLeader(): boolean {
    return this.#leader;
  }

  /** Whether the apiserver answered a lease request within the last lease duration. */
  reachable(): boolean {
    return Date.now() - this.#lastContact < this.#timings.leaseDurationMs;
  }

  get identity(): string {
    return this.#options.identity;
  }

  /** Starts campaigning in the background. */
  start(): void {
    this.#running ??= this.#run();
  }

  /**
   * Stops campaigning. A leader stops its work first (onStoppedLeading) and then,
   * when `release` is true, gives the Lease up so another replica takes over now.
   */
  async stop({ release = true }: { release?: boolean } = {}): Promise<void> {
    this.#abort.abort();
    await this.#running;
    if (release) await this.#release();
  }

  async #run(): Promise<void> {
    const { logger, identity, leaseName } = this.#options;
    const { retryPeriodMs, renewDeadlineMs } = this.#timings;
    const signal = this.#abort.signal;
    while (!signal.aborted) {
      // Candidate: try until the Lease is ours.
      while (!signal.aborted && !(await this.#tryAcquireOrRenew())) {
        await sleep(retryPeriodMs, undefined, { signal }).catch(() => undefined);
      }
      if (signal.aborted) return;
      this.#leader = true;
      logger.info({ lease: leaseName, identity }, "became leader");
      try {
        await this.#options.onStartedLeading();
      } catch (error) {
        logger.error({ err: describeError(error) }, "starting leader work failed");
      }
      // Leader: renew until we cannot (or are stopped).
      let renewedAt = Date.now();
      while (!signal.aborted) {
        await sleep(retryPeriodMs, undefined, { signal }).catch(() => undefined);
        if (signal.aborted) break;
        const outcome = await this.#tryAcquireOrRenew();
        if (outcome) {
          renewedAt = Date.now();
        } else if (this.#heldByOther() || Date.now() - renewedAt > renewDeadlineMs) {
          logger.warn({ lease: leaseName, identity }, "lost the leader lease");
          break;
        }
      }
      this.#leader = false;
      try {
        await this.#options.onStoppedLeading();
      } catch (error) {
        logger.error({ err: describeError(error) }, "stopping leader work failed");
      }
    }
  }

  #heldByOther(): boolean {
    const holder = this.#observed?.holder ?? "";
    return holder !== "" && holder !== this.#options.identity;
  }

  async #tryAcquireOrRenew(): Promise<boolean> {
    const { namespace, leaseName: name, identity, logger } = this.#options;
    const leaseDurationSeconds = Math.ceil(this.#timings.leaseDurationMs / 1000);
    const now = new Date();
    try {
      let lease: k8s.V1Lease;
      try {
        lease = await this.#leases.readNamespacedLease({ name, namespace });
        this.#lastContact = Date.now();
      } catch (error) {
        if (!isNotFound(error)) throw error;
        this.#lastContact = Date.now();
        await this.#leases.createNamespacedLease({
          namespace,
          body: {
            metadata: { name, namespace },
            spec: {
              holderIdentity: identity,
              leaseDurationSeconds,
              acquireTime: microTime(now),
              renewTime: microTime(now),
              leaseTransitions: 0,
            },
          },
        });
        this.#observe({ holder: identity, renewTime: String(microTime(now)), transitions: 0 }, now.getTime());
        return true;
      }
      const spec = lease.spec ?? {};
      const record: Observed = {
        holder: spec.holderIdentity ?? "",
        renewTime: String(spec.renewTime ?? ""),
        transitions: spec.leaseTransitions ?? 0,
      };
      this.#observe(record, now.getTime());
      const heldByOther = record.holder !== "" && record.holder !== identity;
      if (heldByOther && this.#observedAt + this.#timings.leaseDurationMs > now.getTime()) return false;

      const ours = record.holder === identity;
      const next: k8s.V1LeaseSpec = {
        holderIdentity: identity,
        leaseDurationSeconds,
        acquireTime: ours && spec.acquireTime !== undefined ? spec.acquireTime : microTime(now),
        renewTime: microTime(now),
        leaseTransitions: ours ? record.transitions : record.transitions + 1,
      };
      await this.#leases.replaceNamespacedLease({
        name,
        namespace,
        body: { metadata: { name, namespace, resourceVersion: lease.metadata?.resourceVersion }, spec: next },
      });
      this.#observe(
        { holder: identity, renewTime: String(next.renewTime), transitions: next.leaseTransitions ?? 0 },
        now.getTime(),
      );
      if (heldByOther) logger.info({ lease: name, previous: record.holder }, "took over an expired lease");
      return true;
    } catch (error) {
      // A conflict means another replica wrote first: not ours this round.
      if (!isConflict(error)) logger.warn({ lease: name, err: describeError(error) }, "lease request failed");
      return false;
    }
  }

  #observe(record: Observed, at: number): void {
    const previous = this.#observed;
    if (
      previous === undefined ||
      previous.holder !== record.holder ||
      previous.renewTime !== record.renewTime ||
      previous.transitions !== record.transitions
    ) {
      this.#observed = record;
      this.#observedAt = at;
    }
  }

  /** Gives the Lease up if we hold it: empty holder, so the next candidate takes it at once. */
  async #release(): Promise<void> {
    const { namespace, leaseName: name, identity, logger } = this.#options;
    try {
      const lease = await this.#leases.readNamespacedLease({ name, namespace });
      if (lease.spec?.holderIdentity !== identity) return;
      const now = new Date();
      await this.#leases.replaceNamespacedLease({
        name,
        namespace,
        body: {
          metadata: { name, namespace, resourceVersion: lease.metadata?.resourceVersion },
          spec: {
            holderIdentity: "",
            leaseDurationSeconds: 1,
            acquireTime: microTime(now),
            renewTime: microTime(now),
            leaseTransitions: lease.spec?.leaseTransitions ?? 0,
          },
        },
      });
      logger.info({ lease: name, identity }, "released the leader lease");
    } catch (error) {
      logger.warn({ lease: name, err: describeError(error) }, "could not release the leader lease");
    }
  }
}
