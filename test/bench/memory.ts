/**
 * Memory of the gateway (full stack) with N concurrent SSE streams in flight
 * (default 1,000): the gateway process's RSS when idle (after a warm-up), when
 * every stream has received its first chunk and is still open, and the peak;
 * and its live heap (after a forced collection: the gateway runs with
 * `--expose-gc` and answers SIGHUP with `HEAP <bytes>`) idle and with the
 * streams open, which RSS hides behind garbage not yet collected.
 * The simulator streams slowly (a word a second, 240 words), so the streams
 * stay open while RSS is read; then the clients disconnect.
 *
 *   node --import tsx test/bench/memory.ts [--quick|--smoke] [--streams N]
 */
import * as Http from "node:http"
import { load1, resetPeak, round, rssOf, sampleRss, sleep, startSimulator } from "./lib.js"
import type { Child } from "./lib.js"
import { startGateway } from "./gateway.js"
import { MODEL } from "./stacks.js"

export type Mode = "smoke" | "quick" | "full"

export interface Result {
  readonly streams: number
  readonly inFlight: number
  readonly idleRssMb: number
  readonly rssMbAtStreams: number
  readonly peakRssMb: number
  readonly perStreamKb: number
  /** Live heap after a forced GC, idle and with the streams open, in MB; per stream in KB. */
  readonly idleHeapMb: number
  readonly heapMbAtStreams: number
  readonly heapPerStreamKb: number
  readonly secondsToAllInFlight: number
  readonly load: number
  readonly commands: Readonly<Record<string, string>>
}

const defaults = { smoke: 30, quick: 100, full: 1_000 } as const

/** Streams that ended in an HTTP error status or a socket error, by kind (for the report). */
export const problems = new Map<string, number>()
const problem = (kind: string) => problems.set(kind, (problems.get(kind) ?? 0) + 1)

const openStream = (url: URL, n: number, onFirst: () => void, agent: Http.Agent): Http.ClientRequest => {
  const body = JSON.stringify({
    model: MODEL,
    stream: true,
    messages: [{ role: "user", content: `Tell me a long story (stream ${n})` }],
    temperature: 0,
    max_tokens: 1024
  })
  const req = Http.request({
    agent,
    host: url.hostname,
    port: url.port,
    path: "/v1/chat/completions",
    method: "POST",
    headers: { "content-type": "application/json", authorization: "Bearer gw-bench-key", "content-length": Buffer.byteLength(body) }
  }, (res) => {
    let first = true
    if (res.statusCode !== 200) problem(`status ${res.statusCode}`)
    res.on("data", () => {
      if (first) {
        first = false
        if (res.statusCode === 200) onFirst()
      }
    })
    res.on("error", () => undefined)
  })
  req.on("error", (e: NodeJS.ErrnoException) => {
    if (!req.destroyed || e.code !== "ECONNRESET") problem(e.code ?? e.message)
  })
  req.end(body)
  return req
}

/** Asks the gateway for its live heap (see the module comment), in MB. */
const liveHeapMb = (child: Child): Promise<number> =>
  new Promise((resolve) => {
    const out = child.process.stdout!
    let text = ""
    const onData = (chunk: Buffer) => {
      text += chunk.toString("utf8")
      const match = /HEAP (\S+)/.exec(text)
      if (match !== null) {
        out.off("data", onData)
        clearTimeout(timer)
        resolve(round(Number(match[1]) / 2 ** 20, 1))
      }
    }
    const timer = setTimeout(() => {
      out.off("data", onData)
      resolve(Number.NaN)
    }, 30_000)
    out.on("data", onData)
    child.process.kill("SIGHUP")
  })

export const run = async (mode: Mode, streams: number = defaults[mode]): Promise<Result> => {
  const sim = await startSimulator(["--first-token-ms", "0", "--token-ms", "1000", "--chunks", "240"])
  const gateway = await startGateway(`${sim.url}/v1`, "full", ["--expose-gc"])
  const agent = new Http.Agent({ keepAlive: false, maxSockets: Number.POSITIVE_INFINITY })
  const requests: Array<Http.ClientRequest> = []
  try {
    const url = new URL(gateway.url)
    // Warm-up: a few streams to the end of their first chunk, then idle.
    let warm = 0
    const warmups = Array.from({ length: mode === "full" ? 20 : 3 }, (_, i) => openStream(url, -i - 1, () => warm++, agent))
    for (let t = 0; warm < warmups.length && t < 200; t++) await sleep(50)
    warmups.forEach((r) => r.destroy())
    await sleep(mode === "full" ? 1000 : 200)
    const idleHeap = await liveHeapMb(gateway.child)
    const idle = rssOf(gateway.child.pid)!.rssMb
    await resetPeak(gateway.child.pid)
    const sampler = sampleRss(gateway.child.pid, 25)
    let inFlight = 0
    const started = performance.now()
    for (let i = 0; i < streams; i++) requests.push(openStream(url, i, () => inFlight++, agent))
    for (let t = 0; inFlight < streams && t < 4000; t++) await sleep(25)
    const seconds = (performance.now() - started) / 1000
    await sleep(500)
    const at = rssOf(gateway.child.pid)!
    const peak = Math.max(sampler.stop(), at.peakMb)
    const heapAt = await liveHeapMb(gateway.child)
    if (inFlight < streams) {
      throw new Error(`only ${inFlight} of ${streams} streams got their first chunk in ${round(seconds, 1)} s; problems: ${JSON.stringify([...problems])}`)
    }
    const clean = (c: string) => c.replace(process.execPath, "node")
    return {
      streams,
      inFlight,
      idleRssMb: idle,
      rssMbAtStreams: at.rssMb,
      peakRssMb: peak,
      perStreamKb: round(((at.rssMb - idle) * 1024) / streams, 1),
      idleHeapMb: idleHeap,
      heapMbAtStreams: heapAt,
      heapPerStreamKb: round(((heapAt - idleHeap) * 1024) / streams, 1),
      secondsToAllInFlight: round(seconds, 2),
      load: load1(),
      commands: { simulator: clean(sim.child.command), gateway: clean(gateway.child.command) }
    }
  } finally {
    requests.forEach((r) => r.destroy())
    agent.destroy()
    await gateway.child.stop()
    await sim.child.stop()
  }
}

export const markdown = (r: Result): string =>
  [
    "| streams in flight | gateway RSS idle MB | RSS with the streams open MB | peak RSS MB | RSS per stream KB | live heap idle MB | live heap with the streams open MB | live heap per stream KB | seconds until all in flight | load |",
    "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    `| ${r.inFlight} | ${r.idleRssMb} | ${r.rssMbAtStreams} | ${r.peakRssMb} | ${r.perStreamKb} | ${r.idleHeapMb} | ${
      Number.isNaN(r.heapMbAtStreams) ? "no answer in 30 s (event loop saturated relaying the streams)" : r.heapMbAtStreams
    } | ${Number.isNaN(r.heapPerStreamKb) ? "–" : r.heapPerStreamKb} | ${r.secondsToAllInFlight} | ${r.load} |`
  ].join("\n")

if (import.meta.url === `file://${process.argv[1]}`) {
  const mode: Mode = process.argv.includes("--smoke") ? "smoke" : process.argv.includes("--quick") ? "quick" : "full"
  const i = process.argv.indexOf("--streams")
  run(mode, i >= 0 ? Number(process.argv[i + 1]) : undefined)
    .then((r) => console.log(markdown(r)))
    .catch((e) => {
      console.error(e)
      process.exit(1)
    })
}
