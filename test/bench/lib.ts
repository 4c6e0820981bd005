/**
 * Shared pieces of the stack benchmarks (test/bench/run.ts): percentiles, the
 * machine and its load, loading the benchmark tools, child processes and their
 * memory.
 *
 * The tools (`autocannon`, `tinybench`, `@portkey-ai/gateway`) are resolved from
 * the project first; until they are devDependencies, from the directory named by
 * `BENCH_TOOLS` (default /tmp/benchtools), where
 * `npm install autocannon tinybench @portkey-ai/gateway` puts them.
 */
import { Effect } from "effect"
import { spawn, type ChildProcess } from "node:child_process"
import { existsSync, readFileSync } from "node:fs"
import { createRequire } from "node:module"
import * as Os from "node:os"
import { join, resolve } from "node:path"
import { pathToFileURL } from "node:url"

/** The project root (the benchmarks run from it). */
export const root = resolve(import.meta.dirname, "../..")

const projectRequire = createRequire(join(root, "package.json"))
const toolsDir = process.env["BENCH_TOOLS"] ?? "/tmp/benchtools"
const toolsRequire = createRequire(join(toolsDir, "package.json"))

const declared = (() => {
  const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as {
    dependencies?: Record<string, string>
    devDependencies?: Record<string, string>
  }
  return new Set([...Object.keys(pkg.dependencies ?? {}), ...Object.keys(pkg.devDependencies ?? {})])
})()

const packageName = (specifier: string) =>
  specifier.startsWith("@") ? specifier.split("/").slice(0, 2).join("/") : specifier.split("/")[0]!

/**
 * Where a package resolves: the project when it declares the package, else
 * BENCH_TOOLS (a transitive copy in the project may be another major version:
 * vitest brings tinybench 2), else the project's transitive copy.
 */
export const resolveTool = (specifier: string): string => {
  const order = declared.has(packageName(specifier)) ? [projectRequire, toolsRequire] : [toolsRequire, projectRequire]
  try {
    return order[0]!.resolve(specifier)
  } catch {
    try {
      return order[1]!.resolve(specifier)
    } catch {
      throw new Error(
        `Cannot find '${specifier}'. Install the benchmark tools: npm install --save-dev autocannon tinybench @portkey-ai/gateway ` +
          `(or: mkdir -p ${toolsDir} && cd ${toolsDir} && npm init -y && npm install autocannon tinybench @portkey-ai/gateway)`
      )
    }
  }
}

/** Imports a tool by package name (ESM or CommonJS), resolved as {@link resolveTool} says. */
export const importTool = async <A>(name: string): Promise<A> => {
  const mod = await import(pathToFileURL(resolveTool(name)).href) as { default?: unknown }
  return mod as A
}

/** The directory of an installed package (via its package.json). */
export const packageDir = (name: string): string => resolve(resolveTool(`${name}/package.json`), "..")

// -----------------------------------------------------------------------------
// Figures
// -----------------------------------------------------------------------------

/** The q-quantile (0..1) of samples, by nearest rank on a sorted copy. */
export const quantile = (samples: ReadonlyArray<number>, q: number): number => {
  if (samples.length === 0) return Number.NaN
  const sorted = Float64Array.from(samples).sort()
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))
  return sorted[rank]!
}

export interface Summary {
  readonly n: number
  readonly p50: number
  readonly p99: number
  readonly mean: number
}

export const summarize = (samples: ReadonlyArray<number>): Summary => ({
  n: samples.length,
  p50: quantile(samples, 0.5),
  p99: quantile(samples, 0.99),
  mean: samples.reduce((a, b) => a + b, 0) / Math.max(1, samples.length)
})

/** Rounds to `digits` decimals. */
export const round = (n: number, digits = 2): number => {
  const f = 10 ** digits
  return Math.round(n * f) / f
}

/** The 1-minute load average, now. */
export const load1 = (): number => round(Os.loadavg()[0]!, 2)

/** A figure and the 1-minute load average when it was taken. */
export interface Measured<A> {
  readonly value: A
  readonly load: number
}

export const machine = () => ({
  nproc: Os.availableParallelism(),
  cpu: Os.cpus()[0]?.model ?? "unknown",
  memoryGb: round(Os.totalmem() / 2 ** 30, 1),
  freeGb: round(Os.freemem() / 2 ** 30, 1),
  node: process.version,
  platform: `${Os.type()} ${Os.release()} ${Os.arch()}`,
  loadavg: Os.loadavg().map((n) => round(n, 2))
})

// -----------------------------------------------------------------------------
// Processes
// -----------------------------------------------------------------------------

/** Resident and peak resident memory of a process, in MB, from /proc (Linux). */
export const rssOf = (pid: number): { readonly rssMb: number; readonly peakMb: number } | undefined => {
  const file = `/proc/${pid}/status`
  if (!existsSync(file)) return undefined
  const text = readFileSync(file, "utf8")
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(text)?.[1] ?? Number.NaN)
  return { rssMb: round(kb("VmRSS") / 1024, 1), peakMb: round(kb("VmHWM") / 1024, 1) }
}

/** Resets the peak RSS (VmHWM) of a process, so a later reading is the peak of one phase. */
export const resetPeak = async (pid: number): Promise<void> => {
  const { writeFile } = await import("node:fs/promises")
  // Writing 5 to clear_refs resets the peak RSS (Linux >= 4.0); harmless when refused.
  await writeFile(`/proc/${pid}/clear_refs`, "5").catch(() => undefined)
}

export interface Child {
  readonly process: ChildProcess
  readonly pid: number
  readonly command: string
  /** The first line matching `pattern` on stdout, as its match. */
  readonly stop: () => Promise<void>
}

/**
 * Starts a process and waits for a line on stdout matching `ready`; returns the
 * child and the match. Output after that is kept only in the last 4 KB (for errors).
 */
export const startChild = (
  command: string,
  args: ReadonlyArray<string>,
  ready: RegExp,
  options: { readonly env?: NodeJS.ProcessEnv; readonly timeoutMs?: number; readonly cwd?: string } = {}
): Promise<{ readonly child: Child; readonly match: RegExpExecArray }> =>
  new Promise((resolvePromise, reject) => {
    const child = spawn(command, args, {
      cwd: options.cwd ?? root,
      env: { ...process.env, ...options.env },
      stdio: ["ignore", "pipe", "pipe"]
    })
    let out = ""
    let done = false
    const timer = setTimeout(() => {
      if (done) return
      done = true
      child.kill("SIGKILL")
      reject(new Error(`${command} ${args.join(" ")} did not become ready in time; output:\n${out.slice(-4000)}`))
    }, options.timeoutMs ?? 30_000)
    const onData = (chunk: Buffer) => {
      out = (out + chunk.toString("utf8")).slice(-4000)
      if (done) return
      const match = ready.exec(out)
      if (match !== null) {
        done = true
        clearTimeout(timer)
        const exited = new Promise<void>((r) => child.once("exit", () => r()))
        resolvePromise({
          match,
          child: {
            process: child,
            pid: child.pid!,
            command: [command, ...args].join(" "),
            stop: async () => {
              if (child.exitCode === null && child.signalCode === null) {
                child.kill("SIGTERM")
                const killer = setTimeout(() => child.kill("SIGKILL"), 3000)
                await exited
                clearTimeout(killer)
              }
            }
          }
        })
      }
    }
    child.stdout!.on("data", onData)
    child.stderr!.on("data", onData)
    child.once("exit", (code) => {
      if (done) return
      done = true
      clearTimeout(timer)
      reject(new Error(`${command} ${args.join(" ")} exited with ${code}; output:\n${out.slice(-4000)}`))
    })
  })

/** `node --import tsx FILE args`: a TypeScript script of this directory as a process. */
export const tsxArgs = (file: string, args: ReadonlyArray<string> = []): ReadonlyArray<string> => [
  "--import",
  "tsx",
  join(root, "test/bench", file),
  ...args
]

/** Starts the ProviderSimulator in a process of its own; resolves with its base URL. */
export const startSimulator = async (args: ReadonlyArray<string> = []): Promise<{ readonly child: Child; readonly url: string }> => {
  const { child, match } = await startChild(process.execPath, tsxArgs("simulator-server.ts", args), /SIMULATOR (http:\/\/\S+)/)
  return { child, url: match[1]! }
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))

/** Samples `pid`'s RSS every `everyMs` until stopped; returns the highest seen. */
export const sampleRss = (pid: number, everyMs = 50) => {
  let peak = 0
  const timer = setInterval(() => {
    const m = rssOf(pid)
    if (m !== undefined && m.rssMb > peak) peak = m.rssMb
  }, everyMs)
  return {
    stop: (): number => {
      clearInterval(timer)
      const m = rssOf(pid)
      return Math.max(peak, m?.rssMb ?? 0)
    }
  }
}

/** CPU time of this process so far (user + system, all threads), µs. */
export const cpuMicros = (): number => {
  const u = process.cpuUsage()
  return u.user + u.system
}

/**
 * CPU µs per run of `once` (re-evaluated each time: wrap it in `Effect.suspend`), the
 * best of `rounds` rounds of `n` sequential runs: steadier than wall time on a shared machine.
 */
export const bestCpuMicrosPerRun = <A, E, R>(once: Effect.Effect<A, E, R>, n: number, rounds = 5) =>
  Effect.gen(function*() {
    let best = Number.POSITIVE_INFINITY
    for (let round = 0; round < rounds; round++) {
      const started = cpuMicros()
      for (let i = 0; i < n; i++) yield* once
      best = Math.min(best, (cpuMicros() - started) / n)
    }
    return best
  })
