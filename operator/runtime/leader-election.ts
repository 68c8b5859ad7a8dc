// Leader election on a coordination.k8s.io/v1 Lease, following client-go's
// leaderelection package: a candidate takes the Lease when it is free or when
// its holder has not renewed it for a lease duration (measured on this
// replica's own clock from when it last saw the record change, so clock skew
// between replicas does not matter); the leader renews every retry period and
// steps down when it cannot renew within the renew deadline; on a clean stop
// it releases the Lease so that another replica takes over at once.
// Writes use the Lease's resourceVersion, so two candidates never both win.
//
// Faults (docs/reliability.md, "Faults survived"): every try at the Lease (a
// read, then a write) is aborted after the request timeout, a renewal's also
// at the renew deadline, so a hung apiserver cannot keep it waiting; the renew deadline
// counts from when the last successful renewal *started* (before any other
// replica can have seen it), and the leader steps down when it passes, whether
// or not a request is still in flight — a lease duration after that renewal at
// the earliest can another replica take over. Stopping the leader's work is
// given the rest of that margin (lease duration − renew deadline) and no more.
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
  /** Each try at the Lease (a read, then a write) is aborted after this long (default: half the renew deadline). */
  requestTimeoutMs?: number;
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
  /**
   * Called when this replica stops leading (lost the Lease or is stopping);
   * awaited before a new try, for at most stopBudgetMs(timings).
   */
  onStoppedLeading: () => Promise<void> | void;
  /**
   * Called when onStoppedLeading did not finish within its budget: leader work
   * may still be running while another replica can lead (the command exits).
   */
  onStopTimeout?: () => void;
}

export function defaultIdentity(): string {
  return process.env.POD_NAME ?? `${hostname()}-${process.pid}`;
}

export function validateTimings(timings: LeaseTimings): void {
  const { leaseDurationMs, renewDeadlineMs, retryPeriodMs, requestTimeoutMs } = timings;
  if (!(retryPeriodMs > 0 && renewDeadlineMs > retryPeriodMs && leaseDurationMs > renewDeadlineMs)) {
    throw new Error(
      `lease timings must satisfy 0 < retry period (${retryPeriodMs} ms) < renew deadline (${renewDeadlineMs} ms) < lease duration (${leaseDurationMs} ms)`,
    );
  }
  if (requestTimeoutMs !== undefined && !(requestTimeoutMs > 0 && requestTimeoutMs <= renewDeadlineMs)) {
    throw new Error(
      `the lease request timeout (${requestTimeoutMs} ms) must be above 0 and at most the renew deadline (${renewDeadlineMs} ms)`,
    );
  }
}

/** How long one Lease request may take. */
export function requestTimeout(timings: LeaseTimings): number {
  return timings.requestTimeoutMs ?? Math.max(1, Math.floor(timings.renewDeadlineMs / 2));
}

/**
 * How long stopping the leader's work may take: the margin between stepping
 * down (at the renew deadline) and the earliest moment another replica can
 * take the Lease over (a lease duration after the same renewal).
 */
export function stopBudgetMs(timings: LeaseTimings): number {
  return timings.leaseDurationMs - timings.renewDeadlineMs;
}

/**
 * A leader's next move, given when its last successful renewal started: wait
 * `waitMs` and renew with a request budget of `budgetMs` (never past the
 * deadline), or step down now because the renew deadline has passed.
 */
export function leaderStep(
  now: number,
  renewedAt: number,
  timings: LeaseTimings,
): { action: "renew"; waitMs: number } | { action: "step-down" } {
  const deadline = renewedAt + timings.renewDeadlineMs;
  if (now >= deadline) return { action: "step-down" };
  return { action: "renew", waitMs: Math.min(timings.retryPeriodMs, deadline - now) };
}

/** The budget of a renewal attempt that starts at `now`: the request timeout, cut at the renew deadline. */
export function renewBudgetMs(now: number, renewedAt: number, timings: LeaseTimings): number {
  return Math.max(0, Math.min(requestTimeout(timings), renewedAt + timings.renewDeadlineMs - now));
}

/** Per-request options for the generated client that abort the request with `signal`. */
function abortWith(signal: AbortSignal): k8s.ConfigurationOptions {
  return {
    middleware: [
      {
        pre: (context) => {
          context.setSignal(signal);
          return new k8s.Observable(Promise.resolve(context));
        },
        post: (response) => new k8s.Observable(Promise.resolve(response)),
      },
    ],
    middlewareMergeStrategy: "append",
  };
}

/** Resolves when `work` settles or `ms` passes, whichever is first; true when the work settled. */
async function within(work: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([
      work.then(
        () => true,
        () => true,
      ),
      timedOut,
    ]);
  } finally {
    clearTimeout(timer);
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
   * Stops campaigning. A leader stops its work first (onStoppedLeading, for at
   * most stopBudgetMs) and then, when `release` is true, gives the Lease up so
   * another replica takes over now (one try, bounded by the request timeout).
   */
  async stop({ release = true }: { release?: boolean } = {}): Promise<void> {
    this.#abort.abort();
    await this.#running;
    if (release) await this.#release();
  }

  async #run(): Promise<void> {
    const { logger, identity, leaseName } = this.#options;
    const timings = this.#timings;
    const signal = this.#abort.signal;
    while (!signal.aborted) {
      // Candidate: try until the Lease is ours. The renew deadline counts from
      // the start of the attempt that won it.
      let renewedAt = Date.now();
      while (!signal.aborted && !(await this.#tryAcquireOrRenew(requestTimeout(timings), signal))) {
        await sleep(timings.retryPeriodMs, undefined, { signal }).catch(() => undefined);
        renewedAt = Date.now();
      }
      if (signal.aborted) return;
      this.#leader = true;
      logger.info({ lease: leaseName, identity }, "became leader");
      try {
        await this.#options.onStartedLeading();
      } catch (error) {
        logger.error({ err: describeError(error) }, "starting leader work failed");
      }
      // Leader: renew until the renew deadline passes without a renewal, the
      // Lease turns out to be someone else's, or we are stopped.
      for (;;) {
        const step = leaderStep(Date.now(), renewedAt, timings);
        if (step.action === "step-down") {
          logger.warn(
            { lease: leaseName, identity, renewDeadlineMs: timings.renewDeadlineMs },
            "could not renew the leader lease within the renew deadline: stepping down",
          );
          break;
        }
        await sleep(step.waitMs, undefined, { signal }).catch(() => undefined);
        if (signal.aborted) break;
        const startedAt = Date.now();
        const budget = renewBudgetMs(startedAt, renewedAt, timings);
        if (budget > 0 && (await this.#tryAcquireOrRenew(budget, signal))) {
          renewedAt = startedAt;
        } else if (this.#heldByOther()) {
          logger.warn({ lease: leaseName, identity }, "lost the leader lease to another holder");
          break;
        }
      }
      this.#leader = false;
      await this.#stopLeading();
    }
  }

  /** Runs onStoppedLeading for at most the stop budget. */
  async #stopLeading(): Promise<void> {
    const { logger, identity, leaseName } = this.#options;
    const budget = stopBudgetMs(this.#timings);
    const work = (async () => {
      try {
        await this.#options.onStoppedLeading();
      } catch (error) {
        logger.error({ err: describeError(error) }, "stopping leader work failed");
      }
    })();
    if (!(await within(work, budget))) {
      logger.error(
        { lease: leaseName, identity, budgetMs: budget },
        "leader work did not stop within the lease's margin: another replica may lead while it runs",
      );
      this.#options.onStopTimeout?.();
    }
  }

  #heldByOther(): boolean {
    const holder = this.#observed?.holder ?? "";
    return holder !== "" && holder !== this.#options.identity;
  }

  /** One try to take or keep the Lease; its requests are aborted after `budgetMs` or on `stop`. */
  async #tryAcquireOrRenew(budgetMs: number, stop: AbortSignal): Promise<boolean> {
    const { namespace, leaseName: name, identity, logger } = this.#options;
    const leaseDurationSeconds = Math.ceil(this.#timings.leaseDurationMs / 1000);
    const now = new Date();
    const options = abortWith(AbortSignal.any([stop, AbortSignal.timeout(budgetMs)]));
    try {
      let lease: k8s.V1Lease;
      try {
        lease = await this.#leases.readNamespacedLease({ name, namespace }, options);
        this.#lastContact = Date.now();
      } catch (error) {
        if (!isNotFound(error)) throw error;
        this.#lastContact = Date.now();
        await this.#leases.createNamespacedLease(
          {
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
          },
          options,
        );
        this.#observe({ holder: identity, renewTime: String(microTime(now)), transitions: 0 }, now.getTime());
        return true;
      }
      const spec = lease.spec ?? {};
      const record: Observed = {
        holder: spec.holderIdentity ?? "",
        renewTime: String(spec.renewTime ?? ""),
        transitions: spec.leaseTransitions ?? 0,
      };
      // Seen now, after the read returned: never earlier than the holder's
      // renewal, so a lease duration from here is never before its expiry.
      const seenAt = Date.now();
      this.#observe(record, seenAt);
      const heldByOther = record.holder !== "" && record.holder !== identity;
      if (heldByOther && this.#observedAt + this.#timings.leaseDurationMs > seenAt) return false;

      const ours = record.holder === identity;
      const next: k8s.V1LeaseSpec = {
        holderIdentity: identity,
        leaseDurationSeconds,
        acquireTime: ours && spec.acquireTime !== undefined ? spec.acquireTime : microTime(now),
        renewTime: microTime(now),
        leaseTransitions: ours ? record.transitions : record.transitions + 1,
      };
      await this.#leases.replaceNamespacedLease(
        {
          name,
          namespace,
          body: {
            metadata: { name, namespace, resourceVersion: lease.metadata?.resourceVersion },
            spec: next,
          },
        },
        options,
      );
      this.#observe(
        { holder: identity, renewTime: String(next.renewTime), transitions: next.leaseTransitions ?? 0 },
        now.getTime(),
      );
      if (heldByOther) logger.info({ lease: name, previous: record.holder }, "took over an expired lease");
      return true;
    } catch (error) {
      // A conflict means another replica wrote first: not ours this round.
      if (stop.aborted) return false;
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
    const options = abortWith(AbortSignal.timeout(requestTimeout(this.#timings)));
    try {
      const lease = await this.#leases.readNamespacedLease({ name, namespace }, options);
      if (lease.spec?.holderIdentity !== identity) return;
      const now = new Date();
      await this.#leases.replaceNamespacedLease(
        {
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
        },
        options,
      );
      logger.info({ lease: name, identity }, "released the leader lease");
    } catch (error) {
      logger.warn({ lease: name, err: describeError(error) }, "could not release the leader lease");
    }
  }
}
