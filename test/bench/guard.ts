/**
 * Guard benchmark: detection rate, false-positive rate and scan latency of the
 * InjectionScanner on a labelled JSONL file (one object a line with `text` and
 * `label`: "injection" | "benign"; an optional `category`).
 *
 *   npx tsx test/bench/guard.ts [--data FILE] [--out FILE] [--threshold N] [--misses] [--no-write]
 *
 * Default data: ../shared/data/injection/dev.jsonl. Writes docs/benchmarks/guard.json
 * (`{"cases","detectionRate","falsePositiveRate","p50Micros","p99Micros"}` plus
 * breakdowns) unless --no-write. Latency is measured per scan on 1 KB inputs built
 * from the file's own texts (each text repeated to 1024 characters).
 *
 * Also reported: scores without `bipia_text:task_irrelevant:*` (plain requests
 * that are injections only inside third-party content), and on a fixed hold-out
 * fifth of the file (line index % 5 == 4) that rule development did not look at.
 */
import { readFileSync, writeFileSync, mkdirSync } from "node:fs"
import { dirname, resolve } from "node:path"
import * as InjectionScanner from "../../src/guard/InjectionScanner.js"

interface Case {
  readonly index: number
  readonly text: string
  readonly label: "injection" | "benign"
  readonly category: string
}

const args = process.argv.slice(2)
const arg = (name: string): string | undefined => {
  const i = args.indexOf(name)
  return i >= 0 ? args[i + 1] : undefined
}
const flag = (name: string): boolean => args.includes(name)

const dataPath = resolve(arg("--data") ?? "../shared/data/injection/dev.jsonl")
const outPath = resolve(arg("--out") ?? "docs/benchmarks/guard.json")
const threshold = arg("--threshold") === undefined ? undefined : Number(arg("--threshold"))

const cases: Array<Case> = readFileSync(dataPath, "utf8")
  .split("\n")
  .filter((line) => line.trim().length > 0)
  .map((line, index) => {
    const row = JSON.parse(line) as { text?: unknown; label?: unknown; category?: unknown }
    if (typeof row.text !== "string" || (row.label !== "injection" && row.label !== "benign")) {
      throw new Error(`${dataPath}:${index + 1}: expected {"text": string, "label": "injection"|"benign"}`)
    }
    return { index, text: row.text, label: row.label, category: typeof row.category === "string" ? row.category : "" }
  })

const scanner = InjectionScanner.compile(threshold === undefined ? {} : { threshold })

interface Rates {
  readonly cases: number
  readonly injections: number
  readonly benign: number
  readonly detectionRate: number
  readonly falsePositiveRate: number
}

const results = cases.map((c) => ({ c, result: scanner.scan(c.text) }))

const rates = (subset: ReadonlyArray<(typeof results)[number]>): Rates => {
  const inj = subset.filter((r) => r.c.label === "injection")
  const ben = subset.filter((r) => r.c.label === "benign")
  const r4 = (n: number) => Math.round(n * 10000) / 10000
  return {
    cases: subset.length,
    injections: inj.length,
    benign: ben.length,
    detectionRate: r4(inj.length === 0 ? 0 : inj.filter((r) => r.result.flagged).length / inj.length),
    falsePositiveRate: r4(ben.length === 0 ? 0 : ben.filter((r) => r.result.flagged).length / ben.length)
  }
}

const isTaskIrrelevant = (c: Case) => c.category.startsWith("bipia_text:task_irrelevant")
const all = rates(results)
const withoutTaskIrrelevant = rates(results.filter((r) => !isTaskIrrelevant(r.c)))
const development = rates(results.filter((r) => r.c.index % 5 !== 4 && !isTaskIrrelevant(r.c)))
const holdout = rates(results.filter((r) => r.c.index % 5 === 4 && !isTaskIrrelevant(r.c)))

// --- latency on 1 KB inputs ---------------------------------------------------------
// 400 texts spread evenly over the file (both labels), each repeated to 1 KB
const stride = Math.max(1, Math.floor(cases.length / 400))
const inputs = cases.filter((_, i) => i % stride === 0).slice(0, 400).map((c) => {
  let text = c.text
  while (text.length < 1024) text += `\n${c.text}`
  return text.slice(0, 1024)
})
for (let i = 0; i < 3; i++) for (const input of inputs) scanner.scan(input)
const samples: Array<number> = []
// Each input's fastest of the ten rounds: on a shared machine (load from other
// processes, GC pauses) the per-scan samples measure the machine as much as the
// scanner; the per-input best is the steadier figure. Both are reported.
const best = inputs.map(() => Number.POSITIVE_INFINITY)
for (let round = 0; round < 10; round++) {
  inputs.forEach((input, i) => {
    const start = process.hrtime.bigint()
    scanner.scan(input)
    const micros = Number(process.hrtime.bigint() - start) / 1000
    samples.push(micros)
    if (micros < best[i]!) best[i] = micros
  })
}
samples.sort((a, b) => a - b)
best.sort((a, b) => a - b)
const bestP50Micros = Math.round(best[Math.floor(best.length / 2)]! * 10) / 10
const pct = (p: number) => Math.round(samples[Math.min(samples.length - 1, Math.floor(p * samples.length))]! * 10) / 10
const p50Micros = pct(0.5)
const p99Micros = pct(0.99)

// --- report -------------------------------------------------------------------------
const pc = (n: number) => `${(n * 100).toFixed(1)}%`
const line = (name: string, r: Rates) =>
  console.log(
    `${name.padEnd(34)} cases ${String(r.cases).padStart(5)}  detection ${pc(r.detectionRate).padStart(6)} (${r.injections})  false positives ${pc(r.falsePositiveRate).padStart(5)} (${r.benign})`
  )
console.log(`InjectionScanner on ${dataPath} (threshold ${scanner.threshold}, ${scanner.rules.length} rules)`)
line("all", all)
if (cases.some((c) => c.category !== "")) {
  line("without bipia task_irrelevant", withoutTaskIrrelevant)
  line("  development split (4/5)", development)
  line("  hold-out split (1/5)", holdout)
}
console.log(`scan latency, 1 KB input: p50 ${p50Micros} µs  p99 ${p99Micros} µs  (${samples.length} scans)  best-of-10 per input p50 ${bestP50Micros} µs`)

const byCategory = new Map<string, { n: number; hit: number }>()
for (const { c, result } of results) {
  const key = `${c.label}:${c.category.split(":").slice(0, 2).join(":")}`
  const entry = byCategory.get(key) ?? { n: 0, hit: 0 }
  entry.n++
  if (result.flagged) entry.hit++
  byCategory.set(key, entry)
}
if (flag("--categories") || flag("--misses")) {
  for (const [key, { n, hit }] of [...byCategory].sort()) console.log(`  ${key.padEnd(48)} flagged ${hit}/${n}`)
}
if (flag("--misses")) {
  const show = flag("--holdout") ? (c: Case) => c.index % 5 === 4 : (c: Case) => c.index % 5 !== 4
  for (const { c, result } of results) {
    if (!show(c) || isTaskIrrelevant(c)) continue
    if ((c.label === "injection") !== result.flagged) {
      console.log(`\n[${c.label === "injection" ? "MISS" : "FP"} #${c.index} ${c.category} score ${result.score}] ${result.findings.map((f) => `${f.rule}=${f.weight}`).join(" ")}`)
      console.log(`  ${c.text.slice(0, 300).replace(/\n/g, " / ")}`)
    }
  }
}

if (!flag("--no-write")) {
  const report = {
    cases: all.cases,
    detectionRate: all.detectionRate,
    falsePositiveRate: all.falsePositiveRate,
    p50Micros,
    p99Micros,
    bestOf10P50Micros: bestP50Micros,
    data: dataPath.replace(resolve(".."), ".."),
    threshold: scanner.threshold,
    withoutTaskIrrelevant,
    holdout
  }
  mkdirSync(dirname(outPath), { recursive: true })
  writeFileSync(outPath, `${JSON.stringify(report, null, 2)}\n`)
  console.log(`wrote ${outPath}`)
}
