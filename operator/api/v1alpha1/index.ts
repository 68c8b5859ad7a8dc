// chronoverse.dev/v1alpha1: the Workflow and WorkflowJob custom resources.
export * from "./schema.ts";
export * from "./workflow.ts";
export * from "./workflow-job.ts";
