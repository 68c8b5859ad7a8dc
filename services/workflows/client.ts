// Calling the workflows service's internal RPCs from another process (the
// operator's run controller, the jobs service) with a service token. Every
// call is safe to repeat: the failure counter is idempotent per job id, the
// build status is guarded by the generation.
import type { ChannelCredentials, Metadata, ServiceError } from "@grpc/grpc-js";
import { type GetWorkflowByIDResponse, WorkflowsServiceClient } from "../../gen/workflows/workflows.ts";
import type { Tokens } from "../../src/auth/tokens.ts";
import type { Config } from "../../src/config.ts";
import { channelCredentials, serviceAuth } from "../../src/grpc/client.ts";

export interface WorkflowsInternalClient {
  /** Workflow B (with user_id); rejects with NOT_FOUND when absent. */
  getWorkflowById(id: string): Promise<GetWorkflowByIDResponse>;
  /** Sets the build status; ignored by the service when `generation` (non-zero) is stale. */
  updateBuildStatus(id: string, userId: string, buildStatus: string, generation: number): Promise<void>;
  /**
   * Counts a failed job (once per job id). True exactly once: for the call
   * whose count reached the maximum and terminated the workflow — file the
   * threshold notification then.
   */
  incrementFailures(id: string, userId: string, jobId: string): Promise<boolean>;
  resetFailures(id: string, userId: string): Promise<void>;
  close(): void;
}

export interface WorkflowsClientOptions {
  /** host:port of the workflows service. */
  address: string;
  credentials: ChannelCredentials;
  /** Service-token metadata for each call (src/grpc/client.ts serviceAuth). */
  metadata: () => Promise<Metadata>;
  deadlineMs?: number;
}

type Callback<Res> = (error: ServiceError | null, response: Res) => void;

export function createWorkflowsClient({
  address,
  credentials,
  metadata,
  deadlineMs = 15_000,
}: WorkflowsClientOptions): WorkflowsInternalClient {
  const client = new WorkflowsServiceClient(address, credentials);
  const call = async <Req, Res>(
    method: (req: Req, md: Metadata, options: { deadline: number }, callback: Callback<Res>) => unknown,
    request: Req,
  ): Promise<Res> => {
    const md = await metadata();
    return new Promise((resolve, reject) => {
      method.call(client, request, md, { deadline: Date.now() + deadlineMs }, (error, response) =>
        error ? reject(error) : resolve(response),
      );
    });
  };
  return {
    getWorkflowById: (id) => call(client.getWorkflowById, { id }),
    async updateBuildStatus(id, userId, buildStatus, generation) {
      await call(client.updateWorkflowBuildStatus, {
        id,
        user_id: userId,
        build_status: buildStatus,
        generation,
      });
    },
    async incrementFailures(id, userId, jobId) {
      const response = await call(client.incrementWorkflowConsecutiveJobFailuresCount, {
        id,
        user_id: userId,
        job_id: jobId,
      });
      return response.threshold_reached;
    },
    async resetFailures(id, userId) {
      await call(client.resetWorkflowConsecutiveJobFailuresCount, { id, user_id: userId });
    },
    close: () => client.close(),
  };
}

/** A client for `service` (the token subject) from the process configuration. */
export function workflowsClientFromConfig(
  config: Config,
  tokens: Tokens,
  service: string,
): WorkflowsInternalClient {
  const auth = serviceAuth(tokens, service);
  return createWorkflowsClient({
    address: config.addresses.workflows,
    credentials: channelCredentials(config.tls),
    metadata: () => auth.metadata(),
  });
}
