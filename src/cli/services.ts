// The services `chronoverse serve` knows, by name. Each entry loads its
// module lazily (a process only imports what it serves). To add a service, add
// one line: `name: { usesDatabase, load: async () => (await import(...)).factory }`.
import type { ServiceName } from "../config.ts";
import type { ServiceFactory } from "../grpc/service.ts";

export interface ServiceEntry {
  /** Needs Postgres: `serve` then requires DATABASE_URL and runs migrations first. */
  usesDatabase: boolean;
  load(): Promise<ServiceFactory>;
}

export const services: Partial<Record<ServiceName, ServiceEntry>> = {
  users: {
    usesDatabase: true,
    load: async () => (await import("../../services/users/server.ts")).createUsersService,
  },
  workflows: {
    usesDatabase: true,
    load: async () => (await import("../../services/workflows/server.ts")).createWorkflowsService,
  },
  notifications: {
    usesDatabase: true,
    load: async () => (await import("../../services/notifications/server.ts")).createNotificationsService,
  },
  jobs: {
    usesDatabase: true,
    load: async () => (await import("../../services/jobs/server.ts")).createJobsService,
  },
  analytics: {
    usesDatabase: true,
    load: async () => (await import("../../services/analytics/server.ts")).createAnalyticsService,
  },
};
