/**
 * The stack benchmarks, in one run (`npm run bench`):
 *
 *   1. in-process overhead over a zero-latency model (inprocess.ts), and the floor's
 *      (the stack's unskippable work as plain calls, floor.ts)
 *   2. end to end, raw `openai` SDK vs the full stack, interleaved (e2e.ts), with the floor
 *      around the raw call as a series of its own, and at 0 ms the bound: the floor inside
 *      one runPromise (Effect floor) and the stack with only its provider (bare stack)
 *   3. exact-cache hits, memory and Redis (cache.ts, in a process of its own)
 *   4. the gateway vs Portkey's gateway under autocannon (gateway.ts)
 *   5. gateway RSS with 1,000 streams in flight (memory.ts)
 *
 *   node --import tsx test/bench/run.ts            full run: writes docs/benchmarks/stack.json, prints the markdown
 *   node --import tsx test/bench/run.ts --quick    the same, shorter (< 1 minute), writes nothing unless --write
 *   node --import tsx test/bench/run.ts --smoke    CI: checks every benchmark runs and yields finite figures, and that
 *                                                  no text reader is super-linear on adversarial input (adversarial.ts) (~20-30 s)
 *   options: --out FILE (JSON path), --md FILE (also write the markdown there), --write, --only a,b (sections)
 */
import { execFileSync } from "node:child_process"
import { mkdirSync, writeFileSync } from "node:fs"
import { connect } from "node:net"
import { dirname, resolve } from "node:path"
import * as Adversarial from "./adversarial.js"
import * as Cache from "./cache.js"
import * as E2e from "./e2e.js"
import * as Gateway from "./gateway.js"
import * as InProcess from "./inprocess.js"
import { load1, machine, root } from "./lib.js"
import * as Memory from "./memory.js"

type Mode = "smoke" | "quick" | "full"

const args = process.argv.slice(2)
const mode: Mode = args.includes("--smoke") ? "smoke" : args.includes("--quick") ? "quick" : "full"
const arg = (name: string) => {
  const i = args.indexOf(name)
  return i >= 0 ? args[i + 1] : undefined
}
const only = arg("--only")?.split(",")
const wants = (section: string) => only === undefined || only.includes(section)
const outPath = resolve(root, arg("--out") ?? "docs/benchmarks/stack.json")
const write = mode === "full" ? !args.includes("--no-write") : args.includes("--write")

const sh = (cmd: string, cmdArgs: ReadonlyArray<string>) => {
  try {
    return execFileSync(cmd, cmdArgs, { encoding: "utf8" }).trim()
  } catch {
    return "(unavailable)"
  }
}

/** Fails fast, with the fix in the message, when the Redis the cache section needs is not listening. */
const requireRedis = (url: string) =>
  new Promise<void>((ok, fail) => {
    const { hostname, port } = new URL(url)
    const socket = connect({ host: hostname, port: Number(port || 6379), timeout: 2000 })
    const refuse = (why: string) => {
      socket.destroy()
      fail(new Error(`Redis is not reachable at ${url} (${why}): start one (redis-server --port 6379 --bind 127.0.0.1 --daemonize yes) or leave the cache section out with --only inprocess,e2e,gateway,memory`))
    }
    socket.once("connect", () => {
      socket.end()
      ok()
    })
    socket.once("timeout", () => refuse("no answer within 2 s"))
    socket.once("error", (e) => refuse(e.message))
  })

const main = async () => {
  if (wants("cache")) await requireRedis(process.env["REDIS_URL"] ?? "redis://127.0.0.1:6379")
  const started = Date.now()
  const loadStart = load1()
  const host = { ...machine(), freeG: sh("free", ["-g"]), nprocCmd: sh("nproc", []), uptimeStart: sh("uptime", []) }
  const command = `npm run bench -- ${args.join(" ")}`.trim()
  const log = (text: string) => console.error(`[bench ${((Date.now() - started) / 1000).toFixed(1)}s load ${load1()}] ${text}`)

  log(`mode ${mode}`)
  // The in-process sections measure this process's CPU, the gateway sections their own
  // child processes: measured runs go one after the other. A smoke only checks that each
  // runs, so it starts the child-process sections alongside the in-process ones.
  const section = async <A>(name: string, body: () => Promise<A>): Promise<A | undefined> => {
    if (!wants(name)) return undefined
    const value = await body()
    log(`${name} done`)
    return value
  }
  const inProcessSections = async () => {
    const inprocess = await section("inprocess", () => InProcess.run(mode))
    const e2e = await section("e2e", async () =>
      mode === "full" ? [await E2e.run(mode, 0), await E2e.run(mode, 50)] : [await E2e.run(mode, 0)])
    // In a process of its own: a fresh JIT (see cache.ts).
    const cache = await section("cache", () => Cache.runInChild(mode))
    return { inprocess, e2e: e2e ?? [], cache }
  }
  const childSections = async () => {
    const gateway = () => section("gateway", () => Gateway.run(mode, { fullStack: mode === "full" }))
    const memory = () => section("memory", () => Memory.run(mode))
    const [g, m] = mode === "smoke" ? await Promise.all([gateway(), memory()]) : [await gateway(), await memory()]
    return { gateway: g, memory: m }
  }
  const [{ cache, e2e, inprocess }, { gateway, memory }] = mode === "smoke"
    ? await Promise.all([inProcessSections(), childSections()])
    : [await inProcessSections(), await childSections()]
  const loadEnd = load1()
  const uptimeEnd = sh("uptime", [])

  const row = (g: "effect-llm" | "portkey", kind: "json" | "stream") => gateway?.rows.find((r) => r.gateway === g && r.kind === kind)
  const zeroLatency = e2e.find((r) => r.simulatorLatencyMs === 0)
  const figures = {
    stackVsRawP50Ratio: zeroLatency?.p50Ratio ?? null,
    stackVsRawP99Ratio: zeroLatency?.p99Ratio ?? null,
    inProcessOverheadMicrosC1: inprocess?.overheadC1Micros ?? null,
    inProcessOverheadMicrosC64: inprocess?.overheadC64Micros ?? null,
    memoryCacheHitMicrosP50: cache?.memory.p50Micros ?? null,
    redisCacheHitMicrosP50: cache?.redis.p50Micros ?? null,
    gatewayRps: row("effect-llm", "json")?.rps ?? null,
    portkeyRps: row("portkey", "json")?.rps ?? null,
    gatewayP99Ms: row("effect-llm", "json")?.p99Ms ?? null,
    portkeyP99Ms: row("portkey", "json")?.p99Ms ?? null,
    rssMbAt1000Streams: memory !== undefined && memory.streams === 1000 ? memory.rssMbAtStreams : null,
    // The floor (floor.ts): what the stack's unskippable work alone costs.
    floorVsRawP50Ratio: zeroLatency?.floorP50Ratio ?? null,
    stackVsRawP50RatioSameTransport: zeroLatency?.p50RatioSameTransport ?? null,
    inProcessCpuMicrosFull: inprocess?.cpu.fullMicros ?? null,
    inProcessCpuMicrosFloor: inprocess?.cpu.floorMicros ?? null,
    // The bound (e2e.ts, 0 ms): the floor inside one runPromise, and the stack with only its provider.
    effectFloorVsRawP50Ratio: zeroLatency?.bound?.effectFloorP50Ratio ?? null,
    bareStackVsRawP50Ratio: zeroLatency?.bound?.bareStackP50Ratio ?? null
  }
  const result = {
    ...figures,
    mode,
    command,
    date: new Date().toISOString(),
    machine: host,
    loadStart,
    loadEnd,
    uptimeEnd,
    durationSeconds: Math.round((Date.now() - started) / 1000),
    details: { inprocess, e2e, cache, gateway, memory }
  }

  const md = markdown(result)
  console.log(md)

  if (mode === "smoke") {
    const bad: Array<string> = []
    const finite = (name: string, v: number | undefined | null) => {
      if (v === undefined || v === null || !Number.isFinite(v)) bad.push(name)
    }
    if (wants("inprocess")) finite("inProcessOverheadMicrosC1", inprocess?.full.c1P50Micros)
    if (wants("inprocess")) finite("inProcessCpuMicrosFloor", figures.inProcessCpuMicrosFloor)
    if (wants("e2e")) {
      finite("stackVsRawP50Ratio", figures.stackVsRawP50Ratio)
      finite("floorVsRawP50Ratio", figures.floorVsRawP50Ratio)
      finite("effectFloorVsRawP50Ratio", figures.effectFloorVsRawP50Ratio)
      finite("bareStackVsRawP50Ratio", figures.bareStackVsRawP50Ratio)
    }
    if (wants("cache")) {
      finite("memoryCacheHitMicrosP50", figures.memoryCacheHitMicrosP50)
      finite("redisCacheHitMicrosP50", figures.redisCacheHitMicrosP50)
    }
    if (wants("gateway")) {
      finite("gatewayRps", figures.gatewayRps)
      finite("gatewayStreamRps", row("effect-llm", "stream")?.rps)
      finite("portkeyRps", figures.portkeyRps)
    }
    if (wants("memory")) finite("memory.rssMbAtStreams", memory?.rssMbAtStreams)
    if (bad.length > 0) {
      console.error(`smoke: no figure for ${bad.join(", ")}`)
      process.exit(1)
    }
    // After the timed sections: the growth ratios need the machine to themselves.
    const adversarialStart = Date.now()
    const adversarial = wants("adversarial") ? await Adversarial.run("smoke") : undefined
    if (adversarial !== undefined && adversarial.superlinear.length > 0) {
      console.error(`smoke: super-linear on adversarial input:\n  ${adversarial.superlinear.join("\n  ")}`)
      process.exit(1)
    }
    if (adversarial !== undefined) console.error(`smoke: no reader super-linear on adversarial input (${Math.round((Date.now() - adversarialStart) / 1000)} s)`)
    console.error(`smoke: every benchmark ran (${result.durationSeconds} s)`)
  }
  if (write) {
    mkdirSync(dirname(outPath), { recursive: true })
    writeFileSync(outPath, JSON.stringify(result, null, 2) + "\n")
    console.error(`wrote ${outPath}`)
  }
  const mdPath = arg("--md")
  if (mdPath !== undefined) writeFileSync(resolve(root, mdPath), md + "\n")
}

const n = (v: number | null | undefined, unit = "") => (v === null || v === undefined || Number.isNaN(v) ? "n/a" : `${v}${unit}`)

const markdown = (r: {
  readonly mode: string
  readonly command: string
  readonly date: string
  readonly machine: ReturnType<typeof machine> & { freeG: string; nprocCmd: string; uptimeStart: string }
  readonly loadStart: number
  readonly loadEnd: number
  readonly uptimeEnd: string
  readonly durationSeconds: number
  readonly stackVsRawP50Ratio: number | null
  readonly stackVsRawP99Ratio: number | null
  readonly inProcessOverheadMicrosC1: number | null
  readonly inProcessOverheadMicrosC64: number | null
  readonly memoryCacheHitMicrosP50: number | null
  readonly redisCacheHitMicrosP50: number | null
  readonly gatewayRps: number | null
  readonly portkeyRps: number | null
  readonly gatewayP99Ms: number | null
  readonly portkeyP99Ms: number | null
  readonly rssMbAt1000Streams: number | null
  readonly floorVsRawP50Ratio: number | null
  readonly stackVsRawP50RatioSameTransport: number | null
  readonly inProcessCpuMicrosFull: number | null
  readonly inProcessCpuMicrosFloor: number | null
  readonly effectFloorVsRawP50Ratio: number | null
  readonly bareStackVsRawP50Ratio: number | null
  readonly details: {
    readonly inprocess: InProcess.Result | undefined
    readonly e2e: ReadonlyArray<E2e.Result>
    readonly cache: Awaited<ReturnType<typeof Cache.run>> | undefined
    readonly gateway: Gateway.Result | undefined
    readonly memory: Memory.Result | undefined
  }
}): string => {
  const d = r.details
  const out: Array<string> = []
  out.push(`## Stack benchmarks (${r.mode} run, ${r.date})`, "")
  out.push("Machine and run:", "")
  out.push(`- \`nproc\`: ${r.machine.nprocCmd} (${r.machine.cpu}); \`free -g\`:`, "", "```", r.machine.freeG, "```", "")
  out.push(`- Node ${r.machine.node}, ${r.machine.platform}`)
  out.push(`- load average at start: ${r.machine.uptimeStart.replace(/^.*load average: /, "")}; at end: ${r.uptimeEnd.replace(/^.*load average: /, "")}`)
  out.push(`- every figure carries the 1-minute load average when it was taken (the machine may be shared)`)
  out.push(`- command: \`${r.command}\` (${r.durationSeconds} s)`, "")
  out.push("| figure | goal | measured |", "|---|---|---|")
  out.push(`| full stack / raw SDK, p50 (0 ms simulator) | ≤ 1.05 | ${n(r.stackVsRawP50Ratio)} |`)
  out.push(`| full stack / raw SDK, p99 (0 ms simulator) | | ${n(r.stackVsRawP99Ratio)} |`)
  out.push(`| in-process overhead, c=1 (p50) | ≤ 25 µs | ${n(r.inProcessOverheadMicrosC1, " µs")} |`)
  out.push(`| in-process overhead, c=64 (per call) | ≤ 25 µs | ${n(r.inProcessOverheadMicrosC64, " µs")} |`)
  out.push(`| memory cache hit p50 | ≤ 20 µs | ${n(r.memoryCacheHitMicrosP50, " µs")} |`)
  out.push(`| Redis cache hit p50 | | ${n(r.redisCacheHitMicrosP50, " µs")} |`)
  out.push(`| gateway requests/s (JSON, 64 connections) | ahead of Portkey | ${n(r.gatewayRps)} vs Portkey ${n(r.portkeyRps)} |`)
  out.push(`| gateway p99 (JSON) | ≤ Portkey's | ${n(r.gatewayP99Ms, " ms")} vs Portkey ${n(r.portkeyP99Ms, " ms")} |`)
  out.push(`| gateway RSS with 1,000 streams in flight | | ${n(r.rssMbAt1000Streams, " MB")} |`)
  out.push(`| the floor / raw SDK, p50, same transport (0 ms): the stack's unskippable work alone (floor.ts) | | ${n(r.floorVsRawP50Ratio)} (the stack: ${n(r.stackVsRawP50RatioSameTransport)}) |`)
  out.push(`| in-process CPU a call: the floor / the full stack | | ${n(r.inProcessCpuMicrosFloor, " µs")} / ${n(r.inProcessCpuMicrosFull, " µs")} |`)
  out.push(`| the Effect floor / raw SDK, p50 (0 ms): the floor inside one runPromise, the least a stack on Effect can reach | | ${n(r.effectFloorVsRawP50Ratio)} (the bare stack: ${n(r.bareStackVsRawP50Ratio)}) |`, "")
  if (d.inprocess !== undefined) {
    out.push("### 1. In-process overhead over a zero-latency model", "")
    out.push(InProcess.markdown(d.inprocess), "")
    out.push(
      `Overhead (full stack − bare model): c=1 p50 ${d.inprocess.overheadC1Micros} µs (mean ${d.inprocess.overheadC1MeanMicros} µs), c=64 ${d.inprocess.overheadC64Micros} µs/call; ` +
        `without the guards: c=1 ${d.inprocess.withoutGuardsOverheadC1Micros} µs, c=64 ${d.inprocess.withoutGuardsOverheadC64Micros} µs.`,
      ""
    )
  }
  if (d.e2e.length > 0) {
    out.push("### 2. End to end: raw `openai` SDK vs the full stack (interleaved, same run)", "")
    out.push(E2e.markdown(d.e2e), "", `Simulator: \`${d.e2e[0]!.simulatorCommand}\` (and \`--latency-ms N\`).`, "")
  }
  if (d.cache !== undefined) {
    out.push("### 3. Exact-cache hits", "", Cache.markdown(d.cache), "")
  }
  if (d.gateway !== undefined) {
    out.push("### 4. Gateway vs Portkey's gateway", "", Gateway.markdown(d.gateway), "")
    out.push(`Portkey ${d.gateway.portkeyVersion}; its answer to a repeated request with \`cache: {mode: "simple"}\`: \`x-portkey-cache-status: ${d.gateway.portkeyCacheStatus}\`.`, "")
    out.push("Commands:", "", ...Object.entries(d.gateway.commands).map(([k, v]) => `- ${k}: \`${v}\``), "")
    out.push("Portkey config (header `x-portkey-config`):", "", "```json", JSON.stringify(d.gateway.portkeyConfig, null, 2), "```", "")
  }
  if (d.memory !== undefined) {
    out.push(`### 5. Gateway memory with ${d.memory.streams} streams in flight`, "", Memory.markdown(d.memory), "")
    out.push("Commands:", "", ...Object.entries(d.memory.commands).map(([k, v]) => `- ${k}: \`${v}\``), "")
  }
  return out.join("\n")
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(e)
    process.exit(1)
  }
)
