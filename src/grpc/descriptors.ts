// The API's descriptors for server reflection, loaded from the .proto files
// that are the source of truth (proto/ in the repository and the image), plus
// the health service's own proto, so `grpcurl list` / `describe` work without
// local proto files.
import { resolve } from "node:path";
import { fromBinary, isFieldSet, toBinary } from "@bufbuild/protobuf";
import {
  type DescriptorProto,
  FieldDescriptorProtoSchema,
  FileDescriptorProtoSchema,
} from "@bufbuild/protobuf/wkt";
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
  if (cached === undefined) {
    cached = loadSync([...API_PROTO_FILES.map((file) => resolve(PROTO_ROOT, file)), healthProtoPath], {
      includeDirs: [PROTO_ROOT],
      keepCase: true,
    });
    repairDescriptors(cached);
  }
  return cached;
}

/**
 * protobufjs loses two details when it turns the .proto files back into
 * descriptors, and strict clients such as grpcurl notice:
 * - a map field's synthetic entry message is named after the field
 *   ("Statuses") instead of "<Field>Entry" ("StatusesEntry"): grpcurl refuses
 *   the whole file ("invalid map: incorrect implicit map entry name"), and
 *   grpc.health.v1.HealthListResponse has a map;
 * - `optional` fields keep their synthetic oneof (`_log_retention`) but lose
 *   the proto3_optional flag, so they would be described as a real oneof.
 * Repair the descriptors the reflection service hands out.
 */
function repairDescriptors(definition: PackageDefinition): void {
  const fixed = new Map<string, Buffer>();
  const fixMessage = (message: DescriptorProto): void => {
    for (const nested of message.nestedType) fixMessage(nested);
    for (const field of message.field) {
      const entryName = `${field.name.replace(/(^|_)(\w)/g, (_, __, c: string) => c.toUpperCase())}Entry`;
      const nested = message.nestedType.find(
        (n) => n.options?.mapEntry === true && field.typeName.split(".").pop() === n.name,
      );
      if (nested === undefined || nested.name === entryName) continue;
      field.typeName = `${field.typeName.slice(0, field.typeName.lastIndexOf(".") + 1)}${entryName}`;
      nested.name = entryName;
    }
    message.field.forEach((field) => {
      if (!isFieldSet(field, FieldDescriptorProtoSchema.field.oneofIndex)) return;
      const oneof = message.oneofDecl[field.oneofIndex];
      const members = message.field.filter(
        (other) =>
          isFieldSet(other, FieldDescriptorProtoSchema.field.oneofIndex) &&
          other.oneofIndex === field.oneofIndex,
      );
      if (oneof?.name === `_${field.name}` && members.length === 1) field.proto3Optional = true;
    });
  };
  for (const entry of Object.values(definition) as { fileDescriptorProtos?: Buffer[] }[]) {
    if (!Array.isArray(entry.fileDescriptorProtos)) continue;
    entry.fileDescriptorProtos = entry.fileDescriptorProtos.map((bytes) => {
      const key = bytes.toString("base64");
      let result = fixed.get(key);
      if (result === undefined) {
        const file = fromBinary(FileDescriptorProtoSchema, bytes);
        for (const message of file.messageType) fixMessage(message);
        result = Buffer.from(toBinary(FileDescriptorProtoSchema, file));
        fixed.set(key, result);
      }
      return result;
    });
  }
}
