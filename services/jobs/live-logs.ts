// A running (or finished, not yet deleted) Pod's log, read through the
// kube-apiserver's pods/log subresource with src/kube/pod-log.ts.
//
// Stdout and stderr: the apiserver's split-stream option (`stream=Stdout` /
// `stream=Stderr`, feature gate PodLogsQuerySplitStreams) needs the node to
// honour it too. kwok and kubelets without the gate answer both with the whole
// log, and one cluster can have both kinds of node. So every read asks for
// both streams and compares them (readsAreSplit), and a follower learns the
// answer for its Pod before it sends the first line: it follows the combined
// log, and at its first line reads both streams once; split, it starts over
// with one follower per stream (nothing sent yet), else it goes on with the
// combined log as stdout. The verdict is kept per Pod (see docs/jobs.md).
import type { KubeConfig } from "@kubernetes/client-node";
import { PodLogError, podLogLines } from "../../src/kube/pod-log.ts";
import {
  type LogStreamName,
  mergeSplitReads,
  parseTimestampedLine,
  readsAreSplit,
  type TimedLine,
} from "./domain.ts";

export interface LiveLine extends TimedLine {
  stream: LogStreamName;
}

export interface LivePodLog {
  /** The whole log so far, in order; undefined when the Pod does not exist. */
  read(pod: string, signal?: AbortSignal): Promise<LiveLine[] | undefined>;
  /**
   * Follows the log from its start, yielding lines as they are written, until
   * the container's log ends, the Pod goes away, or `signal` aborts (which
   * closes the API connection at once).
   */
  follow(pod: string, signal: AbortSignal): AsyncGenerator<LiveLine>;
}

/** Pods whose split verdict is remembered (the oldest is forgotten first). */
const rememberedPods = 1000;

/** The container name of a run's Pod (the operator's pod template). Undefined: the Pod's only container. */
export interface LivePodLogOptions {
  kc: KubeConfig;
  namespace: string;
  container?: string;
}

/** HTTP statuses that mean "no log to read (yet)": the Pod or container is absent or has not started. */
function isNoLog(error: unknown): boolean {
  return error instanceof PodLogError && (error.statusCode === 404 || error.statusCode === 400);
}

export function createLivePodLog({ kc, namespace, container }: LivePodLogOptions): LivePodLog {
  const splitByPod = new Map<string, boolean>();
  const remember = (pod: string, split: boolean | undefined) => {
    if (split === undefined) return;
    splitByPod.delete(pod);
    splitByPod.set(pod, split);
    if (splitByPod.size > rememberedPods) splitByPod.delete(splitByPod.keys().next().value ?? "");
  };

  const readStream = async (pod: string, stream: "Stdout" | "Stderr", signal?: AbortSignal) => {
    const lines: TimedLine[] = [];
    const now = new Date().toISOString();
    for await (const line of podLogLines(kc, {
      namespace,
      pod,
      ...(container ? { container } : {}),
      timestamps: true,
      stream,
      ...(signal ? { signal } : {}),
    })) {
      lines.push(parseTimestampedLine(line, now));
    }
    return lines;
  };

  const read = async (pod: string, signal?: AbortSignal): Promise<LiveLine[] | undefined> => {
    try {
      const [stdout, stderr] = await Promise.all([
        readStream(pod, "Stdout", signal),
        readStream(pod, "Stderr", signal),
      ]);
      remember(pod, readsAreSplit(stdout, stderr));
      return mergeSplitReads(stdout, stderr).lines;
    } catch (error) {
      if (error instanceof PodLogError && error.statusCode === 404) return undefined;
      if (isNoLog(error)) return [];
      throw error;
    }
  };

  async function* followOne(
    pod: string,
    stream: "Stdout" | "Stderr" | undefined,
    name: LogStreamName,
    signal: AbortSignal,
  ): AsyncGenerator<LiveLine> {
    try {
      for await (const line of podLogLines(kc, {
        namespace,
        pod,
        ...(container ? { container } : {}),
        follow: true,
        timestamps: true,
        ...(stream ? { stream } : {}),
        signal,
      })) {
        yield { ...parseTimestampedLine(line, new Date().toISOString()), stream: name };
      }
    } catch (error) {
      if (!isNoLog(error)) throw error;
    }
  }

  async function* follow(pod: string, signal: AbortSignal): AsyncGenerator<LiveLine> {
    if (!splitByPod.has(pod)) {
      const combined = new AbortController();
      const stop = () => combined.abort();
      signal.addEventListener("abort", stop, { once: true });
      try {
        for await (const line of followOne(pod, undefined, "stdout", combined.signal)) {
          if (!splitByPod.has(pod)) {
            // The log has a line now, so the two reads tell whether this Pod's node splits.
            await read(pod, signal);
            if (splitByPod.get(pod) === true) break;
          }
          yield line;
        }
      } finally {
        signal.removeEventListener("abort", stop);
        combined.abort();
      }
      if (splitByPod.get(pod) !== true || signal.aborted) return;
    } else if (splitByPod.get(pod) === false) {
      yield* followOne(pod, undefined, "stdout", signal);
      return;
    }
    yield* followSplit(pod, signal);
  }

  /** Two followers, one per stream, merged in arrival order. */
  async function* followSplit(pod: string, signal: AbortSignal): AsyncGenerator<LiveLine> {
    const inner = new AbortController();
    const stop = () => inner.abort();
    signal.addEventListener("abort", stop, { once: true });
    const queue: LiveLine[] = [];
    let wake: (() => void) | undefined;
    let running = 2;
    let failure: unknown;
    const pump = async (it: AsyncGenerator<LiveLine>) => {
      try {
        for await (const line of it) {
          queue.push(line);
          wake?.();
        }
      } catch (error) {
        failure ??= error;
      } finally {
        running--;
        wake?.();
      }
    };
    void pump(followOne(pod, "Stdout", "stdout", inner.signal));
    void pump(followOne(pod, "Stderr", "stderr", inner.signal));
    try {
      for (;;) {
        const next = queue.shift();
        if (next !== undefined) {
          yield next;
          continue;
        }
        if (failure !== undefined) throw failure;
        if (running === 0 || signal.aborted) return;
        await new Promise<void>((resolve) => {
          wake = resolve;
        });
        wake = undefined;
      }
    } finally {
      signal.removeEventListener("abort", stop);
      inner.abort();
    }
  }

  return { read, follow };
}
