// The wire contract of SPEC.md, checked against the .proto files: every
// message's field names, numbers, types and labels, and every service's
// methods. A renumbered or retyped field breaks existing clients silently;
// this makes it loud. Notation: `name=N` is a string; `:type` otherwise;
// `[]` repeated; `?` proto3 optional.
import { describe, expect, it } from "vitest";
import { apiPackageDefinition } from "./descriptors.ts";

const MESSAGES: Record<string, string> = {
  "users.RegisterUserRequest": "email=1 password=2",
  "users.RegisterUserResponse": "user_id=1",
  "users.LoginUserRequest": "email=1 password=2",
  "users.LoginUserResponse": "user_id=1",
  "users.GetUserRequest": "id=1",
  "users.GetUserResponse": "email=1 notification_preference=2 created_at=3 updated_at=4",
  "users.UpdateUserRequest": "id=1 notification_preference=2",
  "users.UpdateUserResponse": "",

  "workflows.CreateWorkflowRequest":
    "user_id=1 name=2 payload=3 kind=4 interval=5:int32 max_consecutive_job_failures_allowed=6:int32 log_retention=7:bool? idempotency_key=8",
  "workflows.CreateWorkflowResponse": "id=1",
  "workflows.UpdateWorkflowRequest":
    "id=1 user_id=2 name=3 payload=4 interval=5:int32 max_consecutive_job_failures_allowed=6:int32 idempotency_key=7",
  "workflows.UpdateWorkflowResponse": "",
  "workflows.UpdateWorkflowBuildStatusRequest": "id=1 user_id=2 build_status=3 generation=4:int64",
  "workflows.UpdateWorkflowBuildStatusResponse": "",
  "workflows.GetWorkflowRequest": "id=1 user_id=2",
  "workflows.GetWorkflowResponse":
    "id=1 name=2 payload=3 kind=4 build_status=5 interval=6:int32 consecutive_job_failures_count=7:int32 max_consecutive_job_failures_allowed=8:int32 created_at=9 updated_at=10 terminated_at=11 log_retention=12:bool generation=13:int64",
  "workflows.GetWorkflowByIDRequest": "id=1",
  "workflows.GetWorkflowByIDResponse":
    "id=1 user_id=2 name=3 payload=4 kind=5 build_status=6 interval=7:int32 consecutive_job_failures_count=8:int32 max_consecutive_job_failures_allowed=9:int32 created_at=10 updated_at=11 terminated_at=12 log_retention=13:bool generation=14:int64",
  "workflows.IncrementWorkflowConsecutiveJobFailuresCountRequest": "id=1 user_id=2 job_id=3",
  "workflows.IncrementWorkflowConsecutiveJobFailuresCountResponse": "threshold_reached=1:bool",
  "workflows.ResetWorkflowConsecutiveJobFailuresCountRequest": "id=1 user_id=2",
  "workflows.ResetWorkflowConsecutiveJobFailuresCountResponse": "",
  "workflows.TerminateWorkflowRequest": "id=1 user_id=2",
  "workflows.TerminateWorkflowResponse": "",
  "workflows.DeleteWorkflowRequest": "id=1 user_id=2",
  "workflows.DeleteWorkflowResponse": "",
  "workflows.ListWorkflowsFilters":
    "query=1 kind=2 build_status=3 is_terminated=4:bool interval_min=5:int32 interval_max=6:int32",
  "workflows.ListWorkflowsRequest": "user_id=1 cursor=2 filters=3:ListWorkflowsFilters?",
  "workflows.WorkflowsByUserIDResponse":
    "id=1 name=2 payload=3 kind=4 build_status=5 interval=6:int32 consecutive_job_failures_count=7:int32 max_consecutive_job_failures_allowed=8:int32 created_at=9 updated_at=10 log_retention=11:bool terminated_at=12",
  "workflows.ListWorkflowsResponse": "workflows=1:WorkflowsByUserIDResponse[] cursor=2",

  "jobs.ScheduleJobRequest":
    "workflow_id=1 user_id=2 scheduled_at=3 trigger=4 idempotency_key=5 workflow_generation=6:int64",
  "jobs.ScheduleJobResponse": "id=1",
  "jobs.UpdateJobStatusRequest": "id=1 container_id=2 status=3",
  "jobs.UpdateJobStatusResponse": "",
  "jobs.GetJobRequest": "id=1 workflow_id=2 user_id=3",
  "jobs.GetJobResponse":
    "id=1 workflow_id=2 status=3 trigger=4 scheduled_at=5 started_at=6 completed_at=7 created_at=8 updated_at=9",
  "jobs.GetJobByIDRequest": "id=1",
  "jobs.GetJobByIDResponse":
    "id=1 workflow_id=2 user_id=3 container_id=4 status=5 trigger=6 scheduled_at=7 started_at=8 completed_at=9 created_at=10 updated_at=11",
  "jobs.GetJobLogsFilters": "stream=1:LogStream",
  "jobs.GetJobLogsRequest":
    "id=1 workflow_id=2 user_id=3 cursor=4 filters=5:GetJobLogsFilters sort_order=6:LogSortOrder",
  "jobs.Log": "timestamp=1 message=2 sequence_num=3:uint32 stream=4 event_id=5",
  "jobs.GetJobLogsResponse": "id=1 workflow_id=2 logs=3:Log[] cursor=4 highlight_token=5",
  "jobs.StreamJobLogsRequest": "id=1 workflow_id=2 user_id=3",
  "jobs.SearchJobLogsFilters": "stream=1:LogStream message=2",
  "jobs.SearchJobLogsRequest":
    "id=1 workflow_id=2 user_id=3 cursor=4 filters=5:SearchJobLogsFilters sort_order=6:LogSortOrder disable_highlight=7:bool",
  "jobs.ListJobsFilters": "status=1 trigger=2",
  "jobs.ListJobsRequest": "workflow_id=1 user_id=2 cursor=3 filters=4:ListJobsFilters?",
  "jobs.JobsResponse":
    "id=1 workflow_id=2 container_id=3 status=4 trigger=5 scheduled_at=6 started_at=7 completed_at=8 created_at=9 updated_at=10 attempts=11:int32",
  "jobs.ListJobsResponse": "jobs=1:JobsResponse[] cursor=2",

  "notifications.CreateNotificationRequest": "user_id=1 kind=2 payload=3 idempotency_key=4",
  "notifications.CreateNotificationResponse": "id=1",
  "notifications.MarkNotificationsReadRequest": "ids=1:string[] user_id=2",
  "notifications.MarkNotificationsReadResponse": "",
  "notifications.ListNotificationsRequest": "user_id=1 cursor=2",
  "notifications.NotificationResponse": "id=1 kind=2 payload=3 read_at=4 created_at=5 updated_at=6",
  "notifications.ListNotificationsResponse": "notifications=1:NotificationResponse[] cursor=2",

  "analytics.GetUserAnalyticsRequest": "user_id=1",
  "analytics.GetUserAnalyticsResponse":
    "total_workflows=1:uint32 total_jobs=2:uint64 total_joblogs=3:uint64 total_job_execution_duration=4:uint64",
  "analytics.GetWorkflowAnalyticsRequest": "user_id=1 workflow_id=2",
  "analytics.GetWorkflowAnalyticsResponse":
    "workflow_id=1 total_job_execution_duration=2:uint64 total_jobs=3:uint32 total_joblogs=4:uint64",
};

const SERVICES: Record<string, string> = {
  "users.UsersService": "RegisterUser LoginUser GetUser UpdateUser",
  "workflows.WorkflowsService":
    "CreateWorkflow UpdateWorkflow UpdateWorkflowBuildStatus GetWorkflow GetWorkflowByID IncrementWorkflowConsecutiveJobFailuresCount ResetWorkflowConsecutiveJobFailuresCount TerminateWorkflow DeleteWorkflow ListWorkflows",
  "jobs.JobsService":
    "ScheduleJob UpdateJobStatus GetJob GetJobByID GetJobLogs StreamJobLogs SearchJobLogs ListJobs",
  "notifications.NotificationsService": "CreateNotification MarkNotificationsRead ListNotifications",
  "analytics.AnalyticsService": "GetUserAnalytics GetWorkflowAnalytics",
};

interface FieldDescriptor {
  name: string;
  number: number;
  label: string;
  type: string;
  typeName: string;
  oneofIndex: number;
}

const SCALARS = new Set(["string", "bool", "int32", "int64", "uint32", "uint64"]);

function describeField(field: FieldDescriptor, optional: boolean): string {
  const scalar = field.type.replace(/^TYPE_/, "").toLowerCase();
  const type = SCALARS.has(scalar) ? scalar : (field.typeName.split(".").pop() ?? "?");
  const suffix = (field.label === "LABEL_REPEATED" ? "[]" : "") + (optional ? "?" : "");
  return type === "string" && suffix === ""
    ? `${field.name}=${field.number}`
    : `${field.name}=${field.number}:${type}${suffix}`;
}

describe("the proto files keep SPEC.md's wire contract", () => {
  const definition = apiPackageDefinition() as unknown as Record<
    string,
    { type?: { field: FieldDescriptor[]; oneofDecl: { name: string }[] } } & Record<string, unknown>
  >;

  it.each(Object.entries(MESSAGES))("%s", (name, expected) => {
    const message = definition[name]?.type;
    expect(message, `${name} is missing`).toBeDefined();
    const actual = (message?.field ?? []).map((field) =>
      describeField(field, message?.oneofDecl[field.oneofIndex]?.name === `_${field.name}`),
    );
    expect(actual.join(" ")).toBe(expected);
  });

  it.each(Object.entries(SERVICES))("%s", (name, expected) => {
    expect(Object.keys(definition[name] ?? {}).join(" ")).toBe(expected);
  });

  it("streams StreamJobLogs as server-side Log messages", () => {
    const method = definition["jobs.JobsService"]?.StreamJobLogs as {
      responseStream: boolean;
      requestStream: boolean;
    };
    expect(method).toMatchObject({ requestStream: false, responseStream: true });
  });

  it("numbers the log enums as SPEC.md does", () => {
    const values = (name: string) =>
      (definition[name] as unknown as { type: { value: { name: string; number: number }[] } }).type.value.map(
        (v) => `${v.name}=${v.number}`,
      );
    expect(values("jobs.LogStream")).toEqual([
      "LOG_STREAM_UNSPECIFIED=0",
      "LOG_STREAM_STDOUT=1",
      "LOG_STREAM_STDERR=2",
      "LOG_STREAM_ALL=3",
    ]);
    expect(values("jobs.LogSortOrder")).toEqual([
      "LOG_SORT_ORDER_UNSPECIFIED=0",
      "LOG_SORT_ORDER_DESC=1",
      "LOG_SORT_ORDER_ASC=2",
    ]);
  });
});
