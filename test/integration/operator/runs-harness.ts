// Readers and writers for the run tests (runs-*.test.ts): WorkflowJobs as the
// jobs service creates them, and the Pods and batch Jobs behind them.
import * as k8s from "@kubernetes/client-node";
import { v7 as uuidv7 } from "uuid";
import type { Workflow } from "../../../operator/api/v1alpha1/workflow.ts";
import type { WorkflowJob } from "../../../operator/api/v1alpha1/workflow-job.ts";

const resource = { group: "chronoverse.dev", version: "v1alpha1", plural: "workflowjobs" };

export class Runs {
  readonly #custom: k8s.CustomObjectsApi;
  readonly #core: k8s.CoreV1Api;
  readonly #namespace: string;

  constructor(kc: k8s.KubeConfig, namespace: string) {
    this.#custom = kc.makeApiClient(k8s.CustomObjectsApi);
    this.#core = kc.makeApiClient(k8s.CoreV1Api);
    this.#namespace = namespace;
  }

  /** A MANUAL WorkflowJob exactly as ScheduleJob creates it. */
  async scheduleManual(workflow: Workflow, scheduledAt: Date): Promise<WorkflowJob> {
    const name = uuidv7();
    const workflowId = workflow.metadata.name ?? "";
    return (await this.#custom.createNamespacedCustomObject({
      ...resource,
      namespace: this.#namespace,
      body: {
        apiVersion: "chronoverse.dev/v1alpha1",
        kind: "WorkflowJob",
        metadata: {
          name,
          labels: {
            "chronoverse.dev/user-id": workflow.spec.userId,
            "chronoverse.dev/workflow-id": workflowId,
            "chronoverse.dev/trigger": "MANUAL",
          },
          ownerReferences: [
            {
              apiVersion: "chronoverse.dev/v1alpha1",
              kind: "Workflow",
              name: workflowId,
              uid: workflow.metadata.uid ?? "",
              controller: true,
            },
          ],
        },
        spec: {
          workflowName: workflowId,
          userId: workflow.spec.userId,
          trigger: "MANUAL",
          scheduledAt: scheduledAt.toISOString(),
        },
      },
    })) as WorkflowJob;
  }

  async get(name: string): Promise<WorkflowJob> {
    return (await this.#custom.getNamespacedCustomObject({
      ...resource,
      namespace: this.#namespace,
      name,
    })) as WorkflowJob;
  }

  /** WorkflowJobs of one workflow. */
  async list(workflowId: string): Promise<WorkflowJob[]> {
    const list = (await this.#custom.listNamespacedCustomObject({
      ...resource,
      namespace: this.#namespace,
      labelSelector: `chronoverse.dev/workflow-id=${workflowId}`,
    })) as { items: WorkflowJob[] };
    return list.items;
  }

  async pods(labelSelector: string): Promise<k8s.V1Pod[]> {
    return (await this.#core.listNamespacedPod({ namespace: this.#namespace, labelSelector })).items;
  }
}

/** One line per run, for wait messages. */
export function describeRuns(runs: WorkflowJob[]): string {
  return (
    runs
      .map(
        (r) =>
          `${r.metadata.name} ${r.spec.trigger} ${r.status?.phase ?? "-"} ${r.status?.reason ?? ""} pod=${r.status?.podName ?? "-"}`,
      )
      .join("; ") || "no runs yet"
  );
}
