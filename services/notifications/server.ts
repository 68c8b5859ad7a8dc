// NotificationsService RPC handlers: check access and fields, call the store,
// shape the response. The rules live in ./domain.ts, the SQL in ./store.ts.
import {
  type NotificationsServiceServer,
  NotificationsServiceService,
} from "../../gen/notifications/notifications.ts";
import { requireSameUser } from "../../src/grpc/handlers.ts";
import type { ServiceFactory, ServiceInstance } from "../../src/grpc/service.ts";
import { formatTimestamp, parseIdsToMark, parseNewNotification, requireUuid } from "./domain.ts";
import { createNotification, listUnreadNotifications, markNotificationsRead } from "./store.ts";

export interface NotificationsServiceOptions {
  /** Page size of ListNotifications; SPEC.md's 1000 unless a test sets it. */
  pageSize?: number;
}

/** A factory for `chronoverse serve`, with options for tests. */
export function notificationsServiceFactory(options: NotificationsServiceOptions = {}): ServiceFactory {
  return async ({ handlers, database }): Promise<ServiceInstance> => {
    const db = database();
    const implementation: NotificationsServiceServer = {
      createNotification: handlers.unary("internal", async (request) => {
        const { id } = await createNotification(db, parseNewNotification(request));
        return { id };
      }),

      markNotificationsRead: handlers.unary("user", async (request, context) => {
        requireSameUser(context, request.user_id);
        const userId = requireUuid("user_id", request.user_id);
        await markNotificationsRead(db, userId, parseIdsToMark(request.ids));
        return {};
      }),

      listNotifications: handlers.unary("user", async (request, context) => {
        requireSameUser(context, request.user_id);
        const userId = requireUuid("user_id", request.user_id);
        const page = await listUnreadNotifications(db, userId, {
          cursor: request.cursor,
          ...(options.pageSize !== undefined ? { pageSize: options.pageSize } : {}),
        });
        return {
          notifications: page.notifications.map((n) => ({
            id: n.id,
            kind: n.kind,
            payload: JSON.stringify(n.payload),
            read_at: formatTimestamp(n.readAt),
            created_at: formatTimestamp(n.createdAt),
            updated_at: formatTimestamp(n.updatedAt),
          })),
          cursor: page.cursor,
        };
      }),
    };
    return {
      name: "notifications.NotificationsService",
      definition: NotificationsServiceService,
      implementation,
    };
  };
}

export const createNotificationsService: ServiceFactory = notificationsServiceFactory();
