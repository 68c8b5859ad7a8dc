// AnalyticsService RPC handlers: read the counters for the caller. The write
// side is ./recorder.ts, imported by the operator (docs/analytics.md).
import { type AnalyticsServiceServer, AnalyticsServiceService } from "../../gen/analytics/analytics.ts";
import { NotFound } from "../../src/grpc/errors.ts";
import { requireSameUser } from "../../src/grpc/handlers.ts";
import type { ServiceFactory, ServiceInstance } from "../../src/grpc/service.ts";
import { requireUuid, userAnalyticsResponse, workflowAnalyticsResponse } from "./domain.ts";
import { getUserTotals, getWorkflowTotals } from "./store.ts";

export const createAnalyticsService: ServiceFactory = async ({
  handlers,
  database,
}): Promise<ServiceInstance> => {
  const db = database();
  const implementation: AnalyticsServiceServer = {
    getUserAnalytics: handlers.unary("user", async (request, context) => {
      requireSameUser(context, request.user_id);
      const userId = requireUuid("user_id", request.user_id);
      return userAnalyticsResponse(await getUserTotals(db, userId));
    }),

    getWorkflowAnalytics: handlers.unary("user", async (request, context) => {
      requireSameUser(context, request.user_id);
      const userId = requireUuid("user_id", request.user_id);
      const workflowId = requireUuid("workflow_id", request.workflow_id);
      const totals = await getWorkflowTotals(db, userId, workflowId);
      // Absent and another user's look the same (SPEC.md: NotFound).
      if (!totals) throw new NotFound(`workflow_id: workflow ${workflowId} not found`);
      return workflowAnalyticsResponse(totals);
    }),
  };
  return { name: "analytics.AnalyticsService", definition: AnalyticsServiceService, implementation };
};
