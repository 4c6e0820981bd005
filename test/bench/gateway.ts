/**
 * The gateway against Portkey's open-source gateway (`@portkey-ai/gateway`), both
 * in front of the same ProviderSimulator process, each in a process of its own,
 * loaded by autocannon at a fixed concurrency: requests/s, p50/p99 latency and
 * the gateway process's peak RSS, for JSON answers and for SSE streams. Every
 * request carries a new prompt (a counter), so neither side answers from a cache.
 *
 * Both are configured alike: two upstreams in a fallback chain, two retries on
 * 429/5xx, a response cache. Every request is new, so both miss: ours looks the
 * key up, calls, and stores the answer; Portkey's open-source build has no
 * response cache at all (`cache: {mode: "simple"}` is answered with
 * `x-portkey-cache-status: DISABLED`: its cache lookup is a hook, `getFromCache`,
 * that only Portkey's hosted middleware installs), so it skips that work. That
 * is checked on every run and reported.
 *
 * How each runs, recorded with its command line:
 * - effect-llm: test/bench/gateway-server.ts bundled by esbuild into one ES
 *   module (its npm packages left as imports), run by plain `node`, as the
 *   compiled package runs (`BENCH_GATEWAY_RUNNER=tsx` runs the TypeScript through
 *   tsx instead: same code, ~100 MB more RSS for the loader).
 * - Portkey: its published build (`build/start-server.js --headless`). On Node 20
 *   with the @hono/node-server it installs (1.19), every streamed answer fails
 *   with `TypeError: immutable` (Portkey-AI/gateway#1389: the node server reuses
 *   the upstream fetch response's immutable headers, which Portkey then appends
 *   to). A one-line preload (`--import data:...`, {@link portkeyShim}) gives each
 *   upstream response a mutable copy of its headers, which is what
 *   @hono/node-server ≤ 1.14.2 did and what the fix in #1390 does: one `Headers`
 *   copy per call, for JSON and streams alike.
 *
 * Per row: requests/s, p50/p99 (autocannon), the gateway's peak RSS, its CPU
 * time per request (utime + stime from /proc over the measured run: steadier than
 * requests/s on a shared machine) and the load average when measured.
 *
 *   node --import tsx test/bench/gateway.ts [--quick|--smoke] [--full-stack]
 */
import { readFileSync } from "node:fs"
import * as Os from "node:os"
import { join } from "node:path"
import { type Child, load1, packageDir, quantile, resetPeak, resolveTool, root, round, rssOf, sampleRss, startChild, startSimulator, tsxArgs } from "./lib.js"
import { BENCH_KEY as KEY, MODEL, retryOptions } from "./stacks.js"

export type Mode = "smoke" | "quick" | "full"

interface AutocannonResult {
  readonly requests: { readonly average: number; readonly total: number }
  readonly latency: { readonly p50: number; readonly p99: number; readonly average: number }
  readonly non2xx: number
  readonly errors: number
  readonly timeouts: number
  readonly duration: number
}
/** A running autocannon instance: a promise of its result that also emits per-response events. */
interface AutocannonInstance extends Promise<AutocannonResult> {
  on(event: "response", listener: (client: unknown, status: number, bytes: number, responseTime: number) => void): void
}
type Autocannon = (options: Record<string, unknown>) => AutocannonInstance

export interface Row {
  readonly gateway: "effect-llm" | "effect-llm (full stack)" | "portkey"
  readonly kind: "json" | "stream"
  readonly connections: number
  readonly seconds: number
  readonly rps: number
  readonly p50Ms: number
  readonly p99Ms: number
  /** Seconds from the start until every connection had its first answer (the window opens after it). */
  readonly allConnectedAfterS?: number | undefined
  /** autocannon's p99 over the whole run, warm-up (connection start) included. */
  readonly p99MsWholeRun?: number | undefined
  readonly requests: number
  readonly non2xx: number
  readonly errors: number
  readonly peakRssMb: number
  /** The gateway process's CPU time (user + system, all its threads) per completed request. */
  readonly cpuMsPerRequest: number
  readonly load: number
  /** `os.loadavg()` (1, 5, 15 minutes) when the row was measured. */
  readonly loadavg: string
  /** Why the gateway could not be measured (its probe's answer), when it could not. */
  readonly failure?: string | undefined
}

export interface Result {
  readonly rows: ReadonlyArray<Row>
  readonly commands: Readonly<Record<string, string>>
  readonly portkeyVersion: string
  readonly portkeyCacheStatus: string
  readonly portkeyConfig: unknown
  /** How the comparison is made fair (caches, config, processes), for the report. */
  readonly notes: ReadonlyArray<string>
}

const settings = {
  smoke: { seconds: 1, connections: 16, warmup: 0 },
  quick: { seconds: 2, connections: 64, warmup: 1 },
  full: { seconds: 15, connections: 64, warmup: 3 }
} as const

export const portkeyConfig = (upstream: string) => ({
  strategy: { mode: "fallback" },
  // Portkey's `attempts` are retries after the first call; ours `maxAttempts` count the first.
  retry: { attempts: retryOptions.maxAttempts - 1, on_status_codes: [429, 500, 502, 503, 504] },
  cache: { mode: "simple", max_age: 3600 },
  targets: [
    { provider: "openai", api_key: KEY, custom_host: upstream },
    { provider: "openai", api_key: KEY, custom_host: upstream }
  ]
})

/** Where the bundled gateway server goes (node_modules/.cache: ignored by git, next to the packages it imports). */
export const bundlePath = join(root, "node_modules/.cache/effect-llm-bench/gateway-server.mjs")

let bundled: Promise<string> | undefined

/** Bundles test/bench/gateway-server.ts (and the src it imports) into {@link bundlePath}, once per process. */
export const bundleGatewayServer = (): Promise<string> =>
  bundled ??= (async () => {
    const esbuild = await import(resolveTool("esbuild")) as {
      build: (options: Record<string, unknown>) => Promise<unknown>
    }
    await esbuild.build({
      entryPoints: [join(root, "test/bench/gateway-server.ts")],
      bundle: true,
      platform: "node",
      format: "esm",
      packages: "external",
      target: "node20",
      conditions: ["source"],
      outfile: bundlePath,
      logLevel: "warning"
    })
    return bundlePath
  })()

/** How the bundle is made, for the report. */
export const bundleCommand =
  "esbuild test/bench/gateway-server.ts --bundle --platform=node --format=esm --packages=external --target=node20 --conditions=source"

export const startGateway = async (
  upstream: string,
  stack: "equivalent" | "full",
  nodeArgs: ReadonlyArray<string> = []
): Promise<{ child: Child; url: string }> => {
  const args = ["--upstream", upstream, "--stack", stack]
  // BENCH_GATEWAY_SCRIPT: a prebuilt bundle to run instead (A/B against another build).
  const script = process.env["BENCH_GATEWAY_SCRIPT"]
  const argv = process.env["BENCH_GATEWAY_RUNNER"] === "tsx"
    ? [...nodeArgs, ...tsxArgs("gateway-server.ts", args)]
    : [...nodeArgs, script ?? await bundleGatewayServer(), ...args]
  const { child, match } = await startChild(process.execPath, argv, /GATEWAY (http:\/\/\S+)/)
  return { child, url: match[1]! }
}

/**
 * Preloaded into Portkey's process: each upstream `fetch` response gets a mutable
 * copy of its headers (see the module comment: Portkey-AI/gateway#1389).
 */
export const portkeyShim =
  "const f=globalThis.fetch;globalThis.fetch=async(...a)=>{const r=await f(...a);Object.defineProperty(r,'headers',{value:new Headers(r.headers)});return r}"

export const startPortkey = async (): Promise<{ child: Child; url: string; version: string }> => {
  const dir = packageDir("@portkey-ai/gateway")
  const { version } = await import(join(dir, "package.json"), { with: { type: "json" } }).then((m: { default: { version: string } }) => m.default)
  const port = 20_000 + Math.floor(Math.random() * 20_000)
  const { child } = await startChild(
    process.execPath,
    ["--import", `data:text/javascript,${encodeURIComponent(portkeyShim)}`, join(dir, "build/start-server.js"), `--port=${port}`, "--headless"],
    /Ready for connections/,
    { env: { NODE_ENV: "production" } }
  )
  return { child, url: `http://127.0.0.1:${port}`, version }
}

/** CPU time (user + system) a process has used, in ms, from /proc (Linux). */
export const cpuMsOf = (pid: number): number => {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ")
    return (Number(fields[11]) + Number(fields[12])) * (1000 / 100)
  } catch {
    return Number.NaN
  }
}

const loadavg = () => Os.loadavg().map((n) => n.toFixed(2)).join(", ")

/**
 * Numbers the prompts of every row of a run: a stream row that restarted at 0 asked
 * the JSON row's questions again, and the exact cache (which serves a JSON answer to a
 * stream request) answered ≈ 85% of them, so our stream rows measured cache replays.
 */
let question = 0

const body = (n: number, stream: boolean) =>
  JSON.stringify({
    model: MODEL,
    messages: [{ role: "system", content: "You are a concise assistant." }, { role: "user", content: `What is the capital of France? (question ${n})` }],
    temperature: 0,
    max_tokens: 256,
    ...(stream ? { stream: true } : {})
  })

const post = async (url: string, headers: Record<string, string>, payload: string) => {
  const response = await fetch(`${url}/v1/chat/completions`, { method: "POST", headers: { "content-type": "application/json", ...headers }, body: payload })
  const text = await response.text()
  return { status: response.status, headers: response.headers, text }
}

const load = async (
  autocannon: Autocannon,
  target: { readonly url: string; readonly headers: Record<string, string>; readonly pid: number },
  kind: Row["kind"],
  gateway: Row["gateway"],
  s: { readonly seconds: number; readonly connections: number; readonly warmup: number }
): Promise<Row> => {
  // Checks that the target answers properly before loading it.
  const probe = await post(target.url, target.headers, body(-1, kind === "stream"))
  if (probe.status !== 200 || (kind === "stream" ? !probe.text.includes("[DONE]") : !probe.text.includes("Paris"))) {
    const failure = `probe answered ${probe.status}: ${probe.text.slice(0, 200)}`
    if (gateway !== "portkey") throw new Error(`${gateway} ${kind}: ${failure}`)
    return {
      gateway, kind, connections: s.connections, seconds: 0, rps: Number.NaN, p50Ms: Number.NaN, p99Ms: Number.NaN,
      requests: 0, non2xx: 1, errors: 0, peakRssMb: rssOf(target.pid)?.peakMb ?? Number.NaN, cpuMsPerRequest: Number.NaN,
      load: load1(), loadavg: loadavg(), failure
    }
  }
  // One autocannon run: its first `warmup` seconds open the connections and warm the
  // JIT and the pools, unrecorded; the figures are taken from the responses to requests
  // sent after that. (Two runs, warm-up then measured, made the measured run open 64
  // fresh connections at once: both gateways answered the first request of each
  // 1-4 s late, ~60 requests that alone set the p99. Direct to the simulator there is
  // no such stall. The whole-run p99 is kept in the row as `p99MsWholeRun`.)
  const startedAt = Date.now()
  // The window opens after the warm-up AND once every connection has had an answer.
  // Node (libuv 1.46) accepts one new connection per event-loop turn: a gateway
  // saturated by its first connections admits the rest one turn (~100-250 ms here)
  // apart, so without this the "measured" window of a 64-connection run still held
  // first requests that had waited seconds in the kernel's accept queue (both
  // gateways alike), and fewer than 64 connections were really in use.
  let windowStart = startedAt + s.warmup * 1000
  let allConnectedAt: number | undefined
  const clients = new Set<unknown>()
  const samples: Array<readonly [sentAt: number, latency: number, status: number]> = []
  const instance = autocannon({
    url: `${target.url}/v1/chat/completions`,
    method: "POST",
    connections: s.connections,
    duration: s.warmup + s.seconds,
    headers: { "content-type": "application/json", ...target.headers },
    requests: [{ setupRequest: (req: Record<string, unknown>) => ({ ...req, body: body(question++, kind === "stream") }) }]
  })
  let cpuBefore = cpuMsOf(target.pid)
  let sampler = sampleRss(target.pid)
  const openWindow = () => {
    sampler.stop()
    void resetPeak(target.pid)
    sampler = sampleRss(target.pid)
    cpuBefore = cpuMsOf(target.pid)
  }
  instance.on("response", (client: unknown, status: number, _bytes: number, responseTime: number) => {
    const now = Date.now()
    samples.push([now - responseTime, responseTime, status])
    if (allConnectedAt === undefined) {
      clients.add(client)
      if (clients.size >= s.connections) {
        allConnectedAt = now
        if (now > windowStart) {
          windowStart = now
          openWindow()
        }
      }
    }
  })
  // At the end of the warm-up; opened again when the last connection answers later.
  const windowTimer = setTimeout(openWindow, s.warmup * 1000)
  const result = await instance
  clearTimeout(windowTimer)
  const cpu = cpuMsOf(target.pid) - cpuBefore
  const sampled = sampler.stop()
  const peak = Math.max(sampled, rssOf(target.pid)?.peakMb ?? 0)
  const measured = samples.filter(([sentAt]) => sentAt >= windowStart)
  const latencies = measured.map(([, latency]) => latency)
  const non2xx = measured.filter(([, , status]) => status < 200 || status > 299).length
  const seconds = Math.max(0.001, (Date.now() - windowStart) / 1000)
  return {
    gateway,
    kind,
    connections: s.connections,
    seconds: round(seconds, 1),
    allConnectedAfterS: allConnectedAt === undefined ? undefined : round((allConnectedAt - startedAt) / 1000, 1),
    rps: round(latencies.length / seconds, 1),
    p50Ms: round(quantile(latencies, 0.5), 1),
    p99Ms: round(quantile(latencies, 0.99), 1),
    p99MsWholeRun: result.latency.p99,
    requests: latencies.length,
    non2xx,
    errors: result.errors + result.timeouts,
    peakRssMb: peak,
    cpuMsPerRequest: round(cpu / Math.max(1, latencies.length), 2),
    load: load1(),
    loadavg: loadavg()
  }
}

export const run = async (mode: Mode, options: { readonly fullStack?: boolean } = {}): Promise<Result> => {
  const autocannon = (await import(resolveTool("autocannon")) as { default: Autocannon }).default
  const s = settings[mode]
  const sim = await startSimulator()
  const upstream = `${sim.url}/v1`
  const children: Array<Child> = [sim.child]
  try {
    // Started together: each waits on its own process, and the smoke run is mostly startup.
    const started = await Promise.allSettled([startGateway(upstream, "equivalent"), startPortkey()])
    for (const r of started) if (r.status === "fulfilled") children.push(r.value.child)
    const [ours, portkey] = started.map((r) => {
      if (r.status === "rejected") throw r.reason
      return r.value
    }) as [Awaited<ReturnType<typeof startGateway>>, Awaited<ReturnType<typeof startPortkey>>]
    const pkHeaders = { "x-portkey-config": JSON.stringify(portkeyConfig(upstream)) }
    const ourHeaders = { authorization: "Bearer gw-bench-key" }

    // Portkey's cache: the same request twice, and what it says about it.
    const same = body(-2, false)
    await post(portkey.url, pkHeaders, same)
    const second = await post(portkey.url, pkHeaders, same)
    const portkeyCacheStatus = second.headers.get("x-portkey-cache-status") ?? "(no header)"
    const ourSecond = await post(ours.url, ourHeaders, same).then(() => post(ours.url, ourHeaders, same))
    if (ourSecond.headers.get("x-effect-llm-cache") !== "exact") throw new Error("effect-llm gateway: the repeat was not a cache hit")

    const rows: Array<Row> = []
    const targets = [
      { name: "effect-llm" as const, url: ours.url, headers: ourHeaders, pid: ours.child.pid },
      { name: "portkey" as const, url: portkey.url, headers: pkHeaders, pid: portkey.child.pid }
    ]
    for (const kind of ["json", "stream"] as const) {
      // Alternate who goes first between kinds, against drift in the machine's load.
      const order = kind === "json" ? targets : [...targets].reverse()
      for (const t of order) rows.push(await load(autocannon, t, kind, t.name, s))
    }
    if (options.fullStack === true) {
      const full = await startGateway(upstream, "full")
      children.push(full.child)
      for (const kind of ["json", "stream"] as const) {
        rows.push(await load(autocannon, { url: full.url, headers: ourHeaders, pid: full.child.pid }, kind, "effect-llm (full stack)", s))
      }
    }
    const clean = (c: string) => c.replace(process.execPath, "node")
    return {
      rows,
      commands: {
        simulator: clean(sim.child.command),
        "effect-llm": clean(ours.child.command) + (ours.child.command.includes(".mjs") ? ` (the bundle: ${bundleCommand})` : ""),
        portkey: clean(portkey.child.command) + " (env NODE_ENV=production; config per request in the x-portkey-config header)",
        ...(options.fullStack === true ? { "effect-llm (full stack)": clean(children[children.length - 1]!.command) } : {})
      },
      portkeyVersion: portkey.version,
      portkeyCacheStatus,
      portkeyConfig: { ...portkeyConfig("SIMULATOR/v1") },
      notes: [
        `Same simulator process and upstream URL for both, same autocannon settings (${s.connections} connections, one run of ${s.warmup + s.seconds} s whose first ${s.warmup} s — connection start, JIT, pools — are not recorded, nor anything before every connection has had an answer (Node accepts one new connection per event-loop turn; the row says when that was): figures are from the requests sent after that, over the row's seconds; the whole-run p99 is shown apart), each gateway in a process of its own, measured one after the other (the order flips between JSON and streams).`,
        "Both configured for two attempts more on 429/5xx and a fallback over two upstreams; effect-llm also has a circuit breaker per member (its default).",
        `Cache: every request is new (a counter in the prompt), so both miss. effect-llm hashes each request, looks it up in its memory cache and stores the answer (a repeated request was checked to be a hit: x-effect-llm-cache: exact). Portkey answers a repeat with x-portkey-cache-status: ${portkeyCacheStatus}: its open-source build has no response cache (the lookup is a hook only Portkey's hosted service installs), so it does none of that work.`,
        "Portkey runs with a preload that gives each upstream response mutable headers (Portkey-AI/gateway#1389); without it every Portkey stream fails with 500 on Node 20."
      ]
    }
  } finally {
    for (const c of children.reverse()) await c.stop()
  }
}

export const markdown = (r: Result): string =>
  [
    ...r.notes.map((n) => `- ${n}`),
    "",
    "| gateway | kind | connections | seconds | requests/s | p50 ms | p99 ms | p99 ms incl. warm-up | requests | non-2xx | errors | peak RSS MB | CPU ms/request | all connections answered after s | load avg (1, 5, 15 min) |",
    "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ...r.rows.map((x) =>
      x.failure !== undefined
        ? `| ${x.gateway} | ${x.kind} | ${x.connections} | – | not measurable: ${x.failure.replaceAll("|", "\\|")} | – | – | – | – | – | – | – | – | – | ${x.loadavg} |`
        : `| ${x.gateway} | ${x.kind} | ${x.connections} | ${x.seconds} | ${x.rps} | ${x.p50Ms} | ${x.p99Ms} | ${x.p99MsWholeRun ?? "–"} | ${x.requests} | ${x.non2xx} | ${x.errors} | ${x.peakRssMb} | ${x.cpuMsPerRequest} | ${x.allConnectedAfterS ?? "never"} | ${x.loadavg} |`
    )
  ].join("\n")


if (import.meta.url === `file://${process.argv[1]}`) {
  const mode: Mode = process.argv.includes("--smoke") ? "smoke" : process.argv.includes("--quick") ? "quick" : "full"
  run(mode, { fullStack: process.argv.includes("--full-stack") })
    .then((r) => {
      console.log(markdown(r))
      console.log(JSON.stringify({ commands: r.commands, portkeyVersion: r.portkeyVersion, portkeyCacheStatus: r.portkeyCacheStatus }, null, 2))
    })
    .catch((e) => {
      console.error(e)
      process.exit(1)
    })
}
