/**
 * Drives the in-process full stack for profiling:
 *
 *   node --cpu-prof --cpu-prof-dir=/tmp/prof --import tsx test/bench/profile.ts [calls] [--no-guards | --layers retry,budget]
 *   node --import tsx test/bench/profile.ts --summarize /tmp/prof/FILE.cpuprofile
 *
 * Under tsx every library function shows as line 1 of its file; for readable
 * names and lines, profile an esbuild bundle of this script instead (named
 * `*.prof.mjs` so the summary counts it as library code; run it through a path
 * other than its own, e.g. a symlink, or the imported benchmarks run their main):
 *
 *   node_modules/.bin/esbuild test/bench/profile.ts --bundle --platform=node --format=esm \
 *     --packages=external --conditions=source --outfile=node_modules/.cache/stack.prof.mjs
 *   ln -sf $PWD/node_modules/.cache/stack.prof.mjs /tmp/stack.prof.mjs
 *   node --cpu-prof --cpu-prof-dir=/tmp/prof /tmp/stack.prof.mjs 10000 --layers retry,budget
 *
 * `--summarize` prints the functions with the most self time and the source files
 * with the most inclusive-by-self time (what was profiled before and after each fix).
 */
import { readFileSync } from "node:fs"
import { Effect, Layer, ManagedRuntime } from "effect"
import type { LayerName } from "./stacks.js"

interface Node {
  readonly id: number
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number }
  readonly children?: ReadonlyArray<number>
}
interface Profile {
  readonly nodes: ReadonlyArray<Node>
  readonly samples: ReadonlyArray<number>
  readonly timeDeltas: ReadonlyArray<number>
}

const summarize = (file: string) => {
  const profile = JSON.parse(readFileSync(file, "utf8")) as Profile
  const byId = new Map(profile.nodes.map((n) => [n.id, n]))
  const self = new Map<number, number>()
  profile.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)))
  const total = [...self.values()].reduce((a, b) => a + b, 0)
  const fns = new Map<string, number>()
  const files = new Map<string, number>()
  for (const [id, t] of self) {
    const f = byId.get(id)!.callFrame
    const short = f.url.replace(/^.*\/node_modules\//, "").replace(/^.*\/work\/main\//, "")
    const key = `${f.functionName || "(anonymous)"} ${short}:${f.lineNumber + 1}`
    fns.set(key, (fns.get(key) ?? 0) + t)
    const fileKey = short.replace(/\/[^/]*$/, (m) => m).split("?")[0] || "(native)"
    files.set(fileKey, (files.get(fileKey) ?? 0) + t)
  }
  const parent = new Map<number, number>()
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id)
  const inclusive = new Map<string, number>()
  for (const [id, t] of self) {
    const seen = new Set<string>()
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const f = byId.get(cur)!.callFrame
      // Library code: the sources under tsx, or an esbuild bundle of this script.
      const ours = f.url.includes("/work/main/src/") || /\.(?:prof|bundle)[^/]*\.mjs$/.test(f.url)
      if (!ours && !/validateSync|decodeUnknownSync|lazilyMergeDefaults|makeBy|runPromise|withSpan|timeout|fork/.test(f.functionName)) continue
      const key = `${f.functionName || "(anonymous)"} ${f.url.replace(/^.*\/work\/main\//, "").replace(/^.*\/node_modules\//, "")}:${f.lineNumber + 1}`
      if (!seen.has(key)) {
        seen.add(key)
        inclusive.set(key, (inclusive.get(key) ?? 0) + t)
      }
    }
  }
  const top = (m: Map<string, number>, n: number) =>
    [...m].sort((a, b) => b[1] - a[1]).slice(0, n).map(([k, t]) => `${(100 * t / total).toFixed(1).padStart(5)}%  ${k}`).join("\n")
  console.log(`self time by function (top 30 of ${total / 1000} ms):\n${top(fns, 30)}\n\nself time by file (top 25):\n${top(files, 25)}\n\ninclusive time, src functions and Schema constructors (top 45):\n${top(inclusive, 45)}`)
}

const drive = async (calls: number, layers: ReadonlyArray<LayerName>) => {
  // Imported here, so `--summarize` does not load the library.
  const { nextRequest } = await import("./inprocess.js")
  const { buildInProcess, inProcessDeps, silentLogger } = await import("./stacks.js")
  const runtime = ManagedRuntime.make(Layer.mergeAll(silentLogger, inProcessDeps))
  const service = await runtime.runPromise(Effect.scoped(Effect.gen(function*() {
    const s = yield* buildInProcess(layers)
    for (let i = 0; i < calls; i++) yield* s.generate(nextRequest())
    return s
  })))
  void service
  await runtime.dispose()
}

const i = process.argv.indexOf("--summarize")
if (i >= 0) summarize(process.argv[i + 1]!)
else {
  const calls = Number(process.argv.find((a) => /^\d+$/.test(a)) ?? "3000")
  const t = performance.now()
  const l = process.argv.indexOf("--layers")
  const layers = l >= 0
    ? process.argv[l + 1]!.split(",").filter((n) => n.length > 0) as ReadonlyArray<LayerName>
    : await import("./stacks.js").then((m) => process.argv.includes("--no-guards") ? m.withoutGuards : m.fullStack)
  await drive(calls, layers)
  console.log(`${calls} calls, ${((performance.now() - t) * 1000 / calls).toFixed(1)} µs/call`)
}
