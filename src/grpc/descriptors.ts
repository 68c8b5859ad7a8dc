// The API's descriptors for server reflection, loaded from the .proto files
// that are the source of truth (proto/ in the repository and the image), plus
// the health service's own proto, so `grpcurl list` / `describe` work without
// local proto files.
import { resolve } from "node:path";
import { loadSync, type PackageDefinition } from "@grpc/proto-loader";
import { protoPath as healthProtoPath } from "grpc-health-check";

export const PROTO_ROOT = resolve(import.meta.dirname, "../../proto");

export const API_PROTO_FILES = [
  "users/users.proto",
  "workflows/workflows.proto",
  "jobs/jobs.proto",
  "notifications/notifications.proto",
  "analytics/analytics.proto",
];

export const HEALTH_SERVICE_NAME = "grpc.health.v1.Health";

let cached: PackageDefinition | undefined;

/** Every message and service of the API and of grpc.health.v1 (loaded once). */
export function apiPackageDefinition(): PackageDefinition {
  cached ??= loadSync([...API_PROTO_FILES.map((file) => resolve(PROTO_ROOT, file)), healthProtoPath], {
    includeDirs: [PROTO_ROOT],
    keepCase: true,
  });
  return cached;
}
