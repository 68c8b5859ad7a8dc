// Filing notifications from another process (the operator, the workflows
// service): the events of ./events.ts sent to CreateNotification with a
// service token. Repeating an event is safe: its idempotency key makes the
// service return the first notification's id.
import type { ChannelCredentials, Metadata, ServiceError } from "@grpc/grpc-js";
import {
  type CreateNotificationRequest,
  NotificationsServiceClient,
} from "../../gen/notifications/notifications.ts";
import type { Tokens } from "../../src/auth/tokens.ts";
import type { Config } from "../../src/config.ts";
import { channelCredentials, serviceAuth } from "../../src/grpc/client.ts";
import { type NotificationEvent, notificationsFor } from "./events.ts";

export interface Notifier {
  /** Files the event's notifications; resolves with their ids. Rejects with the gRPC error. */
  notify(event: NotificationEvent): Promise<string[]>;
  close(): void;
}

export interface NotifierOptions {
  /** host:port of the notifications service. */
  address: string;
  credentials: ChannelCredentials;
  /** Service-token metadata for each call (src/grpc/client.ts serviceAuth). */
  metadata: () => Promise<Metadata>;
  /** Per-call deadline. */
  deadlineMs?: number;
}

export function createNotifier({
  address,
  credentials,
  metadata,
  deadlineMs = 10_000,
}: NotifierOptions): Notifier {
  const client = new NotificationsServiceClient(address, credentials);
  const create = async (request: CreateNotificationRequest): Promise<string> => {
    const md = await metadata();
    return new Promise((resolve, reject) => {
      client.createNotification(
        request,
        md,
        { deadline: Date.now() + deadlineMs },
        (error: ServiceError | null, response) => (error ? reject(error) : resolve(response.id)),
      );
    });
  };
  return {
    async notify(event) {
      const ids: string[] = [];
      for (const request of notificationsFor(event)) ids.push(await create(request));
      return ids;
    },
    close: () => client.close(),
  };
}

/** A notifier for `service` (the token subject) from the process configuration. */
export function notifierFromConfig(config: Config, tokens: Tokens, service: string): Notifier {
  const auth = serviceAuth(tokens, service);
  return createNotifier({
    address: config.addresses.notifications,
    credentials: channelCredentials(config.tls),
    metadata: () => auth.metadata(),
  });
}
