// Reads a Pod's log through the kube-apiserver's pods/log subresource as a
// stream of lines. Unlike @kubernetes/client-node's `Log`, aborting releases the
// underlying connection at once and never surfaces as an unhandled error, which
// is what a gRPC stream that follows a log (and whose client may leave) needs.

import type { IncomingMessage } from "node:http";
import { request } from "node:https";
import { createInterface } from "node:readline";
import type { KubeConfig } from "@kubernetes/client-node";

export interface PodLogOptions {
  namespace: string;
  pod: string;
  container?: string;
  follow?: boolean;
  timestamps?: boolean;
  /** Split-stream option of the API (PodLogsQuerySplitStreams); omitted means both streams. */
  stream?: "Stdout" | "Stderr" | "All";
  sinceTime?: string;
  signal?: AbortSignal;
}

export class PodLogError extends Error {
  readonly statusCode: number;
  constructor(statusCode: number, message: string) {
    super(message);
    this.name = "PodLogError";
    this.statusCode = statusCode;
  }
}

function logPath(o: PodLogOptions): string {
  const q = new URLSearchParams();
  if (o.container) q.set("container", o.container);
  if (o.follow) q.set("follow", "true");
  if (o.timestamps) q.set("timestamps", "true");
  if (o.stream) q.set("stream", o.stream);
  if (o.sinceTime) q.set("sinceTime", o.sinceTime);
  const ns = encodeURIComponent(o.namespace);
  return `/api/v1/namespaces/${ns}/pods/${encodeURIComponent(o.pod)}/log?${q.toString()}`;
}

async function open(kc: KubeConfig, o: PodLogOptions): Promise<IncomingMessage> {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error("kubeconfig has no current cluster");
  const url = new URL(logPath(o), cluster.server);
  const options: import("node:https").RequestOptions = { method: "GET" };
  await kc.applyToHTTPSOptions(options);
  return new Promise((resolve, reject) => {
    const req = request(url, { ...options, signal: o.signal }, (res) => {
      if (res.statusCode === 200) {
        resolve(res);
        return;
      }
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => {
        body += chunk;
      });
      res.on("end", () => {
        let message = body;
        try {
          message = (JSON.parse(body) as { message?: string }).message ?? body;
        } catch {
          // not a Status object: keep the raw text
        }
        reject(new PodLogError(res.statusCode ?? 0, message));
      });
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end();
  });
}

/**
 * Yields the log's lines (without the trailing newline) until the log ends,
 * the Pod goes away, or `signal` aborts — an abort ends the iteration quietly.
 */
export async function* podLogLines(kc: KubeConfig, options: PodLogOptions): AsyncGenerator<string> {
  let res: IncomingMessage;
  try {
    res = await open(kc, options);
  } catch (error) {
    if (options.signal?.aborted) return;
    throw error;
  }
  const lines = createInterface({ input: res, crlfDelay: Number.POSITIVE_INFINITY });
  try {
    for await (const line of lines) yield line;
  } catch (error) {
    if (!options.signal?.aborted) throw error;
  } finally {
    lines.close();
    res.destroy();
  }
}
