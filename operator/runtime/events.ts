// Kubernetes Events on the objects the operator acts on, so `kubectl describe`
// tells what it did and why. Recording an Event never fails a reconcile: a
// lost Event is logged and forgotten.
import { randomBytes } from "node:crypto";
import * as k8s from "@kubernetes/client-node";
import type { Logger } from "pino";
import { describeError } from "./kube-errors.ts";

export interface EventTarget {
  apiVersion: string;
  kind: string;
  metadata: { name?: string; namespace?: string; uid?: string; resourceVersion?: string };
}

export type EventType = "Normal" | "Warning";

export class EventRecorder {
  readonly #core: k8s.CoreV1Api;
  readonly #component: string;
  readonly #instance: string;
  readonly #logger: Logger;

  constructor(kc: k8s.KubeConfig, options: { component: string; instance: string; logger: Logger }) {
    this.#core = kc.makeApiClient(k8s.CoreV1Api);
    this.#component = options.component;
    this.#instance = options.instance;
    this.#logger = options.logger;
  }

  async record(target: EventTarget, type: EventType, reason: string, message: string): Promise<void> {
    const { name = "", namespace = "default", uid, resourceVersion } = target.metadata;
    const now = new Date();
    try {
      await this.#core.createNamespacedEvent({
        namespace,
        body: {
          metadata: { name: `${name}.${randomBytes(8).toString("hex")}`, namespace },
          involvedObject: {
            apiVersion: target.apiVersion,
            kind: target.kind,
            name,
            namespace,
            uid,
            resourceVersion,
          },
          type,
          reason,
          message: message.slice(0, 1024),
          source: { component: this.#component },
          reportingComponent: this.#component,
          reportingInstance: this.#instance,
          firstTimestamp: now,
          lastTimestamp: now,
          count: 1,
        },
      });
    } catch (error) {
      this.#logger.warn(
        { reason, object: `${namespace}/${name}`, err: describeError(error) },
        "could not record event",
      );
    }
  }
}
