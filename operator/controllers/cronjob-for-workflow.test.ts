import { describe, expect, it } from "vitest";
import type { Workflow, WorkflowSpec } from "../api/v1alpha1/workflow.ts";
import {
  cronJobForWorkflow,
  defaultPodSettings,
  InvalidWorkflowError,
  type PodSettings,
  scheduleForInterval,
} from "./cronjob-for-workflow.ts";

const userId = "0192f0a4-1111-7000-8000-000000000001";
const name = "0192f0a4-2222-7000-8000-000000000002";

function workflow(spec: Partial<WorkflowSpec> = {}, generation = 1): Workflow {
  return {
    apiVersion: "chronoverse.dev/v1alpha1",
    kind: "Workflow",
    metadata: { name, namespace: "chronoverse", uid: "uid-1", generation },
    spec: {
      userId,
      displayName: "check",
      kind: "HEARTBEAT",
      heartbeat: { endpoint: "https://example.com/health", expectedStatusCode: 204, timeoutSeconds: 10 },
      intervalMinutes: 5,
      maxConsecutiveFailures: 3,
      logRetention: false,
      terminated: false,
      ...spec,
    },
  };
}

const containerSpec: Partial<WorkflowSpec> = {
  kind: "CONTAINER",
  heartbeat: undefined,
  container: {
    image: "busybox:1.36",
    command: ["sh", "-c", "echo hi"],
    env: { B: "2", A: "1" },
    timeoutSeconds: 120,
  },
  logRetention: true,
};

describe("scheduleForInterval", () => {
  it.each([
    [1, "* * * * *"],
    [2, "*/2 * * * *"],
    [5, "*/5 * * * *"],
    [15, "*/15 * * * *"],
    [30, "*/30 * * * *"],
    [60, "0 * * * *"],
    [120, "0 */2 * * *"],
    [180, "0 */3 * * *"],
    [360, "0 */6 * * *"],
    [480, "0 */8 * * *"],
    [720, "0 */12 * * *"],
    [1440, "0 0 * * *"],
    [10080, "0 0 * * 0"],
  ])("interval %i has the exact cron form %s", (interval, cron) => {
    expect(scheduleForInterval(interval)).toEqual({ cron, clockAligned: true });
  });

  it.each([7, 9, 45, 90, 100, 300, 1000, 2880, 5000, 10079])(
    "interval %i has no cron form: @every",
    (interval) => {
      expect(scheduleForInterval(interval)).toEqual({ cron: `@every ${interval}m`, clockAligned: false });
    },
  );

  it("gives every allowed interval a schedule that repeats at exactly that interval", () => {
    for (let interval = 1; interval <= 10080; interval++) {
      const { cron } = scheduleForInterval(interval);
      if (cron.startsWith("@every")) {
        expect(cron).toBe(`@every ${interval}m`);
        continue;
      }
      const [minute, hour, , , weekday] = cron.split(" ");
      const minuteStep = minute === "*" ? 1 : minute?.startsWith("*/") ? Number(minute.slice(2)) : 60;
      const period =
        weekday === "0"
          ? 10080
          : hour === "*"
            ? minuteStep
            : hour?.startsWith("*/")
              ? Number(hour.slice(2)) * 60
              : 1440;
      expect(period).toBe(interval);
      // Steps that do not divide their cycle would restart early at the cycle's end.
      if (hour === "*") expect(60 % minuteStep).toBe(0);
      if (hour?.startsWith("*/")) expect(24 % Number(hour.slice(2))).toBe(0);
    }
  });

  it.each([0, -5, 1.5, Number.NaN])("refuses interval %s", (interval) => {
    expect(() => scheduleForInterval(interval)).toThrow(RangeError);
  });
});

describe("cronJobForWorkflow", () => {
  it("owns the CronJob through a controller owner reference and labels everything", () => {
    const cronJob = cronJobForWorkflow(workflow());
    expect(cronJob.metadata).toEqual({
      name,
      namespace: "chronoverse",
      labels: {
        "chronoverse.dev/user-id": userId,
        "chronoverse.dev/workflow-id": name,
        "app.kubernetes.io/managed-by": "chronoverse-operator",
        "app.kubernetes.io/part-of": "chronoverse",
      },
      ownerReferences: [
        {
          apiVersion: "chronoverse.dev/v1alpha1",
          kind: "Workflow",
          name,
          uid: "uid-1",
          controller: true,
          blockOwnerDeletion: true,
        },
      ],
    });
    expect(cronJob.spec?.jobTemplate.metadata?.labels).toEqual(cronJob.metadata?.labels);
    expect(cronJob.spec?.jobTemplate.spec?.template.metadata?.labels).toEqual(cronJob.metadata?.labels);
    expect(cronJob.spec?.jobTemplate.spec?.template.metadata?.annotations).toEqual({
      "chronoverse.dev/workflow-generation": "1",
    });
  });

  it.each([
    [1, 60],
    [5, 300],
    [45, 2700],
    [60, 3600],
    [1440, 3600],
  ])("schedules interval %i without overlap and a start deadline of %i s", (intervalMinutes, deadline) => {
    const spec = cronJobForWorkflow(workflow({ intervalMinutes })).spec;
    expect(spec).toMatchObject({
      schedule: scheduleForInterval(intervalMinutes).cron,
      timeZone: "Etc/UTC",
      concurrencyPolicy: "Forbid",
      startingDeadlineSeconds: deadline,
      suspend: false,
    });
  });

  it("suspends the schedule of a terminated workflow", () => {
    expect(cronJobForWorkflow(workflow({ terminated: true })).spec?.suspend).toBe(true);
  });

  it("runs a HEARTBEAT as `chronoverse heartbeat` from the project's image", () => {
    const settings: PodSettings = { ...defaultPodSettings, image: "registry.example/chronoverse:1.2.3" };
    const job = cronJobForWorkflow(
      workflow({
        heartbeat: {
          endpoint: "https://example.com/health",
          expectedStatusCode: 204,
          timeoutSeconds: 15,
          headers: { "X-Token": ["a", "b"], Accept: ["text/plain"] },
        },
      }),
      settings,
    ).spec?.jobTemplate.spec;
    expect(job?.backoffLimit).toBe(0);
    expect(job?.activeDeadlineSeconds).toBe(45);
    expect(job?.template.spec?.activeDeadlineSeconds).toBe(45);
    expect(job?.template.spec?.containers).toEqual([
      {
        name: "heartbeat",
        image: "registry.example/chronoverse:1.2.3",
        command: ["chronoverse"],
        args: [
          "heartbeat",
          "--url",
          "https://example.com/health",
          "--expected-status",
          "204",
          "--timeout",
          "15s",
          "--header",
          "Accept: text/plain",
          "--header",
          "X-Token: a",
          "--header",
          "X-Token: b",
        ],
        resources: defaultPodSettings.resources,
        securityContext: {
          allowPrivilegeEscalation: false,
          capabilities: { drop: ["ALL"] },
          runAsNonRoot: true,
          readOnlyRootFilesystem: true,
          seccompProfile: { type: "RuntimeDefault" },
        },
      },
    ]);
  });

  it("lets a heartbeat reach private addresses only when the installation allows it", () => {
    const argsOf = (settings: PodSettings) =>
      cronJobForWorkflow(workflow({}), settings).spec?.jobTemplate.spec?.template.spec?.containers[0]?.args;
    expect(argsOf(defaultPodSettings)).not.toContain("--allow-private");
    expect(argsOf({ ...defaultPodSettings, allowPrivateHeartbeats: true })?.at(-1)).toBe("--allow-private");
  });

  it("runs a CONTAINER's image with its arguments and sorted environment, the timeout as deadline", () => {
    const job = cronJobForWorkflow(workflow(containerSpec)).spec?.jobTemplate.spec;
    expect(job?.activeDeadlineSeconds).toBe(120);
    expect(job?.template.spec?.activeDeadlineSeconds).toBe(120);
    expect(job?.template.spec?.containers).toEqual([
      {
        name: "run",
        image: "busybox:1.36",
        args: ["sh", "-c", "echo hi"],
        env: [
          { name: "A", value: "1" },
          { name: "B", value: "2" },
        ],
        resources: defaultPodSettings.resources,
        securityContext: {
          allowPrivilegeEscalation: false,
          capabilities: { drop: ["ALL"] },
          runAsNonRoot: true,
          seccompProfile: { type: "RuntimeDefault" },
        },
      },
    ]);
  });

  it("leaves out arguments and environment a CONTAINER does not set", () => {
    const container = cronJobForWorkflow(
      workflow({ ...containerSpec, container: { image: "nginx", timeoutSeconds: 30 } }),
    ).spec?.jobTemplate.spec?.template.spec?.containers[0];
    expect(container).not.toHaveProperty("args");
    expect(container).not.toHaveProperty("env");
  });

  it.each([
    ["HEARTBEAT", workflow()],
    ["CONTAINER", workflow(containerSpec)],
  ])("locks down every %s pod: no token, restricted profile, no restarts", (_kind, wf) => {
    const pod = cronJobForWorkflow(wf).spec?.jobTemplate.spec?.template.spec;
    expect(pod).toMatchObject({
      restartPolicy: "Never",
      automountServiceAccountToken: false,
      enableServiceLinks: false,
      // A chosen user: images that run as root by default (busybox) still start.
      securityContext: {
        runAsNonRoot: true,
        runAsUser: 65532,
        runAsGroup: 65532,
        seccompProfile: { type: "RuntimeDefault" },
      },
    });
    expect(pod).not.toHaveProperty("nodeSelector");
    expect(pod).not.toHaveProperty("tolerations");
    expect(pod?.containers[0]?.resources).toEqual({
      requests: { cpu: "50m", memory: "64Mi" },
      limits: { cpu: "500m", memory: "256Mi" },
    });
  });

  it("sends runs to the node pool the installation names", () => {
    const settings: PodSettings = {
      ...defaultPodSettings,
      nodeSelector: { "chronoverse.dev/real-node": "true" },
      tolerations: [
        { key: "chronoverse.dev/real-node", operator: "Equal", value: "true", effect: "NoSchedule" },
      ],
    };
    const pod = cronJobForWorkflow(workflow(containerSpec), settings).spec?.jobTemplate.spec?.template.spec;
    expect(pod?.nodeSelector).toEqual({ "chronoverse.dev/real-node": "true" });
    expect(pod?.tolerations).toEqual(settings.tolerations);
  });

  it("is deterministic: the same workflow gives the same CronJob", () => {
    expect(cronJobForWorkflow(workflow(containerSpec))).toEqual(cronJobForWorkflow(workflow(containerSpec)));
  });

  it("refuses a workflow without its kind's settings", () => {
    expect(() => cronJobForWorkflow(workflow({ heartbeat: undefined }))).toThrow(InvalidWorkflowError);
    expect(() => cronJobForWorkflow(workflow({ ...containerSpec, container: undefined }))).toThrow(
      /spec.container is required/,
    );
  });
});
