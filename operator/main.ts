// `chronoverse operator`: wires the operator together and does nothing else —
// cluster access, leader election on a Lease (only the leader runs the
// controllers), the controllers (Workflow → CronJob, run tracking, and what
// happens when a run ends, when Postgres is configured), Prometheus metrics on
// :8080 and /healthz /readyz on :8081.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import * as k8s from "@kubernetes/client-node";
import type { Logger } from "pino";
import { ConfigError } from "../src/config.ts";
import { createLogger } from "../src/logging.ts";
import { loadOperatorConfig, type OperatorConfig, OperatorConfigError } from "./config.ts";
import { RunCompletionController, runCompletionFromEnv } from "./controllers/run-completion.ts";
import { WorkflowController } from "./controllers/workflow.ts";
import { RunController } from "./controllers/workflow-job.ts";
import { EventRecorder } from "./runtime/events.ts";
import { describeError } from "./runtime/kube-errors.ts";
import { LeaderElector } from "./runtime/leader-election.ts";
import { OperatorMetrics } from "./runtime/metrics.ts";

export interface RunningOperator {
  identity: string;
  /** Ports actually bound (differ from the configuration when it asked for 0). */
  metricsPort: number;
  probePort: number;
  metrics: OperatorMetrics;
  isLeader(): boolean;
  /**
   * True when this replica can do its job: a standby that reaches the apiserver,
   * or a leader whose caches are filled; either one reaching the database when
   * end-of-run actions are on.
   */
  isReady(): boolean;
  /**
   * Stops the controllers and the HTTP servers. `releaseLease: false` leaves the
   * Lease as it is, like a crashed process would (tests use it to check a takeover).
   */
  stop(options?: { releaseLease?: boolean }): Promise<void>;
}

function listen(server: Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve((server.address() as AddressInfo).port));
  });
}

function close(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

export async function runOperator(config: OperatorConfig): Promise<RunningOperator> {
  const logger: Logger = config.logger ?? createLogger({ level: config.logLevel, name: "operator" });
  const kc = config.kubeConfig ?? new k8s.KubeConfig();
  if (config.kubeConfig === undefined) kc.loadFromDefault();
  const metrics = new OperatorMetrics({ defaultMetrics: true });
  const events = new EventRecorder(kc, {
    component: "chronoverse-operator",
    instance: config.identity,
    logger,
  });

  let workflows: WorkflowController | undefined;
  let starting: Promise<void> | undefined;
  // Run tracking: mirrors scheduled Jobs, creates manual runs' Pods, keeps WorkflowJob phases.
  let runPhases: RunController | undefined;
  let runPhasesStarting: Promise<void> | undefined;
  let runs: RunCompletionController | undefined;
  let runsStarting: Promise<void> | undefined;
  const elector = new LeaderElector({
    kc,
    namespace: config.namespace,
    leaseName: config.leaseName,
    identity: config.identity,
    timings: config.lease,
    logger,
    ...(config.onStopTimeout === undefined ? {} : { onStopTimeout: config.onStopTimeout }),
    onStartedLeading: () => {
      metrics.leader.set(1);
      const controller = new WorkflowController({
        kc,
        namespace: config.namespace,
        podSettings: config.pods,
        workers: config.workers,
        logger,
        metrics,
        events,
        resyncMs: config.resyncMs,
        ...(config.backoff === undefined ? {} : { backoff: config.backoff }),
        ...(config.hooks === undefined ? {} : { hooks: config.hooks }),
        ...(config.runCompletion === undefined
          ? {}
          : { notifier: config.runCompletion.notifier, runPodsStoppedAfterLogs: true }),
      });
      workflows = controller;
      // Not awaited: the elector must keep renewing while the caches fill.
      starting = controller.start().catch((error: unknown) => {
        logger.error({ err: describeError(error) }, "workflow controller did not start");
      });
      const tracker = new RunController({
        kc,
        namespace: config.namespace,
        podSettings: config.pods,
        workers: config.workers,
        logger,
        metrics,
        events,
        resyncMs: config.resyncMs,
        ...(config.backoff === undefined ? {} : { backoff: config.backoff }),
      });
      runPhases = tracker;
      runPhasesStarting = tracker.start().catch((error: unknown) => {
        logger.error({ err: describeError(error) }, "run controller did not start");
      });
      if (config.runCompletion !== undefined) {
        const completion = new RunCompletionController({
          kc,
          namespace: config.namespace,
          workers: config.workers,
          logger,
          metrics,
          events,
          resyncMs: config.resyncMs,
          ...(config.backoff === undefined ? {} : { backoff: config.backoff }),
          settings: config.runCompletion,
        });
        runs = completion;
        runsStarting = completion.start().catch((error: unknown) => {
          logger.error({ err: describeError(error) }, "run completion controller did not start");
        });
      }
    },
    onStoppedLeading: async () => {
      metrics.leader.set(0);
      // Everything this term started, taken at once: the elector waits for this
      // stop a bounded time only, and a next term must not lose its own controllers.
      const tracker = runPhases;
      const trackerStarting = runPhasesStarting;
      const controller = workflows;
      const controllerStarting = starting;
      const completion = runs;
      const completionStarting = runsStarting;
      runPhases = undefined;
      workflows = undefined;
      runs = undefined;
      await tracker?.stop();
      await trackerStarting;
      await Promise.all([controller?.stop(), completion?.stop()]);
      await Promise.all([controllerStarting, completionStarting]);
    },
  });

  const metricsServer = createServer((req, res) => {
    if (req.method === "GET" && req.url?.split("?")[0] === "/metrics") {
      metrics.registry.metrics().then(
        (text) => {
          res.writeHead(200, { "content-type": metrics.registry.contentType });
          res.end(text);
        },
        (error: unknown) => {
          res.writeHead(500, { "content-type": "text/plain" });
          res.end(`metrics failed: ${describeError(error)}\n`);
        },
      );
      return;
    }
    res.writeHead(404, { "content-type": "text/plain" });
    res.end("not found\n");
  });

  // A replica that cannot reach the database its end-of-run actions need is
  // not ready (leader or standby: a standby would need it on taking over).
  const databaseReady = (): boolean => config.runCompletion?.databaseUp?.() !== false;
  const isReady = (): boolean =>
    elector.reachable() &&
    databaseReady() &&
    (!elector.isLeader || ((workflows?.workflows.hasSynced ?? false) && (runPhases?.hasSynced ?? false)));
  const probeServer = createServer((req, res) => {
    const path = req.url?.split("?")[0];
    if (path === "/healthz" || path === "/livez") {
      res.writeHead(200, { "content-type": "text/plain" });
      res.end("ok\n");
    } else if (path === "/readyz") {
      const ready = isReady();
      res.writeHead(ready ? 200 : 503, { "content-type": "text/plain" });
      res.end(ready ? "ok\n" : "not ready\n");
    } else {
      res.writeHead(404, { "content-type": "text/plain" });
      res.end("not found\n");
    }
  });

  const metricsPort = await listen(metricsServer, config.metricsPort, config.host);
  const probePort = await listen(probeServer, config.probePort, config.host);
  elector.start();
  logger.info(
    { namespace: config.namespace, identity: config.identity, metricsPort, probePort },
    "operator started; campaigning for the leader lease",
  );

  let stopped: Promise<void> | undefined;
  return {
    identity: config.identity,
    metricsPort,
    probePort,
    metrics,
    isLeader: () => elector.isLeader,
    isReady,
    stop(options = {}) {
      stopped ??= (async () => {
        await elector.stop({ release: options.releaseLease ?? true });
        await Promise.all([close(metricsServer), close(probeServer)]);
        logger.info({ identity: config.identity }, "operator stopped");
      })();
      return stopped;
    },
  };
}

/**
 * Entry point for `chronoverse operator`: configuration from the environment,
 * runs until SIGTERM/SIGINT. Resolves with the exit code (2: bad configuration).
 */
export async function runOperatorCommand(
  env: Record<string, string | undefined> = process.env,
): Promise<number> {
  let config: OperatorConfig;
  try {
    config = loadOperatorConfig(env);
  } catch (error) {
    if (!(error instanceof OperatorConfigError)) throw error;
    process.stderr.write(`chronoverse operator: ${error.message}\n`);
    return 2;
  }
  const logger = createLogger({ level: config.logLevel, name: "operator" });
  // End-of-run actions need Postgres and the notifications service (src/config.ts variables).
  let completion: ReturnType<typeof runCompletionFromEnv>;
  try {
    completion = runCompletionFromEnv(env, logger, config.runHistoryLimit);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`chronoverse operator: ${error.message}\n`);
    return 2;
  }
  const operator = await runOperator({
    ...config,
    logger,
    onStopTimeout: () => {
      logger.fatal("exiting: leader work did not stop in time, and another replica may now lead");
      process.exit(1);
    },
    ...(completion === undefined ? {} : { runCompletion: completion.settings }),
  });
  await new Promise<void>((resolve) => {
    const shutdown = () => {
      process.off("SIGTERM", shutdown);
      process.off("SIGINT", shutdown);
      void operator
        .stop()
        .then(() => completion?.close())
        .then(resolve);
    };
    process.on("SIGTERM", shutdown);
    process.on("SIGINT", shutdown);
  });
  return 0;
}
