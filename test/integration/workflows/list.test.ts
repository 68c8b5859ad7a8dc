// ListWorkflows over real gRPC against the informer cache of a real
// apiserver: newest first, 10 per page with an opaque cursor, every filter,
// and the InvalidArgument cases.
import { type Metadata, status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ListWorkflowsFilters } from "../../../gen/workflows/workflows.ts";
import { expectStatus, unary } from "../../support/grpc.ts";
import { startWorkflows, type WorkflowsHarness } from "./support.ts";

describe("ListWorkflows", () => {
  let h: WorkflowsHarness;
  let userId: string;
  let md: Metadata;
  /** Ids in creation order. */
  const ids: string[] = [];
  const byId = new Map<string, { name: string; kind: string; interval: number }>();

  beforeAll(async () => {
    h = await startWorkflows();
    ({ userId, md } = await h.newUser());
    // 23 workflows: every third a heartbeat, names "Alpha n"/"beta n", intervals 1..23.
    for (let i = 1; i <= 23; i++) {
      const kind = i % 3 === 0 ? "HEARTBEAT" : "CONTAINER";
      const name = i % 2 === 0 ? `Alpha ${i}` : `beta ${i}`;
      const payload =
        kind === "HEARTBEAT"
          ? JSON.stringify({ endpoint: `https://example.com/${i}` })
          : JSON.stringify({ image: "busybox" });
      const { id } = await h.create(userId, md, { kind, name, payload, interval: i });
      ids.push(id);
      byId.set(id, { name, kind, interval: i });
    }
    // A few states to filter on.
    const svcMd = await h.service();
    for (const id of ids.slice(0, 4)) {
      await unary(
        h.client,
        h.client.updateWorkflowBuildStatus,
        { id, user_id: userId, build_status: "COMPLETED", generation: 0 },
        svcMd,
      );
    }
    for (const id of ids.slice(20)) {
      await unary(h.client, h.client.terminateWorkflow, { id, user_id: userId }, md);
    }
    // Someone else's workflows never show up.
    const other = await h.newUser();
    await h.create(other.userId, other.md, { name: "Alpha other" });
  });
  afterAll(async () => {
    await h?.stop();
  });

  async function all(filters?: Partial<ListWorkflowsFilters>): Promise<string[]> {
    const seen: string[] = [];
    let cursor = "";
    for (let page = 0; page < 10; page++) {
      const response = await h.list(userId, md, filters, cursor);
      expect(response.workflows.length).toBeLessThanOrEqual(10);
      seen.push(...response.workflows.map((w) => w.id));
      cursor = response.cursor;
      if (cursor === "") return seen;
    }
    throw new Error("more pages than expected");
  }

  const newestFirst = (keep: (id: string) => boolean) => [...ids].reverse().filter(keep);

  it("pages newest first, 10 per page, with an opaque cursor; the last page has no cursor", async () => {
    const first = await h.list(userId, md);
    expect(first.workflows.map((w) => w.id)).toEqual(newestFirst(() => true).slice(0, 10));
    expect(first.cursor).not.toBe("");
    expect(first.cursor).not.toContain(ids[0]);
    const second = await h.list(userId, md, undefined, first.cursor);
    expect(second.workflows.map((w) => w.id)).toEqual(newestFirst(() => true).slice(10, 20));
    const third = await h.list(userId, md, undefined, second.cursor);
    expect(third.workflows.map((w) => w.id)).toEqual(newestFirst(() => true).slice(20));
    expect(third.cursor).toBe("");
    expect(await all()).toEqual(newestFirst(() => true));
  });

  it("list items carry the workflow's fields", async () => {
    const [item] = (await h.list(userId, md)).workflows;
    const id = ids.at(-1) as string;
    expect(item).toMatchObject({
      id,
      name: byId.get(id)?.name,
      kind: byId.get(id)?.kind,
      interval: 23,
      build_status: "CANCELED",
      consecutive_job_failures_count: 0,
      max_consecutive_job_failures_allowed: 5,
    });
    expect(item?.terminated_at).not.toBe("");
  });

  it("query: case-insensitive substring of the name", async () => {
    expect(await all({ query: "ALPHA" })).toEqual(
      newestFirst((id) => byId.get(id)?.name.startsWith("Alpha") === true),
    );
    expect(await all({ query: "a 1" })).toEqual(
      newestFirst((id) => (byId.get(id)?.name ?? "").toLowerCase().includes("a 1")),
    );
    expect(await all({ query: "nothing like this" })).toEqual([]);
  });

  it("kind", async () => {
    expect(await all({ kind: "HEARTBEAT" })).toEqual(newestFirst((id) => byId.get(id)?.kind === "HEARTBEAT"));
    expect(await all({ kind: "CONTAINER" })).toHaveLength(23 - 7);
  });

  it("build_status", async () => {
    expect(await all({ build_status: "COMPLETED" })).toEqual(newestFirst((id) => ids.indexOf(id) < 4));
    expect(await all({ build_status: "CANCELED" })).toEqual(newestFirst((id) => ids.indexOf(id) >= 20));
    expect(await all({ build_status: "QUEUED" })).toHaveLength(16);
  });

  it("is_terminated", async () => {
    expect(await all({ is_terminated: true })).toEqual(newestFirst((id) => ids.indexOf(id) >= 20));
  });

  it("interval_min / interval_max, alone and together, across pages", async () => {
    const interval = (id: string) => byId.get(id)?.interval ?? 0;
    expect(await all({ interval_min: 10 })).toEqual(newestFirst((id) => interval(id) >= 10));
    expect(await all({ interval_max: 12 })).toEqual(newestFirst((id) => interval(id) <= 12));
    expect(await all({ interval_min: 5, interval_max: 5 })).toEqual([ids[4]]);
  });

  it("filters combine", async () => {
    expect(await all({ query: "beta", kind: "HEARTBEAT", interval_min: 4 })).toEqual(
      newestFirst((id) => {
        const w = byId.get(id);
        return w?.name.startsWith("beta") === true && w.kind === "HEARTBEAT" && w.interval >= 4;
      }),
    );
  });

  it("invalid cursor, interval_min > interval_max and unknown enums → InvalidArgument", async () => {
    await expectStatus(h.list(userId, md, undefined, "not-a-cursor"), status.INVALID_ARGUMENT, /cursor/);
    await expectStatus(
      h.list(userId, md, undefined, Buffer.from("v1:x").toString("base64url")),
      status.INVALID_ARGUMENT,
      /cursor/,
    );
    await expectStatus(
      h.list(userId, md, { interval_min: 10, interval_max: 5 }),
      status.INVALID_ARGUMENT,
      /interval_min/,
    );
    await expectStatus(
      h.list(userId, md, { interval_min: 20000 }),
      status.INVALID_ARGUMENT,
      /filters.interval_min/,
    );
    await expectStatus(h.list(userId, md, { kind: "CRON" }), status.INVALID_ARGUMENT, /filters.kind/);
    await expectStatus(
      h.list(userId, md, { build_status: "DONE" }),
      status.INVALID_ARGUMENT,
      /filters.build_status/,
    );
    await expectStatus(
      unary(h.client, h.client.listWorkflows, { user_id: "", cursor: "" }, md),
      status.INVALID_ARGUMENT,
      /user_id/,
    );
  });
});
