// A running (or finished, not yet deleted) Pod's log, read through the
// kube-apiserver's pods/log subresource with src/kube/pod-log.ts.
//
// Stdout and stderr: the apiserver's split-stream option (`stream=Stdout` /
// `stream=Stderr`, feature gate PodLogsQuerySplitStreams) needs the node to
// honour it too. kwok (the local cluster) and nodes without the gate answer
// both with the whole log. So every read asks for both streams, and two
// identical answers mean "not split": the lines are then reported as stdout.
// Once a read has seen the streams split, followers open one connection per
// stream; until then a follower reads the combined log (see docs/jobs.md).
import type { KubeConfig } from "@kubernetes/client-node";
import { PodLogError, podLogLines } from "../../src/kube/pod-log.ts";
import { type LogStreamName, mergeSplitReads, parseTimestampedLine, type TimedLine } from "./domain.ts";

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
  /** Whether a read has seen the cluster split stdout from stderr. */
  readonly splitSeen: boolean;
}

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
  let splitSeen = false;

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
      const merged = mergeSplitReads(stdout, stderr);
      if (merged.split && stdout.length + stderr.length > 0) splitSeen = true;
      return merged.lines;
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
    if (!splitSeen) {
      yield* followOne(pod, undefined, "stdout", signal);
      return;
    }
    // Two followers, merged in arrival order.
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

  return {
    read,
    follow,
    get splitSeen() {
      return splitSeen;
    },
  };
}
